"""Property tests: random decision sequences keep every Portfolio invariant after every step."""

from __future__ import annotations

import json
import math

from hypothesis import event, given, settings
from hypothesis import strategies as st

from backend.schema.trading import OrderDecision
from backend.trading.portfolio import Portfolio

TICKERS = ["AAPL", "MSFT", "TSLA"]

steps = st.lists(
    st.tuples(
        st.sampled_from(["long", "short", "hold"]),
        st.sampled_from(TICKERS),
        st.integers(min_value=0, max_value=400),
        st.floats(min_value=0.5, max_value=2000.0, allow_nan=False, allow_infinity=False),
    ),
    min_size=1,
    max_size=40,
)


def close(a: float, b: float, scale: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9 * max(1.0, scale))


def check_invariants(pf: Portfolio, prices: dict[str, float]) -> None:
    scale = pf.cash + pf.gross_exposure(prices) + pf.initial_cash
    assert pf.cash >= 0
    assert pf.margin_used >= 0
    assert pf.margin_used <= pf.cash + 1e-9 * max(1.0, pf.cash)
    longs = sum(p.long * prices[t] for t, p in pf.positions.items())
    shorts = sum(p.short * prices[t] for t, p in pf.positions.items())
    assert close(pf.equity(prices), pf.cash + longs - shorts, scale)
    # Average-cost bookkeeping: equity = initial cash + realized + unrealized P&L.
    unrealized = sum(p.long * (prices[t] - p.long_avg) + p.short * (p.short_avg - prices[t])
                     for t, p in pf.positions.items())
    assert close(pf.equity(prices), pf.initial_cash + pf.realized_pnl + unrealized, scale)
    for t, p in pf.positions.items():
        assert p.ticker == t and not p.is_flat
        assert p.long == 0 or p.short == 0
        assert p.long >= 0 and p.short >= 0
        assert (p.short_margin == 0.0) if p.short == 0 else p.short_margin >= 0
    assert 0 <= pf.winning_fills <= pf.closing_fills
    assert 0.0 <= pf.win_rate <= 1.0


@settings(max_examples=300, deadline=None)
@given(
    cash=st.floats(min_value=0.0, max_value=1e6, allow_nan=False, allow_infinity=False),
    margin=st.sampled_from([0.0, 0.25, 0.5, 1.0]),
    seq=steps,
)
def test_random_sequences_keep_invariants(cash: float, margin: float, seq) -> None:
    pf = Portfolio(cash, margin_requirement=margin)
    prices: dict[str, float] = {}
    for i, (action, ticker, qty, price) in enumerate(seq):
        prices[ticker] = price
        for t in TICKERS:
            prices.setdefault(t, 100.0)
        before = pf.to_dict()
        equity_before = pf.equity(prices)
        net_before = pf.net_quantity(ticker)
        free_before = pf.available_cash
        dec = OrderDecision(ticker=ticker, action=action, quantity=qty, confidence=50, reasoning="p")

        res = pf.execute(dec, price, "2024-05-02", f"T{i}", 1_714_600_000_000 + i)

        if action == "hold" or qty == 0:
            assert res.trade is None and res.rejected is None
            assert pf.to_dict() == before
        elif res.rejected is not None:
            event(f"rejected {action}")
            assert res.trade is None and res.rejected
            assert pf.to_dict() == before
            # Only unaffordable orders are refused.
            if action == "long":
                assert qty * price > free_before
            else:
                assert margin > 0
        else:
            event(f"executed {action}")
            tr = res.trade
            assert tr.quantity == tr.qty == qty and tr.price == price and tr.id == f"T{i}"
            assert tr.side == ("LONG" if action == "long" else "SHORT") and tr.action == action
            assert tr.notional == qty * price
            assert pf.net_quantity(ticker) == net_before + (qty if action == "long" else -qty)
            # Trading at the mark price moves value between cash and shares only.
            assert close(pf.equity(prices), equity_before, pf.cash + pf.gross_exposure(prices) + cash)
        check_invariants(pf, prices)

        back = Portfolio.from_dict(json.loads(json.dumps(pf.to_dict())))
        assert back == pf and back.margin_used == pf.margin_used
