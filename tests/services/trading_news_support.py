"""Helpers for the trading_service / news_service tests: real backtests, real servers."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Iterator

import httpx

ROOT = Path(__file__).resolve().parents[2]
EVOTRADERS = Path(sys.executable).parent / "evotraders"
# Four weeks on four tickers: 19 trading days (Feb 17 is a holiday), ~20 trades, ~1 s.
SHORT_RUN = ("--start", "2025-02-03", "--end", "2025-02-28", "--tickers", "AAPL,MSFT,NVDA,TSLA")
SHORT_RUN_DAYS = 19
SHORT_RUN_TICKERS = ["AAPL", "MSFT", "NVDA", "TSLA"]


def data_env(root: Path, **extra: str) -> dict[str, str]:
    """Environment whose runs/ and workspaces/ are under ``root``, with no tokens inherited."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("EVOTRADERS_", "AGENT_"))}
    env.update(RUNS_DIR=str(root / "runs"), WORKSPACES_DIR=str(root / "workspaces"), PYTHONUNBUFFERED="1")
    env.update(extra)
    return env


def make_backtest(root: Path, run_id: str, *args: str) -> Path:
    """Run ``evotraders backtest`` into ``root/runs/<run_id>``; returns the run folder."""
    proc = subprocess.run([str(EVOTRADERS), "backtest", "--run-id", run_id, *(args or SHORT_RUN)],
                          env=data_env(root), cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"backtest failed: {proc.stderr[-2000:]}"
    return root / "runs" / run_id


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Service:
    """A service started as ``python -m backend.apps.<name> --port <free>``.

    Args:
        name: ``trading_service`` or ``news_service``.
        env: its environment (RUNS_DIR, tokens, ...).
    """

    def __init__(self, name: str, env: dict[str, str]) -> None:
        self.name = name
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen([sys.executable, "-m", f"backend.apps.{name}", "--port", str(self.port)],
                                     env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     text=True, start_new_session=True)
        self._wait_ready()

    def _wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                out = self.proc.stdout.read() if self.proc.stdout else ""
                raise AssertionError(f"{self.name} exited with {self.proc.returncode}: {out[-2000:]}")
            try:
                if httpx.get(f"{self.url}/health", timeout=1.0).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        self.stop()
        raise AssertionError(f"{self.name} did not answer /health within {timeout} s")

    def __enter__(self) -> "Service":
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        if self.proc.stdout:
            self.proc.stdout.close()


def run_service(name: str, env: dict[str, str]) -> Iterator[Service]:
    """Generator body for fixtures: start, yield, always stop."""
    service = Service(name, env)
    try:
        yield service
    finally:
        service.stop()


def jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def day_events(run: Path, date: str) -> list[dict[str, Any]]:
    """The events logged between ``day_start`` of ``date`` and the next ``day_start``."""
    out: list[dict[str, Any]] = []
    inside = False
    for event in jsonl(run / "logs/events.jsonl"):
        if event["type"] == "day_start":
            inside = event["date"] == date
        elif inside:
            out.append(event)
    return out
