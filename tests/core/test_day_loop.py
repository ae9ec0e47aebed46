"""One day loop, three clocks: backtest, mock and live runs are the same loop.

The same seeded week (a weekend and Presidents' Day inside it) run as a
backtest, in mock mode on a virtual clock moved by fast-forwards, and in live
mode on a New York clock whose quote provider refuses the key (so every day
trades on the synthetic history, as the backtest does) makes the same
trades, the same portfolio manager decisions and the same final checkpoint.
A mock run stopped mid-day and resumed by a fresh engine ends as if never
stopped. Then a hypothesis test walks the clocks over random weeks and clock
steps: time never goes back, every trading day of the run runs each stage
exactly once and in calendar order, and market hours hold (a day runs at
the first turn after its close, its execution at the open, its settlement
at the close; intraday prices only on trading days; the market status is
the calendar's session).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
from hypothesis import HealthCheck, given, settings as hsettings, strategies as st

from backend.config import load_settings
from backend.market import calendar
from backend.pipeline.day_loop import BacktestClock
from backend.pipeline.engine import RunEngine
from backend.schema.events import STAGES
from backend.storage.event_log import read_events
from backend.storage.run_store import RunStore
from backend.storage.workspaces import WorkspaceStore
from gateway.live_mode import LiveModeClock
from gateway.mock_mode import MockModeClock
from tests.market.finnhub_server import FinnhubRecorder, running_finnhub

TICKERS = ["AAPL", "MSFT", "NVDA"]   # the tickers the recorded Finnhub quotes answer for
WEEK = {"start_date": "2025-02-13", "end_date": "2025-02-20", "tickers": TICKERS}


@pytest.fixture(scope="module")
def finnhub() -> Iterator[FinnhubRecorder]:
    with running_finnhub() as server:
        yield server


def make_engine(root: Path, mode: str, finnhub: FinnhubRecorder | None = None, key: str = "good",
                run_id: str = "r", **overrides: Any) -> RunEngine:
    extra = {"finnhub_api_key": key, "finnhub_base_url": finnhub.base_url} if finnhub is not None else {}
    settings = load_settings(runs_dir=root / "runs", workspaces_dir=root / "ws", **extra)
    store = RunStore(settings.runs_dir, WorkspaceStore(settings.workspaces_dir))
    if not store.paths(run_id).root.exists():
        store.create_run("default", run_id=run_id, overrides={**WEEK, **overrides, "mode": mode})
    return RunEngine(store, run_id, settings, write_every_stage=True)


class SteppedNow:
    """A New York clock that moves ahead by the next step each time it is read."""

    def __init__(self, start: dt.datetime, steps: Callable[[], dt.timedelta]) -> None:
        self.current = start
        self.steps = steps
        self.readings: list[dt.datetime] = []

    def __call__(self) -> dt.datetime:
        now = self.current
        self.current = now + self.steps()
        self.readings.append(now)
        return now


def fast_forward_on_every_tick(engine: RunEngine, clock: MockModeClock, minutes: Callable[[], float]) -> None:
    """What a user of the desk does with fast_forward_time, on every time_update."""
    def listener(event: Any) -> None:
        if event.type == "time_update":
            clock.fast_forward(minutes())
    engine.event.connect(listener)


def drive(engine: RunEngine, clock: Any) -> tuple[str, list[Any]]:
    seen: list[Any] = []
    engine.event.connect(seen.append)

    async def go() -> str:
        try:
            return await asyncio.wait_for(engine.run(clock=clock), timeout=120)
        finally:
            await engine.close()

    return asyncio.run(go()), seen


def week_of_trading(engine: RunEngine) -> dict[str, Any]:
    """What the mode must not change: trades, decisions, the checkpoint, the stage order."""
    server = engine.store.read_server_state(engine.run_id)
    events = list(read_events(engine.paths.events_log))
    decisions = [(e["timestamp"], e["data"]["decisions"]) for e in events
                 if e["type"] == "agent_message" and e.get("agentId") == "portfolio_manager"]
    stages = [(e["date"], e["stage"], e["status"]) for e in events if e["type"] == "pipeline_stage"]
    return {"trades": engine.store.read_trades(engine.run_id), "decisions": decisions,
            "checkpoint": server["resume"], "stages": stages, "status": server["status"]}


def test_backtest_mock_and_live_clocks_trade_the_same_week(tmp_path: Path, finnhub: FinnhubRecorder):
    backtest = make_engine(tmp_path / "backtest", "backtest")
    assert drive(backtest, BacktestClock())[0] == "completed"
    expected = week_of_trading(backtest)
    days = calendar.trading_days(dt.date(2025, 2, 13), dt.date(2025, 2, 20))
    assert [d.isoformat() for d in days] == ["2025-02-13", "2025-02-14", "2025-02-18", "2025-02-19", "2025-02-20"]
    assert expected["stages"] == [(d.isoformat(), s, st_) for d in days for s in STAGES
                                  for st_ in ("started", "finished")]
    assert expected["trades"] and expected["decisions"]

    mock = make_engine(tmp_path / "mock", "mock")
    clock = MockModeClock(speed=0.0, tick_seconds=0.0)
    fast_forward_on_every_tick(mock, clock, lambda: 97.0)
    status, seen = drive(mock, clock)
    assert status == "completed"
    assert week_of_trading(mock) == expected
    assert any(e.type == "price_update" for e in seen) and any(e.type == "time_update" for e in seen)

    # Live mode with a refused key: quotes fail (said once), every day trades on the synthetic history.
    live = make_engine(tmp_path / "live", "live", finnhub, key="revoked")
    now = SteppedNow(calendar.at(days[0], dt.time(7, 0)), lambda: dt.timedelta(minutes=97))
    status, seen = drive(live, LiveModeClock(poll_seconds=0.0, now=now))
    assert status == "completed"
    assert week_of_trading(live) == expected
    assert sum("live quotes unavailable" in getattr(e, "content", "") for e in seen) == 1


def test_a_mock_run_stopped_mid_day_resumes_as_if_never_stopped(tmp_path: Path):
    reference = make_engine(tmp_path / "reference", "mock")
    clock = MockModeClock(speed=0.0, tick_seconds=0.0)
    fast_forward_on_every_tick(reference, clock, lambda: 120.0)
    assert drive(reference, clock)[0] == "completed"
    expected = week_of_trading(reference)

    first = make_engine(tmp_path / "chain", "mock")
    clock = MockModeClock(speed=0.0, tick_seconds=0.0)
    fast_forward_on_every_tick(first, clock, lambda: 120.0)

    def stop_in_the_third_day(event: Any) -> None:
        if event.type == "pipeline_stage" and event.date == "2025-02-18" and event.stage == "execution" \
                and event.status == "finished":
            first.request_stop()
    first.event.connect(stop_in_the_third_day)
    assert drive(first, clock)[0] == "stopped"
    assert first.state.last_completed_date == "2025-02-14"

    again = make_engine(tmp_path / "chain", "mock")
    clock = MockModeClock(speed=0.0, tick_seconds=0.0)
    fast_forward_on_every_tick(again, clock, lambda: 120.0)
    status, seen = drive(again, clock)
    assert status == "completed"
    assert [e.content for e in seen if e.type == "system" and "Resuming" in e.content] == \
        ["Resuming run r after 2025-02-14"]
    got = week_of_trading(again)
    assert {k: got[k] for k in ("trades", "checkpoint", "status")} == \
        {k: expected[k] for k in ("trades", "checkpoint", "status")}


# -- the clocks, over random weeks and steps --------------------------------------------
START = dt.date(2025, 1, 2)
starts = st.dates(min_value=START, max_value=dt.date(2025, 6, 20))
spans = st.integers(min_value=0, max_value=6)
steps = st.lists(st.integers(min_value=30, max_value=36 * 60), min_size=1, max_size=12)   # minutes


def _cycle(minutes: list[int]) -> Callable[[], int]:
    it = itertools.cycle(minutes)
    return lambda: next(it)


def _check_the_days(seen: list[Any], days: list[dt.date]) -> None:
    """Each trading day once, in order; each stage once, in protocol order, at its market time."""
    assert [e.date for e in seen if e.type == "day_start"] == [d.isoformat() for d in days]
    assert [e.date for e in seen if e.type == "day_complete"] == [d.isoformat() for d in days]
    stages = [e for e in seen if e.type == "pipeline_stage"]
    assert [(e.date, e.stage, e.status) for e in stages] == \
        [(d.isoformat(), s, x) for d in days for s in STAGES for x in ("started", "finished")]
    stamps = [e.ts for e in seen if getattr(e, "ts", None) is not None]
    assert stamps == sorted(stamps) and len(set(stamps)) == len(stamps), "event times go back"
    for e in stages:
        day = dt.date.fromisoformat(e.date)
        at_ms = int(calendar.stage_at(day, e.stage).timestamp() * 1000)
        assert at_ms <= e.ts < int(calendar.at(day + dt.timedelta(days=1), dt.time(0)).timestamp() * 1000)
    for e in seen:
        if e.type == "pipeline_stage" and e.stage == "execution" and e.status == "started":
            assert calendar.at(dt.date.fromisoformat(e.date), calendar.MARKET_OPEN) <= \
                dt.datetime.fromtimestamp(e.ts / 1000, tz=calendar.NEW_YORK) < \
                calendar.close_at(dt.date.fromisoformat(e.date))


def _check_days_run_when_due(readings: list[dt.datetime], started_at: dict[str, dt.datetime]) -> None:
    """A day runs at the first turn of the clock after its close, never before."""
    assert readings == sorted(readings), "the clock went back"
    for iso, when in started_at.items():
        close = calendar.close_at(dt.date.fromisoformat(iso))
        assert when >= close, f"{iso} ran at {when}, before its close"
        earlier = [r for r in readings if r < when]
        assert not earlier or earlier[-1] < close, f"{iso} was due at {earlier[-1]} but ran at {when}"


@pytest.fixture(scope="module")
def roots(tmp_path_factory) -> Iterator[Path]:
    yield tmp_path_factory.mktemp("clocks")


class ManualNow:
    """A New York clock the test moves by hand."""

    def __init__(self, start: dt.datetime) -> None:
        self.current = start

    def __call__(self) -> dt.datetime:
        return self.current


_counter = itertools.count()


@hsettings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(mode=st.sampled_from(["backtest", "mock", "live"]), start=starts, span=spans, minutes=steps,
       lead=st.integers(min_value=0, max_value=24 * 60))
def test_clocks_run_each_stage_of_each_trading_day_once_within_market_hours(roots, finnhub, mode, start, span,
                                                                         minutes, lead):
    end = start + dt.timedelta(days=span)
    days = calendar.trading_days(start, end)
    if not days:   # a weekend or holiday alone: the run has nothing to do
        days = [calendar.next_trading_day(end)]
        end = days[0]
    engine = make_engine(roots / f"ex{next(_counter)}", mode, finnhub if mode == "live" else None,
                         start_date=start.isoformat(), end_date=end.isoformat())
    step = _cycle(minutes)
    readings: list[dt.datetime] = []          # the clock's time at each turn of the loop
    started_at: dict[str, dt.datetime] = {}   # the clock's time when each day started
    if mode == "backtest":
        clock: Any = BacktestClock()
    elif mode == "mock":
        clock = MockModeClock(speed=0.0, tick_seconds=0.0)   # moves only when fast-forwarded
        engine.event.connect(lambda e: readings.append(clock.now()) if e.type == "time_update" else None)
        fast_forward_on_every_tick(engine, clock, step)
    else:
        now = ManualNow(calendar.at(days[0], dt.time(0)) - dt.timedelta(minutes=lead))
        clock = LiveModeClock(poll_seconds=0.0, now=now)

        in_day = {"now": False}   # settlement streams its own price_updates, at market time

        def poll_seen(event: Any) -> None:   # one price_update per ticker and poll: move on after the first
            if event.type in ("day_start", "day_complete"):
                in_day["now"] = event.type == "day_start"
            elif event.type == "price_update" and event.symbol == TICKERS[0] and not in_day["now"]:
                readings.append(dt.datetime.fromisoformat(event.timestamp))
                now.current += dt.timedelta(minutes=step())
        engine.event.connect(poll_seen)

    def on_day_start(event: Any) -> None:
        if event.type == "day_start" and readings:
            started_at[event.date] = readings[-1]
    engine.event.connect(on_day_start)

    status, seen = drive(engine, clock)
    assert status == "completed"
    _check_the_days(seen, days)
    if mode == "backtest":
        assert not any(e.type in ("time_update", "market_status_update") for e in seen)
        return
    assert set(started_at) == {d.isoformat() for d in days}
    _check_days_run_when_due(readings, started_at)
    statuses = [_plain(e.market_status) for e in seen if e.type == "market_status_update"]
    assert statuses, "the session is announced"
    for ms in statuses:
        when = dt.datetime.fromisoformat(ms["current_time"])
        assert ms["status"] == calendar.session_at(when)
        assert ms["is_trading_day"] == calendar.is_trading_day(when.date())
        assert (ms["market_open"], ms["market_close"]) == ("09:30", "16:00")
    if mode == "mock":
        prices = [e for e in seen if e.type == "price_update"]
        assert prices and all(calendar.is_trading_day(dt.datetime.fromisoformat(e.timestamp).date())
                              for e in prices)


def _plain(status: Any) -> dict[str, Any]:
    return status if isinstance(status, dict) else status.model_dump(mode="json")
