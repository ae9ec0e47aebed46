"""HistoryModel and panel against real runtime_service and trading_service over real backtests."""

from __future__ import annotations

import asyncio
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


def test_a_viewer_replays_a_remote_run_streamed_from_runtime_service(qtbot: Any, arun: Any,
                                                                      stack: dict[str, Any]) -> None:
    """No runs folder on this machine (a remote profile): the replay reads GET /runs/{id}/events page by page."""
    from app.models import history_model
    from app.qt.panels.live import LivePanel

    runtime = ServiceClient("runtime", stack["runtime"].url)
    pages: list[int] = []
    real_get_raw = runtime.get_raw

    async def get_raw(path: str, **params: Any) -> Any:
        response = await real_get_raw(path, **params)
        if path.endswith("/events"):
            pages.append(len(response.content.splitlines()))
        return response

    runtime.get_raw = get_raw  # type: ignore[method-assign]
    panel = HistoryPanel(HistoryModel(RuntimeServiceClient(runtime)))
    live = LivePanel()
    qtbot.addWidget(panel)
    qtbot.addWidget(live)
    panel.live_panel = live
    arun(panel.model.refresh())
    panel.throttle.flush()
    panel.select_runs(["alpha"])
    assert panel.model.events_log("alpha") is None  # nothing local: it has to stream
    assert panel.replay_button.isEnabled() and "runtime_service" in panel.replay_button.toolTip()
    panel.speed.setValue(0)
    old_page = history_model.REPLAY_PAGE_LINES
    history_model.REPLAY_PAGE_LINES = 300
    try:
        panel.replay_button.click()
        arun(until(lambda: live.model.applied and not live.model.replaying and "finished" in
                   live.replay_banner.text(), what="the streamed replay to finish"))
    finally:
        history_model.REPLAY_PAGE_LINES = old_page
    lines = (stack["root"] / "runs" / "alpha" / "logs" / "events.jsonl").read_text().splitlines()
    assert live.model.applied == len(lines) and live.model.refused == 0
    assert live.model.run_id == "alpha" and live.model.status == "completed"
    assert max(pages) <= 300 and sum(pages) == len(lines)  # never more than a page held
    assert "streamed from runtime_service" in panel.message.text() and "alpha" in live.replay_banner.text()
    arun(runtime.aclose())


async def test_a_replay_hands_the_loop_back_while_it_applies(stack: dict[str, Any]) -> None:
    """The replay yields between slices: a ticking task keeps running all through a max-speed replay."""
    from app.models.live_model import LiveModel

    log = stack["root"] / "runs" / "beta" / "logs" / "events.jsonl"
    model = LiveModel()
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0)

    task = asyncio.ensure_future(ticker())
    try:
        applied = await model.replay(log, speed=0, batch=50)
    finally:
        task.cancel()
    assert applied == sum(1 for _ in log.open()) and model.refused == 0
    assert ticks >= applied // 50  # the loop ran at least once per batch of 50 events
