"""MetricsTable: closing figures of one or more runs, one row per run."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTableWidget, QTableWidgetItem, QWidget

from backend.trading.metrics import BASELINE_NAMES

BASELINE_LABELS = {"baseline": "vs EW", "baseline_vw": "vs VW", "momentum": "vs Mom"}
COLUMNS: tuple[tuple[str, str], ...] = (
    ("total_return_pct", "Return %"),
    *((f"excess:{n}", f"{BASELINE_LABELS[n]} pp") for n in BASELINE_NAMES),
    ("max_drawdown_pct", "Max DD %"),
    ("sharpe", "Sharpe"),
    ("trades", "Trades"),
    ("win_rate", "Win rate"),
)
GAIN, LOSS = QColor("#3fb950"), QColor("#f85149")


def format_value(key: str, value: Any) -> str:
    if value is None:
        return "-"
    if key == "trades":
        return f"{int(value):,}"
    if key == "win_rate":
        return f"{float(value) * 100:.0f} %"
    if key == "sharpe":
        return f"{float(value):.2f}"
    return f"{float(value):+.2f}" if key != "max_drawdown_pct" else f"{float(value):.2f}"


def metric(metrics: dict[str, Any], key: str) -> Any:
    if key.startswith("excess:"):
        return (metrics.get("excess_return_pct") or {}).get(key.split(":", 1)[1])
    return metrics.get(key)


class MetricsTable(QTableWidget):
    """Read-only table: rows are runs, columns are :data:`COLUMNS`; signed figures coloured."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(0, len(COLUMNS), parent)
        self.setHorizontalHeaderLabels([label for _, label in COLUMNS])
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.setAlternatingRowColors(True)

    def set_runs(self, metrics_by_run: dict[str, dict[str, Any]], colors: dict[str, str] | None = None) -> None:
        """One row per run (insertion order); ``colors`` tints each run's name like its curve."""
        self.setRowCount(len(metrics_by_run))
        self.setVerticalHeaderLabels(list(metrics_by_run))
        for row, (run_id, metrics) in enumerate(metrics_by_run.items()):
            header = self.verticalHeaderItem(row)
            if colors and run_id in colors and header is not None:
                header.setForeground(QColor(colors[run_id]))
            for col, (key, _) in enumerate(COLUMNS):
                value = metric(metrics, key)
                item = QTableWidgetItem(format_value(key, value))
                item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                if value is not None and (key == "total_return_pct" or key.startswith("excess:")):
                    item.setForeground(GAIN if float(value) >= 0 else LOSS)
                self.setItem(row, col, item)

    def value(self, run_id: str, label: str) -> str:
        """The shown text of one cell, by run and column label (tests)."""
        rows = [self.verticalHeaderItem(r).text() for r in range(self.rowCount())]
        cols = [lab for _, lab in COLUMNS]
        return self.item(rows.index(run_id), cols.index(label)).text()
