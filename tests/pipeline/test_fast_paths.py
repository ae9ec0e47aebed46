"""The backtest's fast paths (issue 13) give exactly what the slow ones gave: a flat model's
field-dict copy is its model_dump, and price updates sharing the day's quotes encode as each
would alone (and fall back to that when the layout is not the expected one)."""

from __future__ import annotations

from backend.pipeline.settlement import share_quotes_encoding
from backend.pipeline.trading_pipeline import _flat_dump
from backend.schema import events as ev
from backend.schema.state import PriceQuote
from backend.schema.trading import OrderDecision, Prediction, RiskLimits, TickerSignal


def test_a_flat_models_dump_is_its_model_dump_keys_in_order() -> None:
    order = OrderDecision(ticker="AAPL", action="long", quantity=3, confidence=20, reasoning="buy")
    models = [
        TickerSignal(ticker="AAPL", signal="bull", confidence=50, reasoning="trend", score=0.3),
        Prediction(agent_id="technical_analyst", ticker="AAPL", date="2025-01-02", direction="up", confidence=40),
        order,
        order.model_copy(update={"quantity": 1, "reasoning": "buy; cut to 1 by cash"}),
        RiskLimits(ticker="AAPL", max_position_value=1000.0, volatility=0.2, warnings=["high volatility"]),
    ]
    for model in models:
        dumped = _flat_dump(model)
        assert dumped == model.model_dump() and list(dumped) == list(model.model_dump())
        assert isinstance(dumped["confidence" if "confidence" in dumped else "ticker"], (float, str))


def updates(quotes: dict[str, PriceQuote]) -> list[ev.PriceUpdate]:
    # One update per quote with all its fields (a quote without open or ret rides along only).
    return [ev.PriceUpdate(symbol=t, price=q.price, open=q.open, ret=q.ret, timestamp="2025-01-02T16:00:00-05:00",
                           realtime_prices=quotes) for t, q in quotes.items() if q.open is not None and q.ret is not None]


def test_price_updates_sharing_their_quotes_encode_as_each_alone() -> None:
    quotes = {"AAPL": PriceQuote(price=190.5, open=189.0, ret=0.8), "MSFT": PriceQuote(price=410.0, open=None, ret=None),
              "NVDA": PriceQuote(price=0.5, open=0.4999, ret=-1.25)}
    alone = [u.wire_json() for u in updates(quotes)]
    shared = updates(quotes)
    share_quotes_encoding(shared)
    assert [u.wire_json() for u in shared] == alone
    assert all(u.wire_json() == u.model_dump_json(exclude_none=True) for u in shared)


def test_an_unexpected_layout_leaves_each_update_to_encode_itself() -> None:
    quotes = {"AAPL": PriceQuote(price=190.5, open=189.0, ret=0.8), "MSFT": PriceQuote(price=410.0, open=400.0, ret=2.5)}
    shared = updates(quotes)
    shared[0].preset_wire_json('{"type":"price_update","symbol":"AAPL"}')  # not its fields then the quotes
    share_quotes_encoding(shared)
    assert shared[1].wire_json() == shared[1].model_dump_json(exclude_none=True)


# -- pipeline_stage events assemble their own wire JSON ---------------------------------------

from hypothesis import given, settings, strategies as hst  # noqa: E402

STAGE_STATUS = hst.sampled_from(["started", "finished", "failed"])
DURATIONS = hst.one_of(hst.none(), hst.floats(allow_nan=True, allow_infinity=True),
                       hst.floats(min_value=0, max_value=1e7).map(lambda x: round(x, 3)),
                       hst.sampled_from([0.0, -0.0, 1e-4, 9.9999e-5, 1e15, 999999999999999.9, 1e16, 0.001]))


@settings(max_examples=600, deadline=None)
@given(hst.text(), hst.text(), hst.sampled_from(ev.STAGES), STAGE_STATUS,
       hst.integers(min_value=-2**63, max_value=2**63 - 1), DURATIONS)
def test_a_pipeline_stage_encodes_as_its_model(run_id: str, date: str, stage: str, status: str, ts: int,
                                               duration: float | None) -> None:
    event = ev.pipeline_stage(run_id, date, stage, status, ts, duration)
    given_fields = dict(run_id=run_id, date=date, stage=stage, status=status, ts=ts)
    model = ev.PipelineStage(**given_fields) if duration is None else ev.PipelineStage(**given_fields,
                                                                                        duration_ms=duration)
    assert event.__dict__ == model.__dict__ or duration != duration  # (NaN is not NaN)
    assert event.model_fields_set == model.model_fields_set
    assert event.wire_json() == event.model_dump_json(exclude_none=True)


def test_pipeline_stages_of_two_runs_and_days_do_not_share_their_prefix() -> None:
    for run_id, date in [("a", "2025-01-02"), ("b", "2025-01-02"), ("b", "2025-01-03"), ("a", "2025-01-02")]:
        event = ev.pipeline_stage(run_id, date, "risk", "finished", 5, 1.5)
        assert event.wire_json() == event.model_dump_json(exclude_none=True)


def test_past_closes_read_as_the_dict_of_close_lists_they_replace() -> None:
    from types import SimpleNamespace

    from backend.pipeline.settlement import PastCloses

    bars = {"AAPL": [SimpleNamespace(close=1.0), SimpleNamespace(close=2.5)], "MSFT": []}
    tickers = ["AAPL", "MSFT", "NVDA"]
    eager = {t: [b.close for b in bars.get(t, [])] for t in tickers}
    lazy = PastCloses(bars, tickers)
    assert dict(lazy) == eager and list(lazy) == list(eager) and len(lazy) == len(eager) and bool(lazy)
    assert lazy.get("TSLA") is None and lazy.get("NVDA") == []
