"""Helpers to run the Gateway as a real subprocess in tests."""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import websockets
from websockets.asyncio.client import connect

ROOT = Path(__file__).resolve().parents[2]
LISTEN_RE = re.compile(r"gateway listening on (ws://\S+) ")


def gateway_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EVOTRADERS_")}
    env.update(RUNS_DIR=str(tmp_path / "runs"), WORKSPACES_DIR=str(tmp_path / "ws"), PYTHONUNBUFFERED="1")
    env.update(extra)
    return env


def start_gateway(env: dict[str, str], *args: str) -> tuple[subprocess.Popen, str]:
    """Start `python -m gateway --port 0 ...`; returns the process and its ws:// URL."""
    proc = subprocess.Popen([sys.executable, "-m", "gateway", "--port", "0", *args], env=env, cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    match = LISTEN_RE.search(line)
    if not match:
        proc.kill()
        raise AssertionError(f"gateway did not start: {line!r} {proc.stderr.read() if proc.stderr else ''}")
    return proc, match.group(1)


async def recv_json(ws: Any, timeout: float = 30.0) -> dict[str, Any]:
    return json.loads(await asyncio.wait_for(ws.recv(), timeout))


async def collect_until(ws: Any, predicate, timeout: float = 120.0) -> list[dict[str, Any]]:
    """Every frame until (and including) the first one matching ``predicate``."""
    frames = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        frame = await recv_json(ws, max(0.1, deadline - loop.time()))
        frames.append(frame)
        if predicate(frame):
            return frames


__all__ = ["collect_until", "connect", "gateway_env", "recv_json", "start_gateway", "websockets"]
