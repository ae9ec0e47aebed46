"""The server state has one schema (backend/schema/state.py) and the files and frames follow it.

The seeded default run (the default workspace, six months, seed 7, run by
`evotraders backtest` as a user runs it) writes a server_state.json that the
model accepts with no unknown key and no type coercion, and that the model
writes back unchanged; the Gateway's initial_state is that file without the
resume checkpoint. States of older versions (fewer keys) still load and a run
resumes from them; a malformed one is refused naming the field.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
from pathlib import Path
from typing import Any

import pydantic_core
import pytest
from hypothesis import given, settings as hsettings, strategies as st
from pydantic import TypeAdapter, ValidationError

from backend.errors import ConflictError
from backend.pipeline.engine import RunEngine
from backend.readers.trading_reader import TradingReader
from backend.schema import events as ev
from backend.schema.state import (
    CURVE_NAMES, RETURN_CURVE_NAMES, ServerState, ServerStateFile, unknown_fields,
)
from backend.storage.atomic import atomic_write_json
from tests.conftest import VENV_BIN

STRICT = TypeAdapter(ServerStateFile)
FIRST_WEEKS = {"end_date": "2025-02-21"}
# A team_summary that is not the newest in the feed keeps only these (docs/protocol.md).
TRIMMED_SUMMARY = {"type", "balance", "pnlPct", "totalAssetValue"}


@pytest.fixture(scope="module")
def default_run(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("state_schema")
    env = {"RUNS_DIR": str(root / "runs"), "WORKSPACES_DIR": str(root / "ws"), "PATH": "/usr/bin:/bin"}
    proc = subprocess.run([str(VENV_BIN / "evotraders"), "backtest", "--run-id", "six", "--json"],
                          env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["trading_days"] == 122
    return root / "runs" / "six"


def run(engine: RunEngine) -> str:
    async def go() -> str:
        try:
            return await engine.run()
        finally:
            await engine.close()
    return asyncio.run(go())


# -- the seeded default run ---------------------------------------------------------------
def test_the_default_runs_state_file_has_no_key_the_schema_does_not_name(default_run):
    text = (default_run / "state/server_state.json").read_text()
    # extra="forbid" and strict types, every part down to the checkpoint's rows.
    state = STRICT.validate_json(text, strict=True, extra="forbid")
    assert unknown_fields(ServerStateFile.model_validate_json(text)) == []
    assert state.status == "completed" and state.trading_days_completed == state.trading_days_total == 122
    assert state.resume is not None and state.resume.last_completed_date == "2025-06-30"
    assert len(state.trades) == 100 and state.holdings[-1].ticker == "CASH"
    assert {name: len(state.portfolio.curve(name)) for name in CURVE_NAMES + RETURN_CURVE_NAMES} == \
        {name: 122 for name in CURVE_NAMES + RETURN_CURVE_NAMES}
    assert state.sandbox is not None and state.sandbox.effective() is not None


def test_the_default_runs_state_file_round_trips_unchanged(default_run):
    text = (default_run / "state/server_state.json").read_text()
    parsed = json.loads(text)
    model = ServerStateFile.model_validate(parsed)
    dumped = model.model_dump(mode="json")
    assert dumped == parsed == model.to_wire()
    # Same keys in the same order, same number types: the same JSON text.
    assert json.dumps(dumped) == json.dumps(parsed)
    assert pydantic_core.to_json(dumped).decode() + "\n" == text


def test_feed_history_entries_are_protocol_events(default_run):
    state = ServerStateFile.model_validate_json((default_run / "state/server_state.json").read_text())
    assert len(state.feed_history) == ev.FEED_HISTORY_LIMIT
    newest_summary = next(i for i, item in enumerate(state.feed_history) if item["type"] == "team_summary")
    for i, item in enumerate(state.feed_history):
        assert item["type"] in ev.FEED_TYPES, item["type"]
        if item["type"] == "team_summary" and i != newest_summary:
            assert set(item) == TRIMMED_SUMMARY
            continue
        event = ev.parse_event(item)
        assert type(event) is ev.EVENT_TYPES[item["type"]] and not event.model_extra, item
        assert "data" not in item


def test_the_dashboard_block_and_exports_mirror_the_top_level(default_run):
    state = ServerStateFile.model_validate_json((default_run / "state/server_state.json").read_text())
    assert state.dashboard is not None
    for name in ("holdings", "stats", "trades", "leaderboard"):
        assert getattr(state.dashboard, name) == getattr(state, name), name
        export = json.loads((default_run / "team_dashboard" / f"{name}.json").read_text())
        assert export == state.model_dump(mode="json")[name], name
    summary = json.loads((default_run / "team_dashboard/summary.json").read_text())
    assert summary == state.dashboard.summary.model_dump() and summary["balance"] == state.portfolio.total_value


# -- initial_state is the file without the checkpoint ------------------------------------
def test_initial_state_carries_the_state_file_without_resume(store, settings):
    store.create_run("default", run_id="wire", overrides=FIRST_WEEKS)
    engine = RunEngine(store, "wire", settings, write_every_stage=True)
    assert run(engine) == "completed"
    frame = json.loads(ev.InitialState(state=engine.snapshot_state()).wire_json())
    on_disk = store.read_server_state("wire")
    assert on_disk.pop("resume")["last_completed_date"] == "2025-02-21"
    assert frame["state"] == on_disk
    # The nulls of the state survive the frame's exclude_none.
    assert frame["state"]["sandbox"]["requested"] is None
    # A ServerStateFile handed to the event never leaks the checkpoint.
    frame = json.loads(ev.InitialState(state=store.load_server_state("wire")).wire_json())
    assert frame["state"] == on_disk


def test_a_state_before_the_first_day_keeps_its_nulls_on_the_wire(store, settings):
    store.create_run("default", run_id="fresh", overrides=FIRST_WEEKS)
    engine = RunEngine(store, "fresh", settings, write_every_stage=True)
    frame = json.loads(ev.InitialState(state=engine.snapshot_state()).wire_json())["state"]
    assert frame["current_date"] is None and frame["trades"] == [] and frame["portfolio"]["equity"] == []
    assert frame["trading_days_completed"] == 0 and frame["holdings"][-1]["ticker"] == "CASH"
    asyncio.run(engine.close())


# -- older and malformed files -----------------------------------------------------------
def old_shape(state: dict[str, Any]) -> dict[str, Any]:
    """The file as an older version wrote it: no sandbox, metrics or day history anywhere."""
    old = {k: v for k, v in state.items() if k not in ("sandbox", "metrics", "last_day_history")}
    old["resume"] = {k: v for k, v in state["resume"].items() if k not in ("day_history", "agents")}
    return old


def test_an_older_state_file_loads_as_written_and_a_run_resumes_from_it(store, settings):
    store.create_run("default", run_id="old", overrides=FIRST_WEEKS)
    first = RunEngine(store, "old", settings, write_every_stage=True)
    first.event.connect(lambda e: first.request_stop() if e.type == "day_complete" and e.date == "2025-01-10" else None)
    assert run(first) == "stopped"
    path = store.paths("old").server_state
    old = old_shape(json.loads(path.read_text()))
    atomic_write_json(path, old, indent=None)

    loaded = store.load_server_state("old")
    assert loaded.to_wire() == old      # no default invented for a missing key
    assert loaded.sandbox is None and loaded.metrics is None and loaded.resume.day_history == []
    again = RunEngine(store, "old", settings, write_every_stage=True)
    assert again.state.last_completed_date == "2025-01-10" and again.state.days_completed == 6
    assert run(again) == "completed"
    assert store.load_server_state("old").trading_days_completed == again.days_total


def test_a_malformed_state_file_is_refused_naming_the_field(store, settings):
    store.create_run("default", run_id="bad", overrides=FIRST_WEEKS)
    path = store.paths("bad").server_state
    atomic_write_json(path, {"status": "running", "holdings": [{"ticker": "AAPL", "quantity": "many"}]})
    with pytest.raises(ConflictError, match=r"run 'bad': server_state.json has an unexpected shape \(holdings\.0\."):
        store.load_server_state("bad")
    with pytest.raises(ConflictError, match="holdings"):
        RunEngine(store, "bad", settings)
    with pytest.raises(ConflictError, match=r"state/server_state.json has an unexpected shape \(holdings"):
        TradingReader(store).portfolio("bad")


def test_an_unknown_key_is_kept_and_named_but_refused_by_the_strict_parser():
    data = {"status": "running", "realtime_prices": {"AAPL": {"price": 1.5, "open": 1.0, "ret": 2.0, "vwap": 1.2}},
            "from_a_newer_server": [1, 2]}
    state = ServerState.model_validate(data)
    assert state.to_wire() == data
    assert sorted(unknown_fields(state)) == ["from_a_newer_server", "realtime_prices['AAPL'].vwap"]
    with pytest.raises(ValidationError, match="from_a_newer_server"):
        TypeAdapter(ServerState).validate_json(json.dumps(data), strict=True, extra="forbid")


# -- generated states ---------------------------------------------------------------------
def maybe(draw: Any, fields: dict[str, st.SearchStrategy[Any]], required: tuple[str, ...] = ()) -> dict[str, Any]:
    """A dict with the required keys and a drawn subset of the others, in field order."""
    out = {}
    for name, strategy in fields.items():
        if name in required or draw(st.booleans()):
            out[name] = draw(strategy)
    return out


money = st.floats(min_value=-1e9, max_value=1e9, allow_nan=False)
text = st.text(min_size=1, max_size=8)
dates = st.dates().map(lambda d: d.isoformat())
points = st.lists(st.fixed_dictionaries({"t": st.integers(0, 2**45), "v": money}), max_size=4)


@st.composite
def trade_rows(draw: Any) -> dict[str, Any]:
    action = draw(st.sampled_from(["long", "short"]))
    q = draw(st.integers(1, 10_000))
    row = {"id": draw(text), "ticker": draw(text), "action": action, "side": action.upper(), "quantity": q,
           "qty": q, "price": draw(money), "timestamp": draw(st.integers(0, 2**45)), "trading_date": draw(dates),
           "notional": draw(money)}
    if draw(st.booleans()):
        row["approval_id"] = draw(text)
    return row


@st.composite
def leaderboard_rows(draw: Any) -> dict[str, Any]:
    tally = st.fixed_dictionaries({"n": st.integers(0, 999), "win": st.integers(0, 999), "unknown": st.integers(0, 9)})
    signal = st.fixed_dictionaries({"ticker": text, "signal": st.sampled_from(["bull", "bear", "neutral"]),
                                    "date": dates, "is_correct": st.none() | st.booleans()})
    return maybe(draw, {"agentId": text, "name": text, "role": text, "avatar": st.none() | text,
                        "winRate": money, "bull": tally, "bear": tally, "signals": st.lists(signal, max_size=3),
                        "modelName": st.none() | text, "modelProvider": st.none() | text,
                        "rank": st.none() | st.integers(1, 9)},
                 required=("agentId", "name", "role", "winRate", "bull", "bear"))


@st.composite
def server_states(draw: Any) -> dict[str, Any]:
    holding = st.fixed_dictionaries({"ticker": text, "quantity": st.integers(-999, 999) | money, "avg": money,
                                     "currentPrice": money, "marketValue": money, "weight": money})
    stats = st.builds(lambda d: d, st.fixed_dictionaries(
        {"totalAssetValue": money, "totalReturn": money, "cashPosition": money},
        optional={"tickerWeights": st.dictionaries(text, money, max_size=3), "marginUsed": money,
                  "totalTrades": st.integers(0, 999), "winRate": money}))
    portfolio = st.fixed_dictionaries({"total_value": money, "pnl_percent": money},
                                      optional={name: points for name in CURVE_NAMES + RETURN_CURVE_NAMES})
    quote = st.fixed_dictionaries({"price": money}, optional={"open": st.none() | money, "ret": st.none() | money})
    market = st.fixed_dictionaries({"status": st.sampled_from(["open", "closed", "premarket", "afterhours"]),
                                    "status_text": text, "is_trading_day": st.booleans()},
                                   optional={"market_open": st.just("09:30"), "market_close": st.just("16:00"),
                                             "current_time": st.none() | text})
    sandbox = st.one_of(
        st.fixed_dictionaries({"mode": st.sampled_from(["none", "process"]),
                               "calls": st.dictionaries(st.sampled_from(["none", "process"]), st.integers(0, 99))}),
        st.fixed_dictionaries({"mode": st.just("docker"), "floor": st.just("process"),
                               "floor_source": st.just("environment"), "requested": st.none() | st.just("docker"),
                               "reason": st.just("requested"), "note": text, "calls": st.just({"docker": 1})}))
    day = st.fixed_dictionaries({"date": dates, "total_value": money, "pnl_percent": money,
                                 "trades": st.integers(0, 99)})
    feed = st.lists(st.fixed_dictionaries({"type": st.sampled_from(sorted(ev.FEED_TYPES))},
                                          optional={"content": text, "ts": st.integers(0, 2**45)}), max_size=3)
    metrics = st.fixed_dictionaries({
        "final_equity": money, "total_return_pct": money,
        "excess_return_pct": st.dictionaries(st.sampled_from(["baseline", "momentum"]), st.none() | money),
        "max_drawdown_pct": money, "sharpe": money, "trades": st.integers(0, 999), "win_rate": money})
    state = maybe(draw, {
        "run_id": text, "server_mode": st.sampled_from(["backtest", "mock", "live"]), "is_mock_mode": st.booleans(),
        "is_backtest": st.booleans(), "status": st.sampled_from(["starting", "running", "completed"]),
        "current_date": st.none() | dates, "trading_days_total": st.integers(0, 999),
        "trading_days_completed": st.integers(0, 999), "holdings": st.lists(holding, max_size=3),
        "trades": st.lists(trade_rows(), max_size=3), "stats": stats,
        "leaderboard": st.lists(leaderboard_rows(), max_size=2), "portfolio": portfolio,
        "realtime_prices": st.dictionaries(text, quote, max_size=3), "market_status": market, "sandbox": sandbox,
        "last_day_history": st.lists(day, max_size=2), "feed_history": feed, "metrics": metrics,
    })
    if draw(st.booleans()):
        summary = {"totalAssetValue": draw(money), "pnlPct": draw(money), "balance": draw(money), "cash": draw(money)}
        state["dashboard"] = {"summary": summary,
                              **{k: state[k] for k in ("holdings", "stats", "trades", "leaderboard") if k in state}}
    return state


@hsettings(max_examples=150, deadline=None)
@given(server_states())
def test_any_state_round_trips_through_the_model_and_the_initial_state_frame(state):
    wire = json.loads(json.dumps(state))
    model = ServerState.model_validate(wire)
    assert model.to_wire() == wire
    assert ServerState.model_validate_json(model.model_dump_json(exclude_unset=True)) == model
    assert unknown_fields(model) == []
    # The frame the Gateway sends: the same object, nulls included.
    assert json.loads(ev.InitialState(state=model).wire_json())["state"] == wire
    assert ev.InitialState(state=wire).to_wire()["state"] == wire


def test_parts_in_a_frame_keep_their_nulls_under_exclude_none():
    # The Gateway dumps frames with exclude_none; a state part inside one says null as before.
    from pydantic import BaseModel

    from backend.schema.state import LeaderboardRow, MarketStatus, PriceQuote

    class Frame(BaseModel):
        rows: list[LeaderboardRow]
        quote: PriceQuote
        market: MarketStatus
        gone: int | None = None

    row = {"agentId": "a", "name": "A", "role": "technical_analyst", "avatar": "technical", "winRate": 0.5,
           "bull": {"n": 1, "win": 0, "unknown": 1}, "bear": {"n": 0, "win": 0, "unknown": 0},
           "signals": [{"ticker": "AAPL", "signal": "bull", "date": "2025-01-02", "is_correct": None}],
           "modelName": "rules-v1", "modelProvider": "local", "rank": 1}
    quote = {"price": 1.5, "open": None, "ret": None}
    market = {"status": "closed", "status_text": "Backtest starting", "is_trading_day": True,
              "market_open": "09:30", "market_close": "16:00", "current_time": None}
    frame = Frame(rows=[row], quote=quote, market=market)
    for dumped in (frame.model_dump(mode="json", exclude_none=True), json.loads(frame.model_dump_json(exclude_none=True))):
        assert dumped == {"rows": [row], "quote": quote, "market": market}
