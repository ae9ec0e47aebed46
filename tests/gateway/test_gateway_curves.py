"""How a client asks for curves (docs/protocol.md, "Curves"), against a real Gateway subprocess:
``?curves=incremental`` gets the day's points, any other client whole curves each day, a bad
value is refused with 400 naming it."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from websockets.exceptions import InvalidStatus

from tests.e2e.gateway_process import collect_until, connect, gateway_env, recv_json, start_gateway

CURVES = ("equity", "baseline", "baseline_vw", "momentum", "equity_return", "baseline_return",
          "baseline_vw_return", "momentum_return")


def _done(frame: dict[str, Any]) -> bool:
    return frame["type"] == "run_status" and frame["status"] in ("completed", "failed", "stopped")


async def test_incremental_and_bounded_clients_both_end_with_the_runs_curves(tmp_path: Path) -> None:
    proc, url = start_gateway(gateway_env(tmp_path), "--run-id", "curves", "--create", "--end", "2025-01-14",
                              "--pace", "0", "--paused", "--tickers", "AAPL,MSFT")
    try:
        with pytest.raises(InvalidStatus) as refused:
            async with connect(url + "?curves=sometimes"):
                pass
        assert refused.value.response.status_code == 400
        assert b"curves must be given once, as one of incremental, bounded; got 'sometimes'" in \
            refused.value.response.body

        async with connect(url + "?curves=incremental", max_size=None) as inc, connect(url, max_size=None) as full:
            greetings = {}
            for name, ws in (("inc", inc), ("full", full)):
                hello, initial = await recv_json(ws), await recv_json(ws)
                assert hello["type"] == "hello" and initial["type"] == "initial_state"
                greetings[name] = hello["curves"]
            assert greetings == {"inc": "incremental", "full": "bounded"}
            await inc.send(json.dumps({"type": "resume"}))
            inc_frames, full_frames = await asyncio.gather(collect_until(inc, _done), collect_until(full, _done))
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    state = json.loads((tmp_path / "runs/curves/state/server_state.json").read_text())
    days = state["trading_days_total"]
    assert days == len(state["portfolio"]["equity"]) >= 6

    inc_summaries = [f for f in inc_frames if f["type"] == "team_summary"]
    full_summaries = [f for f in full_frames if f["type"] == "team_summary"]
    assert len(inc_summaries) == len(full_summaries) == days
    # Incremental: the day's point, at its index; applied in order they are the whole curves.
    assert [(f["append"], f["index"]) for f in inc_summaries] == [(True, i) for i in range(days)]
    for name in CURVES:
        assert [p for f in inc_summaries for p in f[name]] == state["portfolio"][name], name
    # Bounded (this run is shorter than the bound): every day the whole curve so far.
    assert all("append" not in f and "index" not in f for f in full_summaries)
    for name in CURVES:
        assert [len(f[name]) for f in full_summaries] == list(range(1, days + 1)), name
        assert full_summaries[-1][name] == state["portfolio"][name], name
    # Everything else is the same stream (but the reply to the resume command, sent to its sender only).
    def rest(frames: list[dict[str, Any]]) -> list[tuple[str, Any]]:
        return [(f["type"], f.get("date")) for f in frames if f["type"] != "team_summary" and "command" not in f]
    assert rest(inc_frames) == rest(full_frames) and len(rest(inc_frames)) > 50 * days
