"""Helpers for the trading_service / news_service tests: real backtests, real servers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Iterator

import pytest

from tests.support.service_process import ServiceProcess


ROOT = Path(__file__).resolve().parents[2]
EVOTRADERS = Path(sys.executable).parent / "evotraders"
# Four weeks on four tickers: 19 trading days (Feb 17 is a holiday), ~20 trades, ~1 s.
SHORT_RUN = ("--start", "2025-02-03", "--end", "2025-02-28", "--tickers", "AAPL,MSFT,NVDA,TSLA")
SHORT_RUN_DAYS = 19
SHORT_RUN_TICKERS = ["AAPL", "MSFT", "NVDA", "TSLA"]
ANALYSTS = ["fundamentals_analyst", "technical_analyst", "sentiment_analyst", "valuation_analyst"]


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


def backtest_data(name: str, run_id: str) -> Any:
    """A module-scoped ``data`` fixture: a fresh folder ``name`` holding the short backtest ``run_id``."""

    @pytest.fixture(scope="module")
    def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
        root = tmp_path_factory.mktemp(name)
        make_backtest(root, run_id)
        return root

    return data


def Service(name: str, env: dict[str, str]) -> ServiceProcess:  # noqa: N802 - reads like the class it was
    """``name`` started as ``python -m backend.apps.<name> --port <free>`` and healthy."""
    return ServiceProcess(name, env).start()


def run_service(name: str, env: dict[str, str]) -> Iterator[ServiceProcess]:
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
