"""Run history panel: every run with its figures; open one, compare several, replay, open its folder.

The runs table is a QTableView over :class:`RunTableModel` (``history_table.py``):
a thousand runs open and sort without a widget per cell. Replay plays a
finished run through the Live pipeline panel: from its ``events.jsonl`` when
the run is on this machine, else streamed page by page from runtime_service
(``GET /runs/{id}/events``), which a viewer may read.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, QUrl
from PySide6.QtGui import QDesktopServices, QFontDatabase
from PySide6.QtWidgets import (
    QDoubleSpinBox, QHBoxLayout, QLabel, QPlainTextEdit, QPushButton, QSplitter,
    QTableWidgetItem, QTabWidget, QVBoxLayout, QWidget,
)

from app.models.event_input import as_event, event_type
from app.models.evolution_compare import evolution_note
from app.models.history_model import FINISHED, HistoryModel, RunDetail
from app.qt.panels.history_table import make_run_table
from backend.clients.services import RuntimeServiceClient, TradingServiceClient
from app.qt.async_helpers import spawn
from app.qt.bridge import Throttle
from app.qt.observe import observe
from app.qt.panels.base import SessionPanel, came_up
from app.qt.widgets.comparison_chart import ComparisonChart
from app.qt.widgets.metrics_table import MetricsTable
from app.qt.widgets.tables import make_table
from backend.schema.events import Event, RunStatus

TRADE_COLUMNS = ("Date", "Ticker", "Action", "Qty", "Price", "Notional", "Id")


class HistoryPanel(SessionPanel):
    """Run history of the runtime (runtime_service), with details, comparison and replay."""

    panel_id = "history"
    title = "Run history"
    services = ("runtime", "trading")
    follows_gateway = True  # nothing here changes the runtime (no required_role): replay and folders are local views

    def __init__(self, model: HistoryModel | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = model or HistoryModel()
        self.live_panel: Any = None  # set by tests; else found in the main window
        self._updating = False
        self._build()
        self.throttle = Throttle(self.refresh, hz=30, parent=self)
        observe(self.model.changed, self, self._on_model)
        self.refresh()

    def _build(self) -> None:
        self.runs, self.table_model = make_run_table()
        self.runs.selectionModel().selectionChanged.connect(lambda *_: self._update_buttons())
        self.runs.doubleClicked.connect(lambda index: self.open_selected())
        self.reload = QPushButton("Refresh")
        self.reload.clicked.connect(lambda: spawn(self.model.refresh()))
        self.open_button = QPushButton("Open")
        self.open_button.setToolTip("Show the run's BOOTSTRAP, state and trades")
        self.open_button.clicked.connect(lambda: self.open_selected())
        self.compare_button = QPushButton("Compare")
        self.compare_button.setObjectName("compare_runs")
        self.compare_button.setToolTip("Select two or more runs (Ctrl/Shift+click) to compare them")
        self.compare_button.clicked.connect(lambda: self.compare_selected())
        self.speed = QDoubleSpinBox()
        self.speed.setObjectName("replay_speed")
        self.speed.setRange(0, 1000)
        self.speed.setValue(5)
        self.speed.setSuffix(" days/s")
        self.speed.setSpecialValueText("max speed")
        self.replay_button = QPushButton("Replay")
        self.replay_button.setObjectName("replay_run")
        self.replay_button.clicked.connect(lambda: self.replay_selected())
        self.folder_button = QPushButton("Open folder")
        self.folder_button.setObjectName("open_run_folder")
        self.folder_button.clicked.connect(lambda: self.open_folder())
        bar = QHBoxLayout()
        for widget in (self.reload, self.open_button, self.compare_button):
            bar.addWidget(widget)
        bar.addStretch(1)
        for widget in (QLabel("Replay at"), self.speed, self.replay_button, self.folder_button):
            bar.addWidget(widget)

        self.bootstrap = QPlainTextEdit()
        self.bootstrap.setObjectName("run_bootstrap")
        self.bootstrap.setReadOnly(True)
        self.bootstrap.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.state = QPlainTextEdit()
        self.state.setObjectName("run_state")
        self.state.setReadOnly(True)
        self.state.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.trades = make_table(TRADE_COLUMNS, "run_trades")
        self.run_title = QLabel("Open a run to see its BOOTSTRAP, state and trades")
        self.run_title.setObjectName("run_title")
        run_tab = QWidget()
        rbox = QVBoxLayout(run_tab)
        rbox.setContentsMargins(0, 0, 0, 0)
        rbox.addWidget(self.run_title)
        inner = QTabWidget()
        inner.addTab(self.trades, "Trades")
        inner.addTab(self.bootstrap, "BOOTSTRAP.md")
        inner.addTab(self.state, "State")
        rbox.addWidget(inner, 1)
        self.chart = ComparisonChart()
        self.metrics = MetricsTable()
        self.metrics.setObjectName("comparison_metrics")
        compare_tab = QSplitter(Qt.Orientation.Vertical)
        compare_tab.addWidget(self.chart)
        compare_tab.addWidget(self.metrics)
        self.evolution_line = QLabel()  # evolving vs frozen, when both are compared
        self.evolution_line.setObjectName("comparison_evolution")
        self.evolution_line.setWordWrap(True)
        self.evolution_line.setVisible(False)
        compare_tab.addWidget(self.evolution_line)
        compare_tab.setStretchFactor(0, 3)
        self.compare_split = compare_tab
        self.details = QTabWidget()
        self.details.addTab(run_tab, "Run")
        self.details.addTab(compare_tab, "Compare")

        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(self.runs)
        split.addWidget(self.details)
        split.setStretchFactor(1, 2)
        split.setSizes([150, 350])  # a few runs in view, the details below take the room
        self._lay_out(split, bar)

    # -- panel API ----------------------------------------------------------------
    def _use_profile(self) -> None:
        session = self.session
        self.model.runtime = RuntimeServiceClient(lambda: session.client("runtime"))
        self.model.trading = TradingServiceClient(lambda: session.client("trading"))
        self.model.runs_dir = _local_runs_dir(session)
        spawn(self.model.refresh())

    def _on_session_event(self, event: Any) -> None:
        if event.kind == "stack":  # the runs folder of the local profile may have moved
            self.model.runs_dir = _local_runs_dir(self.session)
        elif event.kind == "run":
            spawn(self.model.refresh())
        elif came_up(event, "runtime") and not self.model.runs:
            spawn(self.model.refresh())

    def _on_gateway_event(self, frame: Event | dict[str, Any]) -> None:
        self.model.apply_event(frame)
        event = as_event(frame) if event_type(frame) == "run_status" else None
        if isinstance(event, RunStatus) and event.status in FINISHED:
            spawn(self.model.refresh())  # the closing figures are in now

    # -- model -> view ------------------------------------------------------------
    def _on_model(self, kind: str, payload: Any) -> None:
        if kind == "message":
            self._show_message(payload)
        elif kind == "opened":
            self._show_detail(payload)
        elif kind == "compared":
            self.chart.set_comparison(payload)
            self.metrics.set_runs(payload.metrics, self.chart.colors)
            note = evolution_note(payload, {r.run_id: r for r in self.model.runs})
            self.evolution_line.setText(note)
            self.evolution_line.setVisible(bool(note))
            self.details.setCurrentIndex(1)
            self._fit_compare()
        if kind == "runs":
            self.throttle.mark()

    def refresh(self) -> None:
        keep = self.selected_ids()
        self._updating = True
        try:
            self.table_model.set_rows(self.model.runs)
            self.select_runs(keep)
        finally:
            self._updating = False
        self._update_buttons()
        fit_columns_to_view(self.runs)

    def resizeEvent(self, event: Any) -> None:  # noqa: N802 - Qt override
        super().resizeEvent(event)
        fit_columns_to_view(self.runs)
        self._fit_compare()

    def _fit_compare(self) -> None:
        """The metrics table as tall as its rows (up to half the tab), the chart the rest."""
        table, split = self.metrics, self.compare_split
        total = sum(split.sizes())
        if total <= 0:
            return
        rows = table.model().rowCount() if table.model() is not None else 0
        wanted = table.horizontalHeader().height() + rows * table.verticalHeader().defaultSectionSize() + 6
        note = self.evolution_line.sizeHint().height() if self.evolution_line.isVisible() else 0
        metrics = min(wanted, total // 2)
        split.setSizes([total - metrics - note, metrics, note])

    def cell_text(self, row: int, column: int) -> str:
        """What the runs table shows at (row, column), in the view's order."""
        return str(self.table_model.data(self.table_model.index(row, column)))

    def _show_detail(self, detail: RunDetail | None) -> None:
        if detail is None:
            return
        row = self.model.row(detail.run_id)
        self.run_title.setText(f"<b>{detail.run_id}</b>" + (f" - {row.mode}, {row.start_date} .. {row.end_date},"
                                                            f" {row.status}" if row else "")
                               + f" - {detail.trades_total} trades")
        self.bootstrap.setPlainText(detail.bootstrap if detail.bootstrap is not None else
                                    "BOOTSTRAP.md is only readable for runs on this machine (Local profile).")
        runtime = detail.runtime_state or {}
        stats = (detail.server_state or {}).get("stats") or {}
        metrics = (detail.server_state or {}).get("metrics") or {}
        self.state.setPlainText(json.dumps({"runtime_state": runtime, "stats": stats, "metrics": metrics},
                                           indent=2, sort_keys=True))
        self.trades.setRowCount(len(detail.trades))
        for r, t in enumerate(detail.trades):
            values = (t.get("trading_date", ""), t.get("ticker", ""), t.get("action", ""),
                      f"{int(t.get('quantity') or 0):,}", f"{float(t.get('price') or 0):,.2f}",
                      f"{float(t.get('notional') or 0):,.2f}", t.get("id", ""))
            for c, value in enumerate(values):
                item = QTableWidgetItem(str(value))
                if 3 <= c <= 5:
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                self.trades.setItem(r, c, item)
        self.details.setCurrentIndex(0)

    def _update_buttons(self) -> None:
        ids = self.selected_ids()
        one = self.model.row(ids[0]) if len(ids) == 1 else None
        self.open_button.setEnabled(one is not None)
        self.compare_button.setEnabled(len(ids) >= 2)
        can_replay = one is not None and self.model.can_replay(one.run_id)
        self.replay_button.setEnabled(can_replay)
        self.replay_button.setToolTip(
            "Select one finished run" if not can_replay else
            "Play the run's events.jsonl through the Live pipeline panel" if self.model.events_log(one.run_id)
            else "Stream the run's events from runtime_service through the Live pipeline panel")
        local = one is not None and self.model.run_folder(one.run_id) is not None
        self.folder_button.setEnabled(local)
        self.folder_button.setToolTip("Open the run's folder" if local
                                      else "Only for a run on this machine (Local profile)")

    # -- actions ------------------------------------------------------------------
    def selected_ids(self) -> list[str]:
        """The selected runs, in the table's order."""
        rows = sorted({index.row() for index in self.runs.selectionModel().selectedRows()})
        return [self.table_model.rows[r].run_id for r in rows if r < len(self.table_model.rows)]

    def select_runs(self, run_ids: list[str]) -> None:
        """Select these runs in the table (tests, screenshots, and the selection kept across a refresh)."""
        from PySide6.QtCore import QItemSelection

        wanted = set(run_ids)
        selection = QItemSelection()
        model = self.table_model
        for r, row in enumerate(model.rows):
            if row.run_id in wanted:
                selection.select(model.index(r, 0), model.index(r, model.columnCount() - 1))
        flags = self.runs.selectionModel().SelectionFlag
        self.runs.selectionModel().select(selection, flags.ClearAndSelect | flags.Rows)

    def open_selected(self) -> None:
        ids = self.selected_ids()
        if ids:
            spawn(self.model.open_run(ids[0]))

    def compare_selected(self) -> None:
        ids = self.selected_ids()
        if len(ids) >= 2:
            spawn(self.model.compare(ids))

    def replay_selected(self) -> None:
        ids = self.selected_ids()
        source = self.model.replay_source(ids[0]) if len(ids) == 1 and self.model.can_replay(ids[0]) else None
        live = self.live_panel or _find_panel(self, "live")
        if source is None or live is None:
            self.message.setText("replay needs one finished run and the Live pipeline panel")
            return
        window = self.window()
        if hasattr(window, "show_panel"):
            window.show_panel("live")
        where = "" if isinstance(source, Path) else " (streamed from runtime_service)"
        self.message.setText(f"replaying {ids[0]} in the Live pipeline panel{where}")
        spawn(live.replay(source, self.speed.value(), name=ids[0]))

    def open_folder(self) -> None:
        ids = self.selected_ids()
        folder = self.model.run_folder(ids[0]) if len(ids) == 1 else None
        if folder is not None:
            QDesktopServices.openUrl(QUrl.fromLocalFile(str(folder)))


def _find_panel(widget: QWidget, panel_id: str) -> Any:
    window = widget.window()
    try:
        return window.panel(panel_id) if hasattr(window, "panel") else None
    except KeyError:
        return None


def fit_columns_to_view(view: Any) -> None:
    """Narrow the columns (never below their header's text) until they fit the view: a run's row is read
    whole, its long cells elided with the text on hover, instead of columns hidden past the edge."""
    header = view.horizontalHeader()
    room = view.viewport().width()
    total = header.length()
    if total <= room or header.count() == 0:
        return
    metrics = header.fontMetrics()
    floors = [metrics.horizontalAdvance(str(view.model().headerData(c, Qt.Orientation.Horizontal) or "")) + 24
              for c in range(header.count())]
    widths = [header.sectionSize(c) for c in range(header.count())]
    spare = sum(w - f for w, f in zip(widths, floors) if w > f)
    excess = total - room
    if spare <= 0:
        return
    share = min(1.0, excess / spare)
    for column, (width, floor) in enumerate(zip(widths, floors)):
        if width > floor:
            header.resizeSection(column, int(width - (width - floor) * share))


def _local_runs_dir(session: Any) -> Path | None:
    """The runs folder when the profile is this machine's own stack."""
    if not session.profile.is_local:
        return None
    stack = getattr(session, "stack", None)
    if stack is not None:
        return Path(stack.settings.runs_dir)
    attached = getattr(session, "attached_stack", None) or {}
    if attached.get("runs_dir"):
        return Path(attached["runs_dir"])
    from backend.config import get_settings

    return Path(get_settings().runs_dir)
