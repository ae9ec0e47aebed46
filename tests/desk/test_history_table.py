"""The Run history table over 1,000 runs: a QTableView on a model, every row shown as its run says, sorted by the
figure a column shows (runs without it last), the selection following its runs through a sort and a refresh."""

from __future__ import annotations

import random
from typing import Any

import pytest
from PySide6.QtCore import Qt

from app.models.history_model import HistoryModel, RunRow
from app.qt.panels.history import HistoryPanel
from app.qt.panels.history_table import RUN_COLUMNS
from app.qt.widgets.metrics_table import format_value

STATUSES = ("completed", "failed", "stopped", "running")


def rows(n: int, seed: int = 3) -> list[RunRow]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        figures = None if i % 9 == 0 else {
            "total_return_pct": round(rng.uniform(-40, 80), 3), "max_drawdown_pct": round(rng.uniform(0, 50), 3),
            "sharpe": round(rng.uniform(-2, 3), 3), "trades": rng.randrange(0, 9000),
            "excess_return_pct": {"baseline": round(rng.uniform(-9, 9), 3), "baseline_vw": None,
                                  "momentum": round(rng.uniform(-9, 9), 3)}}
        out.append(RunRow.from_api({"run_id": f"run-{i:04d}", "mode": rng.choice(("backtest", "mock")),
                                    "tickers": ["AAPL"], "start_date": f"20{10 + i % 15}-01-02",
                                    "end_date": "2025-12-31", "status": rng.choice(STATUSES),
                                    "progress": 1.0, "metrics": figures}))
    return sorted(out, key=lambda r: r.run_id, reverse=True)


@pytest.fixture
def panel(qtbot: Any) -> HistoryPanel:
    model = HistoryModel()
    view = HistoryPanel(model)
    qtbot.addWidget(view)
    model.runs = rows(1000)
    model._emit("runs")
    view.throttle.flush()
    return view


def column_values(panel: HistoryPanel, column: int) -> list[str]:
    return [panel.cell_text(r, column) for r in range(panel.table_model.rowCount())]


def test_a_thousand_runs_show_one_model_row_each_as_their_rows_say(panel: HistoryPanel) -> None:
    assert panel.table_model.rowCount() == 1000 and panel.runs.model() is panel.table_model
    assert column_values(panel, 0) == [r.run_id for r in panel.model.runs]
    by_id = {r.run_id: r for r in panel.model.runs}
    for r in (0, 1, 500, 999):
        row = by_id[panel.cell_text(r, 0)]
        assert panel.cell_text(r, 3) == (row.status if row.finished else f"{row.status} {row.progress:.0%}")
        assert panel.cell_text(r, 9) == format_value("sharpe", row.sharpe)
        assert panel.cell_text(r, 10) == format_value("trades", row.trades)
        if row.trades is not None:
            assert panel.cell_text(r, 10) == f"{row.trades:,}"


@pytest.mark.parametrize("column", [4, 8, 9, 10, 2, 3])
@pytest.mark.parametrize("order", [Qt.SortOrder.AscendingOrder, Qt.SortOrder.DescendingOrder])
def test_sorting_a_column_orders_by_its_figure_with_missing_ones_last(panel: HistoryPanel, column: int,
                                                                      order: Qt.SortOrder) -> None:
    figure = {4: lambda r: r.total_return, 8: lambda r: r.drawdown, 9: lambda r: r.sharpe,
              10: lambda r: r.trades, 2: lambda r: (r.start_date, r.end_date), 3: lambda r: r.status}[column]
    panel.runs.sortByColumn(column, order)
    by_id = {r.run_id: r for r in panel.model.runs}
    shown = [by_id[run_id] for run_id in column_values(panel, 0)]
    have = [figure(r) for r in shown if figure(r) is not None]
    assert have == sorted(have, reverse=order == Qt.SortOrder.DescendingOrder)
    assert all(figure(r) is None for r in shown[len(have):])
    if column in (4, 8, 9, 10):
        assert len(have) < len(shown)  # every ninth run has no figures yet


def test_the_selection_follows_its_runs_through_a_sort_and_a_refresh(panel: HistoryPanel) -> None:
    panel.select_runs(["run-0007", "run-0500"])
    assert set(panel.selected_ids()) == {"run-0007", "run-0500"} and panel.compare_button.isEnabled()
    panel.runs.sortByColumn(9, Qt.SortOrder.AscendingOrder)
    assert set(panel.selected_ids()) == {"run-0007", "run-0500"}
    panel.model.runs = rows(1000, seed=4)  # new figures from runtime_service
    panel.model._emit("runs")
    panel.throttle.flush()
    assert set(panel.selected_ids()) == {"run-0007", "run-0500"}
    by_id = {r.run_id: r for r in panel.model.runs}
    sharpe = [by_id[i].sharpe for i in column_values(panel, 0) if by_id[i].sharpe is not None]
    assert sharpe == sorted(sharpe)  # the refresh kept the user's sort
    assert panel.table_model.headerData(9, Qt.Orientation.Horizontal) == RUN_COLUMNS[9] == "Sharpe"
