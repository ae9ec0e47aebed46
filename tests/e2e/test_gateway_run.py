"""The Gateway as a real process: a short backtest streamed to real clients."""

from __future__ import annotations

import json
import signal

import pytest

from backend.schema.events import STAGES
from backend.security.tokens import generate_registry
from tests.e2e.gateway_process import collect_until, connect, gateway_env, recv_json, start_gateway

RUN_ARGS = ["--create", "--start", "2025-02-03", "--end", "2025-02-14", "--tickers", "AAPL,MSFT,NVDA"]


def is_done(frame):
    return frame["type"] == "run_status" and frame["status"] in ("completed", "failed", "stopped")


async def test_two_clients_see_the_whole_run_in_protocol_order(tmp_path):
    env = gateway_env(tmp_path)
    proc, url = start_gateway(env, "--run-id", "g1", "--paused", *RUN_ARGS)
    try:
        # The watcher asks for incremental curves (as the desk does): it then gets the log's very lines.
        async with connect(url) as driver_ws, connect(url + "?curves=incremental") as watcher:
            for ws in (driver_ws, watcher):
                hello = await recv_json(ws)
                assert hello["type"] == "hello" and hello["run_id"] == "g1" and hello["server_mode"] == "backtest"
                assert hello["read_only"] is False and hello["protocol_version"]
                first_state = await recv_json(ws)
                assert first_state["type"] == "initial_state"
                assert first_state["state"]["trading_days_completed"] == 0
            await driver_ws.send(json.dumps({"type": "resume"}))
            frames = await collect_until(watcher, is_done)
            # After its last run_status a backtest announces its market status closed (docs/protocol.md).
            frames += await collect_until(watcher, lambda f: f["type"] == "market_status_update")
            await collect_until(driver_ws, is_done)
            await watcher.send(json.dumps({"type": "get_state"}))
            final = (await collect_until(watcher, lambda f: f["type"] == "initial_state"))[-1]["state"]
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()

    days = [f["date"] for f in frames if f["type"] == "day_start"]
    assert len(days) == 10
    for day in days:
        stages = [(f["stage"], f["status"]) for f in frames if f["type"] == "pipeline_stage" and f["date"] == day]
        assert stages == [(s, st) for s in STAGES for st in ("started", "finished")]
    # Within each day: day_start first, day_complete last, conference bracketed.
    order = [f["type"] for f in frames]
    assert order.index("day_start") < order.index("conference_start") < order.index("conference_end") \
        < order.index("team_trades" if "team_trades" in order else "team_holdings") < order.index("day_complete")

    run = tmp_path / "runs" / "g1"
    logged = [json.loads(line) for line in (run / "logs/events.jsonl").read_text().splitlines()]
    # The log is exactly what a passive incremental client received, preceded
    # only by what happened before it connected (the run announcing it is paused, and its market status).
    before = logged[: len(logged) - len(frames)]
    assert logged[len(before):] == frames
    assert all(f["append"] for f in frames if f["type"] == "team_summary")
    assert [(e["type"], e["status"] if "status" in e else e["market_status"]["status_text"]) for e in before] \
        == [("run_status", "paused"), ("market_status_update", "Backtest paused")]

    server = json.loads((run / "state/server_state.json").read_text())
    for key in ("holdings", "trades", "stats", "leaderboard", "portfolio", "realtime_prices"):
        assert server[key] == final[key], key
    assert final["trading_days_completed"] == 10 and final["status"] == "completed"
    assert server["feed_history"] == final["feed_history"]
    runtime = json.loads((run / "state/runtime_state.json").read_text())
    assert runtime["status"] == "completed" and runtime["days_completed"] == 10


async def test_sigkill_mid_run_then_restart_matches_an_uninterrupted_run(tmp_path):
    args = ["--create", "--start", "2025-02-03", "--end", "2025-03-14", "--tickers", "AAPL,MSFT,NVDA", "--seed", "3"]
    env_a = gateway_env(tmp_path / "a")
    proc, url = start_gateway(env_a, "--run-id", "r", "--exit-when-done", *args)
    assert proc.wait(timeout=120) == 0
    expected = json.loads((tmp_path / "a/runs/r/state/server_state.json").read_text())

    env_b = gateway_env(tmp_path / "b")
    proc, url = start_gateway(env_b, "--run-id", "r", "--pace", "0.05", *args)
    try:
        async with connect(url) as ws:
            await collect_until(ws, lambda f: f["type"] == "day_complete" and f["date"] >= "2025-02-20")
            # Let it get into the middle of the next day, then kill it hard.
            await collect_until(ws, lambda f: f["type"] == "pipeline_stage" and f["stage"] == "execution")
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    interrupted = json.loads((tmp_path / "b/runs/r/state/server_state.json").read_text())
    assert interrupted["status"] != "completed"

    proc, url = start_gateway(env_b, "--run-id", "r", "--exit-when-done", *args)
    assert proc.wait(timeout=120) == 0
    resumed = json.loads((tmp_path / "b/runs/r/state/server_state.json").read_text())
    assert resumed["status"] == "completed"
    assert resumed["portfolio"]["total_value"] == expected["portfolio"]["total_value"]
    assert resumed["holdings"] == expected["holdings"]
    assert resumed["stats"] == expected["stats"]
    trades_a = (tmp_path / "a/runs/r/state/trades.jsonl").read_text()
    trades_b = (tmp_path / "b/runs/r/state/trades.jsonl").read_text()
    assert trades_a == trades_b  # no trade lost or doubled


async def test_viewer_cannot_change_the_run(tmp_path):
    registry = generate_registry()
    env = gateway_env(tmp_path, **registry.as_env())
    proc, url = start_gateway(env, "--run-id", "v", "--paused", *RUN_ARGS)
    viewer_token = registry.as_env()["EVOTRADERS_VIEWER_TOKEN"]
    try:
        async with connect(f"{url}?token={viewer_token}") as ws:
            hello = await recv_json(ws)
            assert hello["read_only"] is True
            await recv_json(ws)  # initial_state
            for command in ({"type": "resume"}, {"type": "pause"}, {"type": "set_pace", "seconds": 0},
                            {"type": "start_backtest", "dates": ["2025-02-03"]}):
                await ws.send(json.dumps(command))
                reply = await recv_json(ws)
                assert reply["type"] == "error" and "read-only" in reply["message"], reply
            await ws.send(json.dumps({"type": "get_state"}))
            state = (await recv_json(ws))["state"]
            assert state["trading_days_completed"] == 0 and state["status"] != "running"
        with pytest.raises(Exception):
            async with connect(url) as ws:  # no token at all: refused
                await recv_json(ws, timeout=5)
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
