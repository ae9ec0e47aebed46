"""Live mode against a local server that replays recorded Finnhub quotes (no internet)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from backend.config import load_settings
from backend.market.calendar import NEW_YORK
from backend.pipeline.day_loop import DayLoop
from backend.pipeline.engine import RunEngine
from backend.storage.run_store import RunStore
from backend.storage.workspaces import WorkspaceStore
from gateway.live_mode import LiveModeClock
from tests.market.finnhub_server import FIXTURES, running_finnhub

DAY = dt.date(2025, 3, 3)  # a Monday session


@pytest.fixture
def finnhub():
    with running_finnhub() as server:
        yield server


def quote(ticker: str) -> dict:
    return json.loads((FIXTURES / f"quote_{ticker}.json").read_text())


async def test_live_quotes_stream_and_the_day_runs_at_the_close(tmp_path: Path, finnhub):
    settings = load_settings(runs_dir=tmp_path / "runs", workspaces_dir=tmp_path / "ws",
                             finnhub_api_key="good", finnhub_base_url=finnhub.base_url)
    store = RunStore(settings.runs_dir, WorkspaceStore(settings.workspaces_dir))
    store.create_run("default", run_id="live", overrides={
        "mode": "live", "tickers": ["AAPL", "MSFT", "NVDA"], "start_date": "2025-02-24", "end_date": "2025-03-04"})
    engine = RunEngine(store, "live", settings)
    seen: list = []
    engine.event.connect(seen.append)
    clock = {"now": dt.datetime.combine(DAY, dt.time(15, 0), tzinfo=NEW_YORK)}
    session = DayLoop(engine, LiveModeClock(poll_seconds=0.01, now=lambda: clock["now"]))
    try:
        # Days before today are history, not traded.
        assert engine.remaining_dates == [DAY, dt.date(2025, 3, 4)]
        await session.turn()
        prices = {e.symbol: e.price for e in seen if e.type == "price_update"}
        assert prices == {t: quote(t)["c"] for t in ("AAPL", "MSFT", "NVDA")}
        assert [e.market_status.status for e in seen if e.type == "market_status_update"] == ["open"]
        assert not any(e.type == "day_start" for e in seen)  # before the close nothing runs

        clock["now"] = dt.datetime.combine(DAY, dt.time(16, 5), tzinfo=NEW_YORK)
        await session.turn()
        done = [e for e in seen if e.type == "day_complete"]
        assert [e.date for e in done] == [DAY.isoformat()]
        trades = store.read_trades("live")
        assert trades, "the team trades on its first live day"
        for trade in trades:  # executed at the day's open quote
            assert trade["price"] == quote(trade["ticker"])["o"]
        # Settled at the last quote.
        assert engine.state.prices["AAPL"]["price"] == pytest.approx(quote("AAPL")["c"], abs=1e-4)
        assert engine.remaining_dates == [dt.date(2025, 3, 4)]
    finally:
        await engine.close()


async def test_a_rejected_key_is_said_once_and_the_session_goes_on(tmp_path: Path, finnhub):
    settings = load_settings(runs_dir=tmp_path / "runs", workspaces_dir=tmp_path / "ws",
                             finnhub_api_key="revoked", finnhub_base_url=finnhub.base_url)
    store = RunStore(settings.runs_dir, WorkspaceStore(settings.workspaces_dir))
    store.create_run("default", run_id="live", overrides={
        "mode": "live", "tickers": ["AAPL"], "start_date": "2025-03-03", "end_date": "2025-03-04"})
    engine = RunEngine(store, "live", settings)
    seen: list = []
    engine.event.connect(seen.append)
    session = DayLoop(engine, LiveModeClock(poll_seconds=0.01,
                                            now=lambda: dt.datetime.combine(DAY, dt.time(11, 0), tzinfo=NEW_YORK)))
    try:
        await session.turn()
        await session.turn()
        notes = [e.content for e in seen if e.type == "system" and "live quotes" in e.content]
        assert len(notes) == 1 and "FINNHUB_API_KEY" in notes[0]
        assert not any(e.type == "price_update" for e in seen)
    finally:
        await engine.close()


def test_live_mode_without_a_key_fails_at_start_in_one_line(tmp_path: Path):
    import subprocess
    import sys

    env = {"RUNS_DIR": str(tmp_path / "runs"), "WORKSPACES_DIR": str(tmp_path / "ws"), "PATH": "/usr/bin:/bin"}
    proc = subprocess.run([sys.executable, "-m", "gateway", "--run-id", "l", "--create", "--mode", "live",
                           "--port", "0"], env=env, capture_output=True, text=True, timeout=60,
                          cwd=Path(__file__).resolve().parents[2])
    assert proc.returncode == 2
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip() and "INFO" not in ln]
    assert len(lines) == 1 and "FINNHUB_API_KEY" in lines[0], proc.stderr
