"""HistoryModel without Qt, over real backtests: rows, local files, comparison math.

The service round trips (``GET /runs``, trades, curves, metrics) are in
``test_history_services.py`` against the real services.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from app.models.history_model import Comparison, HistoryModel, RunRow
from backend.config import load_settings
from backend.storage.run_store import RunStore

ROOT = Path(__file__).resolve().parents[2]


def backtest(root: Path, run_id: str, seed: int, end: str = "2025-01-31") -> None:
    """A real headless backtest into ``root/runs`` (about a second)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("EVOTRADERS_", "AGENT_", "SKILL_"))}
    env.update(RUNS_DIR=str(root / "runs"), WORKSPACES_DIR=str(root / "ws"))
    subprocess.run([sys.executable, "-m", "backend.cli.main", "backtest", "--end", end, "--run-id", run_id,
                    "--seed", str(seed), "--tickers", "AAPL,MSFT,NVDA"], env=env, cwd=ROOT, check=True,
                   capture_output=True, timeout=120)


@pytest.fixture(scope="module")
def runs_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("history")
    backtest(root, "alpha", seed=7)
    backtest(root, "beta", seed=11)
    return root


def store(root: Path) -> RunStore:
    return RunStore.from_settings(load_settings(runs_dir=root / "runs", workspaces_dir=root / "ws"))


def test_rows_carry_the_closing_figures(runs_root: Path) -> None:
    row = RunRow.from_api(store(runs_root).summary("alpha"))
    assert (row.run_id, row.mode, row.status, row.finished) == ("alpha", "backtest", "completed", True)
    assert row.start_date == "2025-01-02" and row.end_date == "2025-01-31"
    assert set(row.excess) == {"baseline", "baseline_vw", "momentum"}
    assert all(isinstance(v, float) for v in row.excess.values())
    assert row.trades and row.trades > 0 and row.drawdown is not None and row.sharpe is not None


def test_run_status_events_update_a_row(runs_root: Path) -> None:
    model = HistoryModel()
    model.runs = [RunRow.from_api(store(runs_root).summary("alpha"))]
    seen: list[str] = []
    model.changed.connect(lambda kind, _: seen.append(kind))
    model.apply_event({"type": "run_status", "run_id": "alpha", "status": "running", "progress": 0.5})
    model.apply_event({"type": "run_status", "run_id": "zeta", "status": "running", "progress": 0.5})
    assert model.runs[0].status == "running" and model.runs[0].progress == 0.5 and seen == ["runs"]


def test_local_folder_and_events_log_only_for_local_runs(runs_root: Path) -> None:
    local = HistoryModel(runs_dir=runs_root / "runs")
    assert local.run_folder("alpha") == runs_root / "runs" / "alpha"
    assert local.events_log("beta") == runs_root / "runs" / "beta" / "logs" / "events.jsonl"
    assert local.run_folder("missing") is None
    remote = HistoryModel(runs_dir=None)
    assert remote.run_folder("alpha") is None and remote.events_log("alpha") is None


async def test_open_run_reads_bootstrap_from_disk_even_with_services_down(runs_root: Path) -> None:
    from backend.clients.http import ServiceClient
    from backend.clients.services import RuntimeServiceClient, TradingServiceClient

    runtime, trading = ServiceClient("runtime", "http://127.0.0.1:9"), ServiceClient("trading", "http://127.0.0.1:9")
    model = HistoryModel(RuntimeServiceClient(runtime), TradingServiceClient(trading), runs_dir=runs_root / "runs")
    detail = await model.open_run("alpha")
    assert detail.bootstrap.startswith("---\n") and "run_id: alpha" in detail.bootstrap
    assert detail.trades == [] and model.message.startswith("run alpha partly loaded (state: runtime: cannot reach")
    await runtime.aclose()
    await trading.aclose()


def test_comparison_puts_runs_on_one_percent_axis(runs_root: Path) -> None:
    state = json.loads((runs_root / "runs" / "alpha" / "state" / "server_state.json").read_text())
    points = [(p["t"], p["v"]) for p in state["portfolio"]["equity"]]
    returns = Comparison.as_return(points)
    assert returns[0][1] == 0.0 and len(returns) == len(points)
    final = state["metrics"]["total_return_pct"]
    assert returns[-1][1] == pytest.approx(final, abs=1e-6)
    assert Comparison.as_return([]) == [] and Comparison.as_return([(1, 0.0), (2, 5.0)]) == []

