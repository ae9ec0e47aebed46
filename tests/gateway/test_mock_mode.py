"""Mock mode through a real Gateway: the virtual clock streams, and fast-forwarding past a close runs the day."""

from __future__ import annotations

import datetime as dt
import json
import signal

from backend.market import calendar
from backend.schema.events import STAGES
from tests.e2e.gateway_process import collect_until, connect, gateway_env, recv_json, start_gateway

FIRST, SECOND = dt.date(2025, 2, 13), dt.date(2025, 2, 14)
RUN_ARGS = ["--create", "--mode", "mock", "--start", FIRST.isoformat(), "--end", SECOND.isoformat(),
            "--tickers", "AAPL,MSFT,NVDA"]


def ny(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).astimezone(calendar.NEW_YORK)


async def test_fast_forward_past_each_close_runs_the_day_and_the_clock_streams(tmp_path):
    proc, url = start_gateway(gateway_env(tmp_path), "--run-id", "m", *RUN_ARGS)
    try:
        async with connect(url) as ws:
            hello = await recv_json(ws)
            assert hello["type"] == "hello" and hello["server_mode"] == "mock"
            state = (await recv_json(ws))["state"]
            assert state["is_mock_mode"] is True
            # The virtual clock starts on the first day, before the open.
            status = state["market_status"]
            assert ny(status["current_time"]).date() == FIRST
            assert (status["market_open"], status["market_close"]) == ("09:30", "16:00")

            ticks = await collect_until(ws, lambda f: f["type"] == "price_update")
            assert any(f["type"] == "time_update" for f in ticks)
            assert not any(f["type"] == "day_start" for f in ticks)   # nothing runs before the close

            await ws.send(json.dumps({"type": "fast_forward_time", "minutes": 7 * 60 + 5}))
            frames = await collect_until(ws, lambda f: f["type"] == "day_complete")
            reply = next(f for f in frames if f["type"] == "time_fast_forwarded")
            assert ny(reply["current_time"]) >= calendar.at(FIRST, dt.time(16, 5))
            after = frames[frames.index(reply):]
            assert [f["market_status"]["status"] for f in after if f["type"] == "market_status_update"][:1] == \
                ["afterhours"]
            assert [f["date"] for f in frames if f["type"] == "day_start"] == [FIRST.isoformat()]
            assert [(f["stage"], f["status"]) for f in frames if f["type"] == "pipeline_stage"] == \
                [(s, x) for s in STAGES for x in ("started", "finished")]

            await ws.send(json.dumps({"type": "fast_forward_time", "minutes": 24 * 60}))
            frames = await collect_until(ws, lambda f: f["type"] == "run_status" and f["status"] == "completed")
            assert [f["date"] for f in frames if f["type"] == "day_complete"] == [SECOND.isoformat()]
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()

    server = json.loads((tmp_path / "runs/m/state/server_state.json").read_text())
    assert server["status"] == "completed" and server["trading_days_completed"] == 2
    # The file's market status is the mock clock's, not a backtest's.
    assert server["market_status"]["status_text"] in ("After hours", "Market open", "Pre-market", "Market closed")
