"""A real approvals stack for tests and the benchmark: agent_service and Gateways as subprocesses."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


from backend.security.tokens import Role, TokenRegistry
from backend.storage.run_store import RunStore
from backend.storage.workspaces import WorkspaceStore
from tests.e2e.gateway_process import collect_until, connect, recv_json
from tests.support.service_process import ServiceProcess, free_port  # noqa: F401 - free_port re-exported

# On this day the default (rules) team trading these tickers orders three things, NVDA held:
# AAPL long 14 (~4.2k), MSFT long 23 (~10.3k), TSLA short 17 (~7.4k, a new short).
DAY = "2025-02-03"
TICKERS = "AAPL,MSFT,NVDA,TSLA"


def stack_env(root: Path, registry: TokenRegistry, agent_url: str) -> dict[str, str]:
    """agent_service's environment: the role tokens and the run secret (a Gateway gets :func:`run_env`)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("EVOTRADERS_")}
    env.update(RUNS_DIR=str(root / "runs"), WORKSPACES_DIR=str(root / "ws"), PYTHONUNBUFFERED="1",
               AGENT_SERVICE_URL=agent_url, SKILL_SANDBOX_MODE="none", **registry.as_env(),
               **registry.run_secret_env())
    return env


def run_env(env: dict[str, str], registry: TokenRegistry, run_id: str) -> dict[str, str]:
    """``run_id``'s Gateway environment, as the RuntimeController builds it: its own run credential, no secret."""
    return {**env, **registry.gateway_env(run_id)}


def create_run(root: Path, run_id: str, approval: dict[str, Any], start: str = DAY, end: str = DAY,
               tickers: str = TICKERS) -> None:
    runs = RunStore(root / "runs", WorkspaceStore(root / "ws"))
    runs.create_run("default", run_id=run_id, overrides={
        "start_date": start, "end_date": end, "tickers": tickers.split(","), "approval": approval})


def AgentService(env: dict[str, str], log_path: Path, port: int | None = None) -> ServiceProcess:  # noqa: N802
    """agent_service on a fixed port, restartable on the same one (``start``, ``kill``, ``stop``)."""
    return ServiceProcess("agent_service", env, port=port, log_path=log_path)


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
           "open_and_resume", "positions", "recv_json", "run_env", "stack_env", "token", "traded"]
