"""Benchmark portfolios: buy-and-hold values, cap weights, momentum selection and timing, resume."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backend.trading.baselines import (
    Baselines,
    EqualWeightBuyHold,
    MonthlyMomentum,
    ValueWeightBuyHold,
    cap_weights,
    trailing_return,
)


def test_equal_weight_worked_example() -> None:
    ew = EqualWeightBuyHold(9000.0)
    v = ew.on_day("2024-01-02", {"A": 10.0, "B": 20.0, "C": 50.0}, {"A": 10.0, "B": 20.0, "C": 50.0}, {}, None)
    assert v == pytest.approx(9000.0)
    assert ew.book.shares == pytest.approx({"A": 300.0, "B": 150.0, "C": 60.0})
    # Later opens do not trade again; value = 9000 * mean(1.1, 0.9, 1.1).
    v = ew.on_day("2024-01-03", {"A": 99.0, "B": 1.0, "C": 7.0}, {"A": 11.0, "B": 18.0, "C": 55.0}, {}, None)
    assert v == pytest.approx(9300.0)
    assert ew.book.shares == pytest.approx({"A": 300.0, "B": 150.0, "C": 60.0})


price = st.floats(min_value=0.5, max_value=5000.0, allow_nan=False, allow_infinity=False)


@settings(max_examples=100, deadline=None)
@given(cash=st.floats(min_value=1.0, max_value=1e7), opens=st.lists(price, min_size=1, max_size=6),
       data=st.data())
def test_equal_weight_value_is_mean_price_relative_times_cash(cash, opens, data) -> None:
    tickers = [f"T{i}" for i in range(len(opens))]
    bl = Baselines(cash)
    day_opens = dict(zip(tickers, opens))
    days = data.draw(st.integers(min_value=1, max_value=5))
    for d in range(days):
        closes = {t: data.draw(price) for t in tickers}
        out = bl.on_day(f"2024-02-{d + 1:02d}", day_opens if d == 0 else {t: 1.0 for t in tickers}, closes)
        expected = cash * sum(closes[t] / day_opens[t] for t in tickers) / len(tickers)
        assert out["baseline"] == pytest.approx(expected, rel=1e-9)
        # Without market caps the value-weighted benchmark is equal weight too.
        assert out["baseline_vw"] == pytest.approx(expected, rel=1e-9)


def test_cap_weights_with_missing_caps_fall_back_to_equal_share() -> None:
    assert cap_weights(["A", "B"], {"A": 1e9, "B": 3e9}) == pytest.approx({"A": 0.25, "B": 0.75})
    # C has no cap: it gets 1/3; A and B share 2/3 by cap.
    assert cap_weights(["A", "B", "C"], {"A": 1.0, "B": 3.0}) == pytest.approx({"A": 1 / 6, "B": 1 / 2, "C": 1 / 3})
    assert cap_weights(["A", "B"], {"A": 0.0, "B": float("nan")}) == pytest.approx({"A": 0.5, "B": 0.5})
    assert cap_weights(["A", "B"], None) == pytest.approx({"A": 0.5, "B": 0.5})


def test_value_weight_buys_by_cap_at_the_open() -> None:
    vw = ValueWeightBuyHold(1000.0)
    vw.on_day("2024-01-02", {"A": 10.0, "B": 50.0}, {"A": 10.0, "B": 50.0}, {}, {"A": 1.0, "B": 3.0})
    assert vw.book.shares == pytest.approx({"A": 25.0, "B": 15.0})
    v = vw.on_day("2024-01-03", {"A": 10.0, "B": 50.0}, {"A": 20.0, "B": 40.0}, {}, {"A": 100.0, "B": 1.0})
    assert v == pytest.approx(25 * 20 + 15 * 40)


def test_trailing_return_uses_lookback_window() -> None:
    closes = [50.0, 100.0, 110.0, 121.0]
    assert trailing_return(closes, 2) == pytest.approx(0.21)   # 121 / 100 - 1
    assert trailing_return(closes, 60) == pytest.approx(1.42)  # shorter history: all of it
    assert trailing_return([100.0], 60) is None
    assert trailing_return([], 60) is None


def hist(**rets: float) -> dict[str, list[float]]:
    """Histories whose trailing return is the given fraction."""
    return {t: [100.0, 100.0 * (1 + r)] for t, r in rets.items()}


def test_momentum_holds_top_half_and_rebalances_only_at_month_starts() -> None:
    mm = MonthlyMomentum(1000.0, lookback=60)
    px = {"A": 10.0, "B": 20.0, "C": 40.0, "D": 50.0}

    mm.on_day("2024-01-30", px, px, hist(A=0.05, B=0.20, C=-0.10, D=0.10), None)
    assert mm.selected == ["B", "D"]
    assert mm.book.shares == pytest.approx({"B": 25.0, "D": 10.0})  # 500 each at the open

    # Same month, new leaders: no trade.
    v = mm.on_day("2024-01-31", px, {"A": 10.0, "B": 24.0, "C": 40.0, "D": 45.0},
                  hist(A=0.90, B=-0.5, C=0.80, D=-0.4), None)
    assert mm.selected == ["B", "D"] and mm.book.shares == pytest.approx({"B": 25.0, "D": 10.0})
    assert v == pytest.approx(25 * 24 + 10 * 45)  # 1050

    # First trading day of February: rebalance at the open into the new top half.
    opens = {"A": 12.0, "B": 24.0, "C": 35.0, "D": 45.0}
    v = mm.on_day("2024-02-01", opens, opens, hist(A=0.90, B=-0.5, C=0.80, D=-0.4), None)
    assert mm.selected == ["A", "C"]
    assert mm.book.shares == pytest.approx({"A": 525 / 12.0, "C": 525 / 35.0})
    assert v == pytest.approx(1050.0)  # rebalancing is self-financing
    assert mm.rebalance_dates == ["2024-01-30", "2024-02-01"]

    mm.on_day("2024-02-02", opens, opens, hist(A=-0.9, B=0.5, C=-0.8, D=0.4), None)
    assert mm.selected == ["A", "C"]
    assert mm.rebalance_dates == ["2024-01-30", "2024-02-01"]


@pytest.mark.parametrize("n,k", [(1, 1), (2, 1), (3, 1), (5, 2), (7, 3)])
def test_momentum_holds_at_least_one_and_half_rounded_down(n: int, k: int) -> None:
    tickers = [f"T{i}" for i in range(n)]
    mm = MonthlyMomentum(100.0)
    assert mm.select(tickers, {t: [100.0, 100.0 + i] for i, t in enumerate(tickers)}) == tickers[::-1][:k]


def test_momentum_ties_and_missing_history_are_deterministic() -> None:
    mm = MonthlyMomentum(100.0)
    # Equal returns break by name; tickers without history rank last.
    assert mm.select(["A", "B", "C", "D"], {"B": [1.0, 2.0], "C": [1.0, 2.0]}) == ["B", "C"]
    assert mm.select(["A", "B", "C", "D"], {"D": [1.0, 1.5]}) == ["D", "A"]
    # Nobody has history: hold everything equally.
    assert mm.select(["A", "B", "C"], {}) == ["A", "B", "C"]


def test_missing_close_keeps_last_known_price() -> None:
    ew = EqualWeightBuyHold(200.0)
    ew.on_day("2024-01-02", {"A": 10.0, "B": 10.0}, {"A": 11.0, "B": 12.0}, {}, None)
    v = ew.on_day("2024-01-03", {}, {"A": 13.0, "B": float("nan")}, {}, None)
    assert v == pytest.approx(10 * 13 + 10 * 12)


def synthetic_days(n: int) -> list[tuple[str, dict, dict]]:
    """Deterministic price paths across a month boundary."""
    out, px = [], {"AAPL": 100.0, "MSFT": 200.0, "NVDA": 50.0, "TSLA": 150.0}
    for i in range(n):
        date = f"2024-{1 + i // 10:02d}-{1 + i % 10:02d}"
        opens = {t: p * (1 + 0.003 * ((i + j) % 5 - 2)) for j, (t, p) in enumerate(px.items())}
        closes = {t: p * (1 + 0.004 * ((i * (j + 1)) % 7 - 3)) for j, (t, p) in enumerate(opens.items())}
        px = closes
        out.append((date, opens, closes))
    return out


def run_days(bl: Baselines, days, history: dict[str, list[float]]) -> list[dict[str, float]]:
    outs = []
    for date, opens, closes in days:
        outs.append(bl.on_day(date, opens, closes, {t: list(h) for t, h in history.items()},
                              {"AAPL": 3e12, "MSFT": 3e12, "NVDA": 2e12}))
        for t, c in closes.items():
            history.setdefault(t, []).append(c)
    return outs


def test_resume_from_saved_state_matches_an_uninterrupted_run() -> None:
    days = synthetic_days(25)
    straight = Baselines(100_000.0, lookback=5)
    expected = run_days(straight, days, {})

    first = Baselines(100_000.0, lookback=5)
    history: dict[str, list[float]] = {}
    got = run_days(first, days[:13], history)
    resumed = Baselines.from_dict(json.loads(json.dumps(first.to_dict())))
    assert resumed == first
    got += run_days(resumed, days[13:], history)

    assert got == expected  # exact: deterministic and the state round trip is lossless
    assert resumed == straight
    assert len(straight.curves["momentum"]) == 25 == len(straight.dates)
    assert straight.strategies["momentum"].rebalance_dates == ["2024-01-01", "2024-02-01", "2024-03-01"]
    assert set(expected[-1]) == {"baseline", "baseline_vw", "momentum"}


def test_redoing_the_last_day_replaces_its_point_and_going_back_fails() -> None:
    bl = Baselines(1000.0)
    bl.on_day("2024-01-02", {"A": 10.0}, {"A": 11.0})
    bl.on_day("2024-01-03", {"A": 11.0}, {"A": 12.0})
    again = bl.on_day("2024-01-03", {"A": 11.0}, {"A": 12.0})
    assert bl.dates == ["2024-01-02", "2024-01-03"]
    assert bl.curves["baseline"] == pytest.approx([1100.0, 1200.0])
    assert again["baseline"] == pytest.approx(1200.0)
    with pytest.raises(ValueError, match="must not go back"):
        bl.on_day("2024-01-01", {"A": 11.0}, {"A": 12.0})
    with pytest.raises(ValueError, match="YYYY-MM-DD"):
        bl.on_day("Jan 5", {"A": 11.0}, {"A": 12.0})


def test_no_prices_on_first_day_keeps_cash_until_there_are() -> None:
    bl = Baselines(500.0)
    assert bl.on_day("2024-01-02", {}, {}) == {"baseline": 500.0, "baseline_vw": 500.0, "momentum": 500.0}
    out = bl.on_day("2024-01-03", {"A": 5.0}, {"A": 6.0})
    assert out == pytest.approx({"baseline": 600.0, "baseline_vw": 600.0, "momentum": 600.0})


def test_bad_arguments_are_named() -> None:
    with pytest.raises(ValueError, match="lookback"):
        MonthlyMomentum(100.0, lookback=0)
    with pytest.raises(ValueError, match="initial cash"):
        Baselines(float("nan"))
    with pytest.raises(ValueError, match="missing field"):
        Baselines.from_dict({"initial_cash": 1.0})
