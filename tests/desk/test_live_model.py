"""LiveModel without Qt: events in, bounded state out; replay of a real run's events.jsonl."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

from app.models import live_model
from app.models.live_model import LiveModel
from app.models.live_series import BoundedSeries, RateCounter


def test_bounded_series_keeps_recent_points_exact_and_memory_bounded() -> None:
    series = BoundedSeries(maxlen=100)
    for i in range(10_000):
        series.append(float(i), float(i) * 2)
    assert len(series) <= 100
    assert series.xs[-50:] == [float(i) for i in range(9_950, 10_000)]  # the newest half at full resolution
    assert series.xs[0] == 0.0  # the first point survives decimation
    assert series.xs == sorted(series.xs) and series.ys == [x * 2 for x in series.xs]
    assert series.decimations > 0


def test_bounded_series_ignores_late_points_and_updates_same_instant() -> None:
    series = BoundedSeries(maxlen=8)
    series.append(1.0, 10.0)
    series.append(2.0, 20.0)
    series.append(1.5, 99.0)
    series.append(2.0, 21.0)
    assert (series.xs, series.ys) == ([1.0, 2.0], [10.0, 21.0])


def test_rate_counter_counts_per_type_per_second() -> None:
    rates = RateCounter(window=10)
    for i in range(30):
        rates.add("price_update", 1000.0 + i / 10)  # 10 per second over 3 seconds
        if i == 15:
            rates.add("agent_message", 1001.55)
    assert rates.latest(1003.2) == {"price_update": 10}
    xs, ys = rates.series("agent_message", 1003.2)
    assert len(xs) == 10 and ys[-2] == 1.0 and sum(ys) == 1.0
    assert rates.total_rate(1003.0, seconds=3) == pytest.approx(31 / 3)
    rates.add("price_update", 2000.0)  # far later: the old seconds fall out of the window
    assert sum(rates.series("price_update", 2001.0)[1]) == 1.0


def _state(**extra: Any) -> dict[str, Any]:
    # A state as the Gateway sends it: every row complete (the desk's parser refuses a partial one).
    state = {"run_id": "r1", "status": "running", "current_date": "2025-01-03", "trading_days_total": 4,
             "trading_days_completed": 1,
             "portfolio": {"total_value": 100.0, "pnl_percent": 0.0,
                           "equity": [{"t": 1735851600000, "v": 100.0}], "baseline": [{"t": 1735851600000, "v": 101.0}],
                           "baseline_vw": [], "momentum": []},
             "holdings": [{"ticker": "AAPL", "quantity": 3, "avg": 9.0, "currentPrice": 10.0, "marketValue": 30.0,
                           "weight": 0.3}],
             "trades": [], "stats": {"totalAssetValue": 100.0, "totalReturn": 0.0, "cashPosition": 70.0},
             "realtime_prices": {"AAPL": {"price": 10.0, "open": 9.0, "ret": 11.1}},
             "feed_history": [{"type": "agent_message", "agentId": "b", "content": "newest", "ts": 2,
                               "timestamp": "2025-01-03T08:00:00-05:00"},
                              {"type": "system", "content": "oldest"}]}
    state.update(extra)
    return state


def test_initial_state_resets_and_loads_everything() -> None:
    model = LiveModel()
    model.apply_frame({"type": "price_update", "symbol": "XYZ", "price": 5, "open": 5, "ret": 0, "timestamp": "2025-01-02"})
    model.apply_frame({"type": "initial_state", "state": _state()})
    assert model.run_id == "r1" and model.status == "running" and model.progress == 0.25
    assert model.curves["equity"].ys == [100.0] and model.curves["baseline"].xs == [1735851600.0]
    assert model.prices == {} and model.tickers["AAPL"].price == 10.0
    assert [item.text for item in model.feed] == ["oldest", "newest"]  # newest-first on the wire
    assert model.take_dirty() >= {"equity", "holdings", "feed", "status", "tickers"}
    assert model.take_dirty() == set()


def _trade(trade_id: str, trading_date: str) -> dict[str, Any]:
    """A complete team_trades row (what the Gateway sends)."""
    return {"id": trade_id, "ticker": "AAPL", "action": "long", "side": "LONG", "quantity": 1, "qty": 1,
            "price": 10.0, "timestamp": 1735851600000, "trading_date": trading_date, "notional": 10.0}


def test_trades_incremental_and_full_and_todays_trades() -> None:
    model = LiveModel(max_trades=3)
    model.apply_frame({"type": "day_start", "date": "2025-01-02", "progress": 0})
    model.apply_frame({"type": "team_trades", "mode": "incremental", "data": [
        _trade("a", "2025-01-02"), _trade("b", "2025-01-02")]})
    model.apply_frame({"type": "team_trades", "mode": "incremental", "data": [_trade("b", "2025-01-02")]})
    assert [t.id for t in model.trades] == ["b", "a"]
    model.apply_frame({"type": "day_start", "date": "2025-01-03", "progress": 0.5})
    model.apply_frame({"type": "team_trades", "data": [_trade("c", "2025-01-03"), _trade("d", "2025-01-03")]})
    assert [t.id for t in model.trades] == ["d", "c", "b"]  # bounded to max_trades, newest first
    assert [t.id for t in model.todays_trades()] == ["d", "c"]
    model.apply_frame({"type": "team_trades", "mode": "full", "data": [_trade("x", "2025-01-03")]})
    assert [t.id for t in model.trades] == ["x"]
    assert model.refused == 0


def test_conference_messages_are_grouped_and_filters_apply() -> None:
    model = LiveModel()
    model.apply_frame({"type": "agent_message", "agentId": "technical_analyst", "content": "AAPL bull", "ts": 1,
                       "timestamp": "2025-01-03T08:00:00-05:00"})
    model.apply_frame({"type": "conference_start", "conferenceId": "c1", "title": "Morning", "date": "d",
                 "participants": [], "ts": 2})
    model.apply_frame({"type": "conference_cycle_start", "cycle": 1, "totalCycles": 1})
    model.apply_frame({"type": "conference_message", "agentId": "risk_manager", "content": "careful", "ts": 3})
    model.apply_frame({"type": "conference_message", "agentId": "technical_analyst", "content": "agreed", "ts": 4})
    assert model.feed[-1].open and model.take_feed_touched() == {model.feed[-1].seq}
    model.apply_frame({"type": "conference_end", "ts": 5})
    model.apply_frame({"type": "memory", "agentId": "risk_manager", "content": "lesson", "ts": 6})
    types = [item.type for item in model.feed]
    assert types == ["agent_message", "conference", "memory"]
    block = model.feed[1]
    assert not block.open and [c.text for c in block.children] == ["careful", "agreed"]
    assert [i.type for i in model.filtered_feed(agent="risk_manager")] == ["conference", "memory"]
    assert [i.type for i in model.filtered_feed(types={"conference"})] == ["conference"]
    assert model.filtered_feed(agent="nobody") == []
    assert model.feed_agents() == ["conference", "risk_manager", "technical_analyst"]


def test_stage_timings_and_bounded_days() -> None:
    model = LiveModel(max_days=2)
    for day in ("2025-01-02", "2025-01-03", "2025-01-06"):
        for stage, ms in (("analysis", 5.0), ("risk", 1.0), ("approval", 2.0)):
            model.apply_frame({"type": "pipeline_stage", "run_id": "r", "date": day, "stage": stage, "status": "started",
                         "ts": 0})
            model.apply_frame({"type": "pipeline_stage", "run_id": "r", "date": day, "stage": stage, "status": "finished",
                         "ts": 1, "duration_ms": ms})
    assert list(model.stages) == ["2025-01-03", "2025-01-06"]
    assert model.stages["2025-01-06"] == {"analysis": 5.0, "risk": 1.0, "approval": 2.0}


def test_malformed_events_are_skipped_not_fatal() -> None:
    model = LiveModel()
    seen: list[str] = []
    model.changed.connect(seen.append)
    for frame in ({"type": "team_summary", "equity": "nonsense"}, {"type": "price_update"},
                  {"type": "pipeline_stage", "status": "finished", "duration_ms": "x"}, {"type": "brand_new"},
                  {"type": "team_holdings", "data": None}):
        model.apply_frame(frame)
    assert seen == ["team_summary", "price_update", "pipeline_stage", "brand_new", "team_holdings"]
    # Refused, not applied half: counted, and the last one is named with its first problem.
    assert model.refused == 5 and model.applied == 0
    assert model.last_refusal.event_type == "team_holdings" and model.last_refusal.problem.startswith("data:")
    assert "5 frames refused" in model.refusal_summary
    model.apply_frame({"type": "price_update", "symbol": "AAPL", "price": 10, "open": 9, "ret": 1,
                 "timestamp": "2025-01-02T16:00:00-05:00"})
    assert model.prices["AAPL"].ys == [10.0]


def test_price_series_stay_bounded_over_a_long_stream() -> None:
    model = LiveModel(max_price_points=200)
    for i in range(20_000):
        model.apply_frame({"type": "price_update", "symbol": "AAPL", "price": 100 + i % 7, "open": 100, "ret": 0,
                           "timestamp": dt.datetime.fromtimestamp(1_700_000_000 + i, dt.timezone.utc).isoformat()})
    assert len(model.prices["AAPL"]) <= 200
    assert model.prices["AAPL"].xs[-1] == 1_700_000_000.0 + 19_999


def test_replay_of_a_real_run_matches_its_final_state(finished_run: Path) -> None:
    model = LiveModel()
    events = finished_run / "logs" / "events.jsonl"
    applied = asyncio.run(model.replay(events, speed=0))
    state = json.loads((finished_run / "state" / "server_state.json").read_text())
    assert applied == sum(1 for _ in events.open())
    assert model.status == "completed" and not model.replaying
    assert model.curves["equity"].ys == [p["v"] for p in state["portfolio"]["equity"]]
    assert [t.id for t in model.trades] == [t["id"] for t in state["trades"]]
    assert {h.ticker: h.quantity for h in model.holdings} == {h["ticker"]: h["quantity"] for h in state["holdings"]}
    assert model.refused == 0  # the desk's parser reads every line the Gateway wrote
    assert len(model.stages) == state["trading_days_total"]


def test_replay_speed_is_trading_days_per_second(finished_run: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pauses: list[float] = []
    real_sleep = asyncio.sleep

    async def fake_sleep(delay: float) -> None:
        pauses.append(delay)
        await real_sleep(0)

    monkeypatch.setattr(live_model.asyncio, "sleep", fake_sleep)
    model = LiveModel()
    asyncio.run(model.replay(finished_run / "logs" / "events.jsonl", speed=4.0, batch=10_000))
    days = json.loads((finished_run / "state" / "server_state.json").read_text())["trading_days_total"]
    assert pauses == [0.25] * (days - 1)  # one pause between consecutive days
    with pytest.raises(ValueError, match="speed"):
        asyncio.run(model.replay(finished_run / "logs" / "events.jsonl", speed=-1))
    with pytest.raises(FileNotFoundError, match="no events file"):
        asyncio.run(model.replay(finished_run / "nope.jsonl"))
