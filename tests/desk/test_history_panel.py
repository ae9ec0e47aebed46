"""HistoryPanel with qtbot over real backtests: table, comparison chart (one curve per run), replay hand-off."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from app.models.history_model import Comparison, HistoryModel, RunRow
from app.qt.panels.history import HistoryPanel
from tests.support.waiting import until
from tests.desk.test_history_model import runs_root, store  # noqa: F401 - module fixture

__all__ = ["runs_root"]


def comparison_of(root: Path, run_ids: list[str]) -> Comparison:
    """What trading_service's curves/metrics answer for these runs, read from their state files."""
    result = Comparison()
    for run_id in run_ids:
        state = json.loads((root / "runs" / run_id / "state" / "server_state.json").read_text())
        result.curves[run_id] = [(p["t"], p["v"]) for p in state["portfolio"]["equity"]]
        result.metrics[run_id] = state["metrics"]
    return result


@pytest.fixture
def panel(qtbot: Any, runs_root: Path) -> HistoryPanel:  # noqa: F811
    model = HistoryModel(runs_dir=runs_root / "runs")
    view = HistoryPanel(model)
    qtbot.addWidget(view)
    model.runs = [RunRow.from_api(store(runs_root).summary(r)) for r in ("beta", "alpha")]
    model._emit("runs")
    view.throttle.flush()
    return view


def test_table_shows_every_run_with_figures(panel: HistoryPanel) -> None:
    assert panel.table_model.rowCount() == 2
    assert [panel.cell_text(r, 0) for r in range(2)] == ["beta", "alpha"]
    alpha = panel.model.row("alpha")
    assert panel.cell_text(1, 3) == "completed"
    assert panel.cell_text(1, 4) == f"{alpha.total_return:+.2f}"
    assert panel.cell_text(1, 10) == f"{alpha.trades:,}"


def test_compare_draws_one_curve_per_run_and_a_metrics_row_each(panel: HistoryPanel, runs_root: Path) -> None:  # noqa: F811
    panel.select_runs(["alpha", "beta"])
    assert panel.compare_button.isEnabled() and not panel.open_button.isEnabled()
    panel.model.show_comparison(comparison_of(runs_root, ["alpha", "beta"]))
    assert set(panel.chart.curves) == {"alpha", "beta"}
    xs, ys = panel.chart.curves["alpha"].getData()
    days = len(panel.model.comparison.curves["alpha"])
    assert len(xs) == days and ys[0] == 0.0
    assert ys[-1] == pytest.approx(panel.model.comparison.metrics["alpha"]["total_return_pct"])
    assert panel.metrics.rowCount() == 2
    sharpe = panel.model.comparison.metrics["beta"]["sharpe"]
    assert panel.metrics.value("beta", "Sharpe") == f"{sharpe:.2f}"
    assert panel.details.currentIndex() == 1  # the Compare tab is brought forward
    panel.model.show_comparison(comparison_of(runs_root, ["beta"]))  # fewer runs: old curves go
    assert set(panel.chart.curves) == {"beta"}


def test_replay_plays_the_run_through_the_live_panel(qtbot: Any, arun: Any, panel: HistoryPanel,
                                                     runs_root: Path) -> None:  # noqa: F811
    from app.qt.panels.live import LivePanel

    live = LivePanel()
    qtbot.addWidget(live)
    panel.live_panel = live
    panel.select_runs(["alpha"])
    assert panel.replay_button.isEnabled() and panel.folder_button.isEnabled()
    panel.speed.setValue(0)  # as fast as possible
    panel.replay_button.click()
    arun(until(lambda: live.model.applied and not live.model.replaying, what="the replay to finish"))
    lines = (runs_root / "runs" / "alpha" / "logs" / "events.jsonl").read_text().splitlines()
    assert live.model.applied == len(lines)
    assert live.model.run_id == "alpha" and live.model.status == "completed"
    days = len(comparison_of(runs_root, ["alpha"]).curves["alpha"])
    assert len(live.model.curves["equity"].ys) == days
    assert "replaying alpha" in panel.message.text()


def test_remote_runs_cannot_be_opened_as_folders_and_replay_only_through_runtime_service(
        panel: HistoryPanel) -> None:
    panel.model.runs_dir = None
    panel.select_runs(["alpha"])
    assert not panel.folder_button.isEnabled()
    # No runs folder and no runtime_service: nothing to replay from.
    assert not panel.replay_button.isEnabled() and "finished run" in panel.replay_button.toolTip()
