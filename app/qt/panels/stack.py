"""Stack panel: one row per process (services, runtime/controller, Gateways), controls and live logs."""

from __future__ import annotations

import logging
from typing import Any

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QHBoxLayout,
    QHeaderView,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from app.models.stack_model import ProcessRow, StackModel, format_uptime
from backend.clients.http import ServiceError
from app.panel_api import MutatingControls
from app.qt import theme
from app.qt.async_helpers import spawn
from app.qt.bridge import Throttle
from app.qt.observe import observe
from app.qt.panels.base import nothing_started
from app.qt.panels.log_view import LogView

log = logging.getLogger(__name__)

RELOAD_TIP = ("The local stack this app starts restarts a service when its source is saved, and restarts "
              "each run's Gateway at the next day boundary when Gateway code (gateway/, backend/pipeline/, "
              "backend/agents/) is saved; the run resumes where it was")
COLUMNS = ("Process", "Status", "PID", "Port", "Uptime", "Restarts", "Last exit", "")
ACTIONS = ("start", "stop", "restart", "logs")


class StackPanel(QWidget):
    """The processes of the runtime, with start/stop/restart and a log view per process.

    Args:
        model: the rows (default: a fresh :class:`StackModel`; tests pass their own).
        gateway_poll_ms: how often Gateway rows are refreshed from runtime_service.
    """

    panel_id = "stack"
    title = "Stack"
    services = ("runtime",)

    def __init__(self, model: StackModel | None = None, gateway_poll_ms: int = 2000,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("stack_panel")
        self.model = model or StackModel()
        self.session: Any = None
        self.read_only_reason: str | None = None
        self.controls = MutatingControls()
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setObjectName("stack_table")
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.verticalHeader().hide()
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        header = self.table.horizontalHeader()
        for column in range(len(COLUMNS)):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(6, QHeaderView.ResizeMode.Stretch)
        self.table.cellDoubleClicked.connect(lambda row, _c: self.open_log(self._name_at(row)))
        self.start_all_button = self.controls.add(QPushButton("Start all"), "Start every stopped service")
        self.stop_all_button = self.controls.add(QPushButton("Stop all"), "Stop every Gateway and service")
        self.start_all_button.clicked.connect(lambda *_: spawn(self._run(self._start_all())))
        self.stop_all_button.clicked.connect(lambda *_: spawn(self._run(self.model.stop_all())))
        # Persisted (AppSettings.reload_on_source_change); the local stack this app starts reloads with it.
        self.reload_box = QCheckBox("Reload on source change")
        self.reload_box.setObjectName("reload_on_change")
        self.reload_box.setToolTip(RELOAD_TIP)
        self.reload_box.toggled.connect(self._on_reload_toggled)
        buttons = QHBoxLayout()
        buttons.addWidget(self.start_all_button)
        buttons.addWidget(self.stop_all_button)
        buttons.addWidget(self.reload_box)
        buttons.addStretch(1)
        self.logs = QTabWidget()
        self.logs.setObjectName("stack_logs")
        self.logs.setTabsClosable(True)
        self.logs.tabCloseRequested.connect(self._close_log)
        top = QWidget()
        top_layout = QVBoxLayout(top)
        top_layout.setContentsMargins(0, 0, 0, 0)
        top_layout.addLayout(buttons)
        top_layout.addWidget(self.table)
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(top)
        splitter.addWidget(self.logs)
        splitter.setSizes([300, 300])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addWidget(splitter)
        self._row_buttons: dict[str, dict[str, QToolButton]] = {}
        self.log_views: dict[str, LogView] = {}
        self._throttle = Throttle(self.refresh, hz=10, parent=self)
        observe(self.model.changed, self, self._on_model)
        self._tick = QTimer(self)  # uptime keeps counting between status changes
        self._tick.timeout.connect(self.refresh)
        self._tick.start(1000)
        self._gateway_poll = QTimer(self)
        self._gateway_poll.timeout.connect(lambda: spawn(self.poll_gateways()))
        self._gateway_poll_ms = gateway_poll_ms
        self.last_error = ""
        self.refresh()

    # -- Panel protocol -------------------------------------------------------

    def attach(self, session: Any) -> None:
        self.session = session
        settings = self._settings()
        if settings is not None:
            self.reload_box.setChecked(settings.reload_on_source_change)  # toggled: tells the session
        elif getattr(session, "local", None) is not None:
            self.reload_box.setChecked(session.local.reload)
        observe(session.changed, self, self._on_session_event)
        self._bind_source()
        self._gateway_poll.start(self._gateway_poll_ms)

    def set_read_only(self, reason: str | None) -> None:
        self.read_only_reason = reason
        self.controls.set_read_only(reason)
        self.refresh()

    def detach(self) -> None:
        self._gateway_poll.stop()
        self._tick.stop()
        for view in self.log_views.values():
            view.detach()
        if self.session is not None:
            self.session.changed.disconnect(self._on_session_event)
        self.model.changed.disconnect(self._on_model)
        self.model.unbind()

    # -- actions --------------------------------------------------------------

    def open_log(self, name: str) -> LogView:
        """Show (creating if needed) the live log of a process; returns its view."""
        view = self.log_views.get(name)
        if view is None:
            view = LogView(name)
            proc = self.model.process(name)
            row = self.model.row(name)
            if proc is not None:
                view.attach_process(proc)
            elif row.run_id and self.session is not None:
                run_id = row.run_id
                view.attach_fetcher(lambda: self._gateway_log(run_id))
            else:
                view.set_lines([f"no log available for {name} from here"])
            self.log_views[name] = view
            self.logs.addTab(view, name)
        self.logs.setCurrentWidget(view)
        return view

    async def _gateway_log(self, run_id: str) -> list[str]:
        body = await self.session.client("runtime").get(f"/runs/{run_id}/logs", tail=500)
        return list((body or {}).get("lines") or [])

    async def poll_gateways(self) -> None:
        """Refresh Gateway rows from runtime_service (quietly skipped while it is down)."""
        if self.session is None or self.session.state("runtime").status != "up":
            return
        try:
            runs = await self.session.client("runtime").get("/runs")
        except ServiceError:
            return
        self.model.runtime = self.session.client("runtime")
        self.model.set_gateways(runs or [])

    async def _start_all(self) -> None:
        """Start every stopped service -- or, with no local stack yet, start one (one click)."""
        if self.model.supervisor is None and self._can_start_stack():
            await self.window().start_local_stack()
        else:
            await self.model.start_all()

    def _can_start_stack(self) -> bool:
        session = self.session
        window = self.window()
        return (session is not None and getattr(session, "attached_stack", None) is None
                and (session.profile is None or session.profile.is_local) and hasattr(window, "start_local_stack"))

    def refresh(self) -> None:
        if self.read_only_reason is None:
            local = self.model.supervisor is not None
            startable = local or self._can_start_stack()
            self.start_all_button.setEnabled(startable)
            self.start_all_button.setToolTip(
                "Start every stopped service" if local else
                "Start the local stack on the embedded default" if startable else "No local stack started by this app")
            self.stop_all_button.setEnabled(local)
            self.stop_all_button.setToolTip("" if local else "No local stack started by this app")
        self.model.refresh_embedded()
        rows = self.model.rows()
        if [self._name_at(i) for i in range(self.table.rowCount())] != [r.name for r in rows]:
            self._rebuild(rows)
        now = self.model.clock()
        for index, row in enumerate(rows):
            values = (row.label, row.status_text, str(row.pid or ""), str(row.port or ""),
                      format_uptime(row.uptime(now)), str(row.restarts), row.detail)
            for col, value in enumerate(values):
                item = self.table.item(index, col)
                if item.text() != value:
                    item.setText(value)
            status_item = self.table.item(index, 1)
            status_item.setForeground(QColor(theme.status_color(row.status)))
            status_item.setToolTip(row.message or row.status)
            self.table.item(index, 6).setToolTip(row.detail)
            self._update_buttons(row)

    # -- internals ------------------------------------------------------------

    def _settings(self) -> Any:
        """The window's AppSettings (None outside a main window)."""
        settings = getattr(self.window(), "settings", None)
        return settings if hasattr(settings, "reload_on_source_change") else None

    def _on_reload_toggled(self, on: bool) -> None:
        settings = self._settings()
        if settings is not None:
            settings.reload_on_source_change = on
        link = getattr(self.session, "local", None)
        if link is not None:
            spawn(self._run(link.set_reload(on)))

    def _name_at(self, index: int) -> str:
        item = self.table.item(index, 0)
        return item.data(Qt.ItemDataRole.UserRole) if item is not None else ""

    def _rebuild(self, rows: list[ProcessRow]) -> None:
        self.table.setRowCount(len(rows))
        self._row_buttons = {}
        for index, row in enumerate(rows):
            for col in range(len(COLUMNS) - 1):
                item = QTableWidgetItem("")
                if col == 0:
                    item.setData(Qt.ItemDataRole.UserRole, row.name)
                self.table.setItem(index, col, item)
            cell = QWidget()
            box = QHBoxLayout(cell)
            box.setContentsMargins(0, 0, 0, 0)
            buttons = {}
            for verb in ACTIONS:
                button = QToolButton()
                button.setText({"start": "Start", "stop": "Stop", "restart": "Restart", "logs": "Logs"}[verb])
                button.setObjectName(f"{verb}_{row.name}")
                if verb == "logs":
                    button.clicked.connect(lambda *_, n=row.name: self.open_log(n))
                else:
                    button.clicked.connect(lambda *_, n=row.name, v=verb: spawn(self._run(getattr(self.model, v)(n))))
                box.addWidget(button)
                buttons[verb] = button
            self._row_buttons[row.name] = buttons
            self.table.setCellWidget(index, len(COLUMNS) - 1, cell)
        self.table.resizeColumnsToContents()

    def _update_buttons(self, row: ProcessRow) -> None:
        buttons = self._row_buttons.get(row.name)
        if not buttons:
            return
        why = self.read_only_reason or self.model.controllable(row.name)
        running = row.status in ("starting", "healthy", "unhealthy", "restarting")
        for verb, button in buttons.items():
            if verb == "logs":
                continue
            wanted = {"start": not running, "stop": running, "restart": running}[verb]
            button.setEnabled(why is None and wanted)
            button.setToolTip(why or f"{verb.title()} {row.label}")

    async def _run(self, coro: Any) -> None:
        try:
            await coro
            self.last_error = ""
        except (ServiceError, PermissionError, KeyError, RuntimeError, OSError) as err:
            self.last_error = str(err)
            log.warning("stack action failed: %s", err)
            if self.window() is not None and hasattr(self.window(), "statusBar"):
                self.window().statusBar().showMessage(f"Stack: {err}", 10000)
        self.refresh()

    def _bind_source(self) -> None:
        session = self.session
        stack = getattr(session, "stack", None)
        if stack is not None:
            embedded = getattr(stack, "embedded", None)
            if self.model.supervisor is not stack.supervisor or self.model.embedded is not embedded:
                self.model.bind_supervisor(stack.supervisor, embedded)
            self.model.clear_remote()
        else:
            if self.model.supervisor is not None:
                self.model.unbind()
            self.model.set_remote(session.states(), not_started=nothing_started(session))
        self.model.runtime = session.client("runtime")

    def _on_model(self, _kind: str, _name: Any) -> None:
        self._throttle.mark()

    def _on_session_event(self, event: Any) -> None:
        if event.kind in ("stack", "profile", "connection"):
            self._bind_source()
        if event.kind in ("stack", "profile"):
            self.model.set_gateways([])

    def _close_log(self, index: int) -> None:
        view = self.logs.widget(index)
        if isinstance(view, LogView):
            view.detach()
            self.log_views.pop(view.name, None)
        self.logs.removeTab(index)
        if view is not None:
            view.deleteLater()
