"""HistoryModel and panel against real runtime_service and trading_service over real backtests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from app.models.history_model import HistoryModel
from backend.clients.http import ServiceClient
from backend.clients.services import RuntimeServiceClient, TradingServiceClient
from app.qt.panels.history import HistoryPanel
from tests.support.service_process import clients_of
from tests.support.waiting import until
from tests.desk.test_history_model import backtest
from tests.desk.test_workspaces_service import running_services


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    root = tmp_path_factory.mktemp("history-services")
    backtest(root, "alpha", seed=7)
    backtest(root, "beta", seed=11)
    with running_services(root, "runtime", "trading") as started:
        yield {"root": root, **started}


@pytest.fixture
async def model(stack: dict[str, Any]) -> Any:
    async with clients_of(stack, "runtime", "trading") as (runtime, trading):
        yield HistoryModel(RuntimeServiceClient(runtime), TradingServiceClient(trading),
                           runs_dir=stack["root"] / "runs")


async def test_rows_come_from_runtime_service(model: HistoryModel) -> None:
    assert await model.refresh()
    assert [r.run_id for r in model.runs] == ["beta", "alpha"]
    alpha = model.row("alpha")
    assert alpha.status == "completed" and alpha.trades > 0 and alpha.excess["momentum"] is not None


async def test_open_run_loads_state_trades_and_bootstrap(model: HistoryModel, stack: dict[str, Any]) -> None:
    detail = await model.open_run("alpha")
    runs: Path = stack["root"] / "runs"
    assert detail.bootstrap == (runs / "alpha" / "BOOTSTRAP.md").read_text()
    assert detail.runtime_state["status"] == "completed"
    assert detail.server_state["metrics"]["trades"] == detail.trades_total == len(detail.trades)
    assert detail.trades[0]["trading_date"] == "2025-01-02" and model.message is None


async def test_compare_fetches_curves_and_metrics_per_run(model: HistoryModel) -> None:
    comparison = await model.compare(["alpha", "beta", "missing"])
    assert list(comparison.curves) == ["alpha", "beta"]
    assert len(comparison.curves["alpha"]) == comparison.metrics["alpha"]["days"] > 15
    assert model.message.startswith("cannot compare missing: trading: 404")


def test_panel_compare_button_draws_one_curve_per_run(qtbot: Any, arun: Any, stack: dict[str, Any]) -> None:
    runtime = ServiceClient("runtime", stack["runtime"].url)
    trading = ServiceClient("trading", stack["trading"].url)
    panel = HistoryPanel(HistoryModel(RuntimeServiceClient(runtime), TradingServiceClient(trading)))
    qtbot.addWidget(panel)
    arun(panel.model.refresh())
    panel.throttle.flush()
    panel.select_runs(["alpha", "beta"])
    panel.compare_button.click()
    arun(until(lambda: panel.chart.curves, what="the comparison"))
    assert set(panel.chart.curves) == {"alpha", "beta"} and panel.metrics.rowCount() == 2
    panel.select_runs(["beta"])
    panel.open_button.click()
    arun(until(lambda: panel.trades.rowCount(), what="the trades"))
    assert panel.trades.rowCount() == panel.model.opened.trades_total
    # No runs folder on this machine (as for a remote profile): the panel says why there is no BOOTSTRAP.
    assert panel.bootstrap.toPlainText().startswith("BOOTSTRAP.md is only readable for runs on this machine")
    arun(runtime.aclose())
    arun(trading.aclose())
