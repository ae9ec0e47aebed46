"""The 1-year backtest of bench/backtest.py, run through a Gateway subprocess
with one connected WebSocket client (used by ``bench/backtest.py --via-gateway``)."""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

from websockets.asyncio.client import connect

ROOT = Path(__file__).resolve().parents[1]


def run_via_gateway(tmp: Path, year: dict) -> tuple[int, float]:
    env = {**os.environ, "RUNS_DIR": str(tmp / "gw-runs"), "WORKSPACES_DIR": str(tmp / "gw-ws")}
    args = [sys.executable, "-m", "gateway", "--run-id", "gwbench", "--port", "0", "--paused", "--exit-when-done",
            "--create", "--start", year["start_date"], "--end", year["end_date"], "--tickers", ",".join(year["tickers"])]
    proc = subprocess.Popen(args, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    url = re.search(r"(ws://\S+) ", proc.stdout.readline()).group(1)

    async def watch() -> tuple[int, float]:
        async with connect(url + "?curves=incremental", max_size=None) as ws:
            await ws.recv()  # hello
            await ws.recv()  # initial_state
            started = time.perf_counter()
            await ws.send(json.dumps({"type": "resume"}))
            days = 0
            async for raw in ws:
                frame = json.loads(raw)
                if frame["type"] == "day_complete":
                    days += 1
                elif frame["type"] == "run_status" and frame["status"] in ("completed", "failed", "stopped"):
                    return days, time.perf_counter() - started
        raise RuntimeError("the Gateway closed before the run completed")

    try:
        return asyncio.run(watch())
    finally:
        proc.wait(timeout=60)
