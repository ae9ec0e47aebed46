"""A real approvals stack for tests and the benchmark: agent_service and Gateways as subprocesses."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from backend.security.tokens import Role, TokenRegistry
from backend.storage.run_store import RunStore
from backend.storage.workspaces import WorkspaceStore
from tests.e2e.gateway_process import collect_until, connect, recv_json

ROOT = Path(__file__).resolve().parents[2]
# On this day the default (rules) team trading these tickers orders three things, NVDA held:
# AAPL long 14 (~4.2k), MSFT long 23 (~10.3k), TSLA short 17 (~7.4k, a new short).
DAY = "2025-02-03"
TICKERS = "AAPL,MSFT,NVDA,TSLA"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def stack_env(root: Path, registry: TokenRegistry, agent_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EVOTRADERS_")}
    env.update(RUNS_DIR=str(root / "runs"), WORKSPACES_DIR=str(root / "ws"), PYTHONUNBUFFERED="1",
               AGENT_SERVICE_URL=agent_url, SKILL_SANDBOX_MODE="none", **registry.as_env())
    return env


def create_run(root: Path, run_id: str, approval: dict[str, Any], start: str = DAY, end: str = DAY,
               tickers: str = TICKERS) -> None:
    runs = RunStore(root / "runs", WorkspaceStore(root / "ws"))
    runs.create_run("default", run_id=run_id, overrides={
        "start_date": start, "end_date": end, "tickers": tickers.split(","), "approval": approval})


class AgentService:
    """``python -m backend.apps.agent_service`` on a fixed port, restartable on the same one.

    Args:
        env: its environment (RUNS_DIR, tokens, ...).
        log_path: where its output goes.
    """

    def __init__(self, env: dict[str, str], log_path: Path, port: int | None = None) -> None:
        self.env = env
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 30.0) -> "AgentService":
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen([sys.executable, "-m", "backend.apps.agent_service", "--port", str(self.port)],
                                     env=self.env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"agent_service exited: {self.log_path.read_text()[-2000:]}")
            try:
                if httpx.get(f"{self.url}/health", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise AssertionError(f"agent_service not healthy after {timeout} s: {self.log_path.read_text()[-2000:]}")

    def kill(self) -> None:
        """SIGKILL: no chance to flush or say goodbye."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()


def token(registry: TokenRegistry, role: Role) -> str:
    return registry.tokens[role]


async def open_and_resume(url: str, token_: str) -> Any:
    """Connect to a paused Gateway, read hello and initial_state, resume the run."""
    ws = await connect(f"{url}?token={token_}")
    assert (await recv_json(ws))["type"] == "hello"
    assert (await recv_json(ws))["type"] == "initial_state"
    await ws.send(json.dumps({"type": "resume"}))
    return ws


def is_status(*statuses: str):
    return lambda f: f["type"] == "run_status" and f["status"] in statuses


def is_done(frame: dict[str, Any]) -> bool:
    return frame["type"] == "run_status" and frame["status"] in ("completed", "failed", "stopped")


def traded(frames: list[dict[str, Any]]) -> dict[str, tuple[str, int]]:
    """ticker -> (action, quantity) of every trade in the frames."""
    return {t["ticker"]: (t["action"], t["quantity"])
            for f in frames if f["type"] == "team_trades" for t in f["data"]}


def positions(run_dir: Path) -> dict[str, float]:
    state = json.loads((run_dir / "state/server_state.json").read_text())
    return {h["ticker"]: h["quantity"] for h in state["holdings"] if h["ticker"] != "CASH" and h["quantity"]}


__all__ = ["AgentService", "collect_until", "connect", "create_run", "free_port", "is_done", "is_status",
           "open_and_resume", "positions", "recv_json", "stack_env", "token", "traded"]
