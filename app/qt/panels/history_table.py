"""The Run history table: a QAbstractTableModel over the history rows, shown in a QTableView.

One model row per run, cells computed when the view asks for them (only
the visible ones are), so a thousand runs cost a list assignment, not ten
thousand table items. Sorting is the model's own (``sort``), by the value
a column shows: numbers as numbers, a run without the figure last in either
order; the selection follows its runs through a sort.
"""

from __future__ import annotations

from typing import Any, Callable

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTableView, QWidget

from app.models.history_model import RunRow
from app.qt.widgets.metrics_table import format_value

RUN_COLUMNS = ("Run", "Mode", "Dates", "Status", "Return %", "vs EW pp", "vs VW pp", "vs Mom pp", "Max DD %",
               "Sharpe", "Trades")
GAIN, LOSS = QColor("#3fb950"), QColor("#f85149")
RIGHT = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
RUN_ID_ROLE = Qt.ItemDataRole.UserRole

# What each column sorts by (the figure itself, not its text).
SORT_KEYS: tuple[Callable[[RunRow], Any], ...] = (
    lambda r: r.run_id, lambda r: r.mode, lambda r: (r.start_date, r.end_date), lambda r: r.status,
    lambda r: r.total_return, lambda r: r.excess.get("baseline"), lambda r: r.excess.get("baseline_vw"),
    lambda r: r.excess.get("momentum"), lambda r: r.drawdown, lambda r: r.sharpe, lambda r: r.trades,
)


def run_values(row: RunRow) -> list[tuple[str, float | None]]:
    """(text, signed value for colouring) per column."""
    signed = [row.total_return, row.excess.get("baseline"), row.excess.get("baseline_vw"),
              row.excess.get("momentum")]
    status = row.status if row.finished or not row.progress else f"{row.status} {row.progress:.0%}"
    return [(row.run_id, None), (row.mode, None), (f"{row.start_date} .. {row.end_date}", None), (status, None),
            *((format_value("total_return_pct", v), v) for v in signed),
            (format_value("max_drawdown_pct", row.drawdown), None), (format_value("sharpe", row.sharpe), None),
            (format_value("trades", row.trades), None)]


def sorted_rows(rows: list[RunRow], column: int, descending: bool) -> list[RunRow]:
    """Rows by the column's figure (ties by run id); rows without it last, whichever the order."""
    key = SORT_KEYS[column]
    present = [r for r in rows if key(r) is not None]
    missing = [r for r in rows if key(r) is None]
    present.sort(key=lambda r: (key(r), r.run_id), reverse=descending)
    missing.sort(key=lambda r: r.run_id, reverse=descending)
    return present + missing


class RunTableModel(QAbstractTableModel):
    """History rows as a table model; ``set_rows`` replaces them, keeping the current sort."""

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self.rows: list[RunRow] = []
        self._texts: dict[int, list[tuple[str, float | None]]] = {}  # row -> cells, filled as the view asks
        self.sort_column: int | None = None
        self.sort_order = Qt.SortOrder.DescendingOrder

    # -- Qt's model API -------------------------------------------------------------
    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: N802
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: N802
        return 0 if parent.isValid() else len(RUN_COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation,  # noqa: N802
                   role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return RUN_COLUMNS[section]
        return None

    def cells(self, r: int) -> list[tuple[str, float | None]]:
        cells = self._texts.get(r)
        if cells is None:
            cells = self._texts[r] = run_values(self.rows[r])
        return cells

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        r, c = index.row(), index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return self.cells(r)[c][0]
        if role == RUN_ID_ROLE:
            return self.rows[r].run_id
        if role == Qt.ItemDataRole.ForegroundRole:
            signed = self.cells(r)[c][1]
            return None if signed is None else (GAIN if signed >= 0 else LOSS)
        if role == Qt.ItemDataRole.TextAlignmentRole and c >= 4:
            return int(RIGHT.value)
        if role == Qt.ItemDataRole.ToolTipRole and c == 3:
            return self.rows[r].status_detail  # why a run is down ("crashed": its Gateway was given up on)
        return None

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        if not 0 <= column < len(RUN_COLUMNS):
            return
        self.sort_column, self.sort_order = column, order
        self.layoutAboutToBeChanged.emit()
        old = {row.run_id: r for r, row in enumerate(self.rows)}
        self.rows = sorted_rows(self.rows, column, order == Qt.SortOrder.DescendingOrder)
        self._texts.clear()
        new = {row.run_id: r for r, row in enumerate(self.rows)}
        moved = {r: new[run_id] for run_id, r in old.items()}
        persistent = self.persistentIndexList()
        self.changePersistentIndexList(persistent, [self.index(moved[i.row()], i.column()) for i in persistent])
        self.layoutChanged.emit()

    # -- ours -----------------------------------------------------------------------
    def set_rows(self, rows: list[RunRow]) -> None:
        """Show ``rows`` (in the current sort, if the user chose one)."""
        self.beginResetModel()
        self.rows = list(rows) if self.sort_column is None else sorted_rows(
            list(rows), self.sort_column, self.sort_order == Qt.SortOrder.DescendingOrder)
        self._texts.clear()
        self.endResetModel()

    def row_of(self, run_id: str) -> int | None:
        return next((r for r, row in enumerate(self.rows) if row.run_id == run_id), None)


def make_run_table(parent: QWidget | None = None) -> tuple[QTableView, RunTableModel]:
    """The view and its model: rows selected whole (several with Ctrl/Shift), sortable by any column."""
    view = QTableView(parent)
    view.setObjectName("history_runs")
    model = RunTableModel(view)
    view.setModel(model)
    view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    view.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
    view.verticalHeader().hide()
    # Column widths from the header and a sample of rows, not from every row's text.
    header = view.horizontalHeader()
    header.setResizeContentsPrecision(0)  # measured on the visible rows only
    header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)  # sized once, not on every sort
    model.modelReset.connect(lambda: _fit_once(view, model))
    header.setStretchLastSection(False)
    header.setSortIndicatorShown(True)
    header.setSortIndicator(0, Qt.SortOrder.DescendingOrder)  # newest run first, as listed
    view.setSortingEnabled(True)
    view.setAlternatingRowColors(True)
    view.setWordWrap(False)
    return view, model


def _fit_once(view: QTableView, model: RunTableModel, sample: int = 60) -> None:
    """Size the columns to the header and the first ``sample`` rows, the first time there are rows.

    Measured here with the font's metrics rather than by Qt's size hints of
    every cell; later the user's widths stay.
    """
    if not model.rows or view.property("fitted"):
        return
    view.setProperty("fitted", True)
    metrics = view.fontMetrics()
    header = view.horizontalHeader()
    for c, title in enumerate(RUN_COLUMNS):
        texts = [title] + [model.cells(r)[c][0] for r in range(min(sample, len(model.rows)))]
        header.resizeSection(c, max(metrics.horizontalAdvance(t) for t in texts) + 24)
