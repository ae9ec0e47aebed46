"""Worked examples of Portfolio.execute with hand-computed numbers."""

from __future__ import annotations

import json

import pytest

from backend.schema.trading import OrderDecision
from backend.trading.portfolio import Portfolio


def order(action: str, qty: int, ticker: str = "AAPL") -> OrderDecision:
    return OrderDecision(ticker=ticker, action=action, quantity=qty, confidence=60, reasoning="test")


def run(pf: Portfolio, action: str, qty: int, price: float, ticker: str = "AAPL", tid: str = "t"):
    return pf.execute(order(action, qty, ticker), price, "2024-03-01", tid, 1_709_301_000_000)


def test_buy_then_sell_part_then_flip_short_then_cover() -> None:
    pf = Portfolio(10_000.0, margin_requirement=0.5)

    res = pf.execute(order("long", 10), 100.0, "2024-03-01", "T1", 1_709_301_000_000, approval_id="A1")
    assert res.rejected is None
    tr = res.trade
    assert (tr.id, tr.ticker, tr.action, tr.side) == ("T1", "AAPL", "long", "LONG")
    assert (tr.quantity, tr.qty, tr.price, tr.notional) == (10, 10, 100.0, 1000.0)
    assert (tr.timestamp, tr.trading_date, tr.approval_id) == (1_709_301_000_000, "2024-03-01", "A1")
    assert pf.cash == 9000.0
    assert (pf.positions["AAPL"].long, pf.positions["AAPL"].long_avg) == (10, 100.0)

    run(pf, "long", 10, 120.0)
    assert pf.cash == 7800.0
    assert pf.positions["AAPL"].long_avg == 110.0

    # Sell 5 of 20 at 130: realized (130 - 110) * 5 = 100, a winning close.
    tr = run(pf, "short", 5, 130.0).trade
    assert (tr.action, tr.side, tr.notional) == ("short", "SHORT", 650.0)
    assert pf.cash == 8450.0
    assert pf.positions["AAPL"].long == 15 and pf.positions["AAPL"].long_avg == 110.0
    assert pf.realized_pnl == 100.0 and (pf.closing_fills, pf.winning_fills) == (1, 1)

    # Short 20 at 125: sells the 15 held (+225), opens a 5-share short with 50 % margin.
    run(pf, "short", 20, 125.0)
    pos = pf.positions["AAPL"]
    assert (pos.long, pos.short, pos.short_avg) == (0, 5, 125.0)
    assert pf.cash == 8450.0 + 20 * 125.0 == 10_950.0
    assert pf.margin_used == 312.5
    assert pf.net_quantity("AAPL") == -5
    assert pf.realized_pnl == 325.0
    # Equity = cash - short liability; = initial + realized + unrealized (125-100)*5.
    assert pf.equity({"AAPL": 100.0}) == 10_450.0 == 10_000 + 325 + 125

    # Long 8 at 100: covers 5 (+125, margin released), buys 3.
    run(pf, "long", 8, 100.0)
    pos = pf.positions["AAPL"]
    assert (pos.long, pos.long_avg, pos.short, pos.short_margin) == (3, 100.0, 0, 0.0)
    assert pf.margin_used == 0.0
    assert pf.cash == 10_150.0
    assert pf.realized_pnl == 450.0
    assert (pf.closing_fills, pf.winning_fills, pf.win_rate) == (3, 3, 1.0)
    assert pf.trade_count == 5


def test_short_from_cash_reserves_margin_and_rejects_beyond_it() -> None:
    pf = Portfolio(1000.0, margin_requirement=0.5)
    run(pf, "short", 10, 100.0, "TSLA")
    assert (pf.cash, pf.margin_used, pf.available_cash) == (2000.0, 500.0, 1500.0)

    # Margin 0.5 * 30 * 100 = 1500 uses exactly the free cash.
    assert run(pf, "short", 30, 100.0, "TSLA").trade is not None
    assert (pf.cash, pf.margin_used, pf.available_cash) == (5000.0, 2000.0, 3000.0)

    before = pf.to_dict()
    res = run(pf, "short", 61, 100.0, "TSLA")
    assert res.trade is None
    assert res.rejected == ("insufficient margin: shorting 61 TSLA at 100.00 needs 3,050.00 margin "
                            "(50% of 6,100.00), cash available 3,000.00 "
                            "(2,000.00 of 5,000.00 cash reserved as margin)")
    assert pf.to_dict() == before

    # Partial cover of 20 of 40 at 90: pays 1800, releases half the margin, +200.
    run(pf, "long", 20, 90.0, "TSLA")
    assert (pf.cash, pf.margin_used) == (3200.0, 1000.0)
    assert pf.positions["TSLA"].short == 20 and pf.positions["TSLA"].short_avg == 100.0
    assert (pf.realized_pnl, pf.win_rate) == (200.0, 1.0)


def test_buy_rejection_message_and_no_change() -> None:
    pf = Portfolio(10_002.13)
    before = pf.to_dict()
    res = run(pf, "long", 120, 187.20)
    assert res.trade is None
    assert res.rejected == ("insufficient cash: buying 120 AAPL at 187.20 needs 22,464.00, "
                            "cash available 10,002.13")
    assert pf.to_dict() == before
    assert pf.positions == {}  # no empty position left behind


def test_cover_may_spend_its_own_released_margin_but_no_more() -> None:
    pf = Portfolio(1000.0, margin_requirement=1.0)
    run(pf, "short", 10, 100.0, "TSLA")
    assert (pf.cash, pf.margin_used) == (2000.0, 1000.0)

    before = pf.to_dict()
    res = run(pf, "long", 10, 250.0, "TSLA")  # needs 2500, has 1000 free + 1000 released
    assert res.rejected == ("insufficient cash: covering 10 TSLA at 250.00 needs 2,500.00, "
                            "cash available 2,000.00 (including 1,000.00 margin released by the cover)")
    assert pf.to_dict() == before

    res = run(pf, "long", 10, 150.0, "TSLA")  # 1500 <= 2000: affordable thanks to the release
    assert res.trade is not None
    assert (pf.cash, pf.margin_used, pf.positions) == (500.0, 0.0, {})
    assert (pf.realized_pnl, pf.closing_fills, pf.winning_fills, pf.win_rate) == (-500.0, 1, 0, 0.0)


def test_mixed_cover_and_buy_rejection_names_both_parts() -> None:
    pf = Portfolio(100.0, margin_requirement=0.0)
    run(pf, "short", 30, 10.0)
    res = run(pf, "long", 120, 10.0)
    assert res.rejected == "insufficient cash: covering 30 and buying 90 AAPL at 10.00 needs 1,200.00, cash available 400.00"


def test_hold_and_zero_quantity_do_nothing_and_are_not_rejections() -> None:
    pf = Portfolio(500.0)
    before = pf.to_dict()
    for dec in (order("hold", 10), order("long", 0), order("short", 0)):
        res = pf.execute(dec, 10.0, "2024-03-01", "x", 0)
        assert (res.trade, res.rejected, res.executed) == (None, None, False)
    assert pf.to_dict() == before


@pytest.mark.parametrize("price", [0.0, -3.0, float("nan"), float("inf"), None, "abc"])
def test_bad_price_is_rejected_without_change(price) -> None:
    pf = Portfolio(500.0)
    before = pf.to_dict()
    res = pf.execute(order("long", 1), price, "2024-03-01", "x", 0)
    assert res.trade is None and res.rejected.startswith("no valid price for AAPL")
    assert pf.to_dict() == before


def test_invalid_construction_names_the_problem() -> None:
    with pytest.raises(ValueError, match="cash"):
        Portfolio(-1.0)
    with pytest.raises(ValueError, match="margin_requirement"):
        Portfolio(100.0, margin_requirement=-0.1)


def test_valuation_rows_and_stats() -> None:
    pf = Portfolio(10_000.0, margin_requirement=0.5)
    run(pf, "long", 10, 100.0, "AAPL")
    run(pf, "short", 4, 50.0, "TSLA")
    # cash 10000 - 1000 + 200 = 9200, margin 100
    prices = {"AAPL": 110.0, "TSLA": 60.0}
    assert pf.long_value(prices) == 1100.0
    assert pf.short_liability(prices) == 240.0
    assert pf.gross_exposure(prices) == 1340.0
    eq = pf.equity(prices)
    assert eq == 9200.0 + 1100.0 - 240.0 == 10_060.0
    assert pf.position_weight("AAPL", prices) == pytest.approx(1100 / 10_060)
    assert pf.position_weight("TSLA", prices) == pytest.approx(-240 / 10_060)
    assert pf.position_weight("MSFT", prices) == 0.0

    rows = pf.holdings_rows(prices)
    assert [r["ticker"] for r in rows] == ["AAPL", "TSLA", "CASH"]
    assert rows[0] == {"ticker": "AAPL", "quantity": 10, "avg": 100.0, "currentPrice": 110.0,
                       "marketValue": 1100.0, "weight": pytest.approx(1100 / 10_060)}
    assert rows[1]["quantity"] == -4 and rows[1]["avg"] == 50.0 and rows[1]["marketValue"] == -240.0
    assert rows[2] == {"ticker": "CASH", "quantity": 9200.0, "avg": 1.0, "currentPrice": 1.0,
                       "marketValue": 9200.0, "weight": pytest.approx(9200 / 10_060)}
    assert sum(r["weight"] for r in rows) == pytest.approx(1.0)

    st = pf.stats(prices, total_trades=7)
    assert st == {
        "totalAssetValue": 10_060.0,
        "totalReturn": pytest.approx(0.6),  # percent
        "cashPosition": 9200.0,
        "tickerWeights": {"AAPL": pytest.approx(1100 / 10_060), "TSLA": pytest.approx(-240 / 10_060)},
        "marginUsed": 100.0,
        "totalTrades": 7,
        "winRate": 0.0,
    }
    assert pf.stats(prices)["totalTrades"] == 2
    json.dumps(st)


def test_missing_price_falls_back_to_last_execution_price() -> None:
    pf = Portfolio(1000.0)
    run(pf, "long", 2, 100.0, "NVDA")
    assert pf.equity({}) == 1000.0
    assert pf.equity({"NVDA": float("nan")}) == 1000.0
    assert pf.holdings_rows({})[0]["currentPrice"] == 100.0


def test_round_trip_restores_everything_through_json() -> None:
    pf = Portfolio(5000.0, margin_requirement=0.25)
    run(pf, "long", 7, 33.3, "AAPL")
    run(pf, "short", 3, 41.7, "AAPL")
    run(pf, "short", 9, 12.9, "META")
    run(pf, "long", 4, 11.1, "META")
    back = Portfolio.from_dict(json.loads(json.dumps(pf.to_dict())))
    assert back == pf
    assert back.to_dict() == pf.to_dict()
    assert (back.initial_cash, back.closing_fills, back.winning_fills) == (5000.0, 2, 2)
    assert back.margin_used == pf.margin_used
    # The restored portfolio behaves the same from here on.
    for p in (pf, back):
        run(p, "long", 5, 13.0, "META")
    assert back == pf


def test_from_dict_names_a_missing_field() -> None:
    d = Portfolio(100.0).to_dict()
    del d["closing_fills"]
    with pytest.raises(ValueError, match="closing_fills"):
        Portfolio.from_dict(d)


def test_breakeven_close_counts_as_a_closing_fill_but_not_a_win() -> None:
    pf = Portfolio(1000.0)
    assert pf.win_rate == 0.0  # no closing fills yet
    run(pf, "long", 4, 50.0)
    run(pf, "short", 2, 50.0)   # sold at cost
    run(pf, "short", 2, 60.0)   # +20
    assert (pf.closing_fills, pf.winning_fills, pf.win_rate, pf.realized_pnl) == (2, 1, 0.5, 20.0)
    assert pf.positions == {}


def test_malformed_trade_fields_raise_before_anything_moves() -> None:
    pf = Portfolio(1000.0)
    before = pf.to_dict()
    with pytest.raises(ValueError):  # pydantic's ValidationError is a ValueError
        pf.execute(order("long", 1), 10.0, "2024-03-01", "T1", "not-a-timestamp")
    assert pf.to_dict() == before
