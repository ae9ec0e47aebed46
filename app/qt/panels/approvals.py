"""Approvals panel: the pending queue, keyboard-driven decisions, and the decided history."""

from __future__ import annotations

import datetime as dt
from typing import Any

from PySide6.QtCore import QEvent, QObject, Qt, QTimer
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import (
    QAbstractItemView, QDialog, QHBoxLayout, QLabel, QLineEdit, QPushButton, QSpinBox, QSplitter, QTabWidget,
    QVBoxLayout, QWidget,
)

from app.models.approvals_model import ApprovalItem, ApprovalsModel, format_countdown
from app.models.event_input import event_type
from backend.clients.services import AgentServiceClient
from app.qt.async_helpers import spawn
from app.qt.bridge import Throttle
from app.qt.notify import Notifier
from app.qt.observe import observe
from app.qt.panels.base import SessionPanel, came_up, scrolling
from app.qt.widgets.countdown import CountdownLabel
from app.qt.widgets.reject_dialog import RejectDialog
from app.qt.widgets.tables import cell, make_table
from backend.schema.events import Event

PENDING_COLUMNS = ("Ticker", "Action", "Qty", "Price", "Notional", "Conf.", "Expires in")
HISTORY_COLUMNS = ("Date", "Ticker", "Action", "Qty", "Executed", "Status", "Decided by", "Reason", "At")
SIGNAL_COLUMNS = ("Analyst", "Signal", "Conf.", "Reasoning")


class ApprovalsPanel(SessionPanel):
    """Pending approvals of the watched run, decided with buttons or keys.

    Keys (on the queue): J / Down next, K / Up previous, A approve (the
    quantity in the box), R reject after a confirmation dialog.
    """

    panel_id = "approvals"
    title = "Approvals"
    services = ("agent", "gateway")
    shortcut = "Alt+A"
    required_role = "operator"
    follows_gateway = True

    def __init__(self, model: ApprovalsModel | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = model or ApprovalsModel()
        self.notifier = Notifier(self)
        self.dialog: RejectDialog | None = None
        self._updating = False
        self._arrivals: list[ApprovalItem] = []
        self._build()
        for widget, tip in ((self.approve_button, "Approve the selected order (A)"),
                            (self.reject_button, "Reject the selected order (R)"),
                            (self.quantity, "Shares to execute: lower it to approve fewer"),
                            (self.reason, "Reason recorded with the decision")):
            self.controls.add(widget, tip)
        self.throttle = Throttle(self.refresh, hz=30, parent=self)
        observe(self.model.changed, self, self._on_model)
        self.clock_timer = QTimer(self)
        self.clock_timer.setInterval(1000)
        self.clock_timer.timeout.connect(self._tick)
        self.clock_timer.start()
        self.refresh()

    # -- layout -------------------------------------------------------------------
    def _build(self) -> None:
        self.tabs = QTabWidget()
        self.table = make_table(PENDING_COLUMNS, "approvals_table")
        self.table.installEventFilter(self)
        self.table.itemSelectionChanged.connect(self._on_row_selected)
        self.history = make_table(HISTORY_COLUMNS, "approvals_history")

        detail = QWidget()
        self.headline = QLabel("No pending approvals")
        self.headline.setObjectName("approval_headline")
        font = self.headline.font()
        font.setPointSizeF(font.pointSizeF() * 1.25)
        font.setBold(True)
        self.headline.setFont(font)
        self.countdown = CountdownLabel(self.model.clock)
        self.countdown.setObjectName("approval_countdown")
        self.reasons = QLabel()
        self.reasons.setWordWrap(True)
        self.pm = QLabel()
        self.pm.setObjectName("approval_reasoning")
        self.pm.setWordWrap(True)
        self.signals = make_table(SIGNAL_COLUMNS, "approval_signals")
        self.signals.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.warnings = QLabel()
        self.warnings.setObjectName("approval_warnings")
        self.warnings.setWordWrap(True)
        self.quantity = QSpinBox()
        self.quantity.setObjectName("approval_quantity")
        self.quantity.setMinimum(1)
        self.reason = QLineEdit()
        self.reason.setObjectName("approval_reason")
        self.reason.setPlaceholderText("reason (optional for approvals)")
        self.approve_button = QPushButton("Approve (A)")
        self.approve_button.setObjectName("approve_button")
        self.reject_button = QPushButton("Reject\u2026 (R)")
        self.reject_button.setObjectName("reject_button")
        self.approve_button.clicked.connect(lambda: self.approve_selected())
        self.reject_button.clicked.connect(lambda: self.ask_reject())

        head = QHBoxLayout()
        head.addWidget(self.headline, 1)
        head.addWidget(QLabel("expires in"))
        head.addWidget(self.countdown)
        buttons = QHBoxLayout()
        buttons.addWidget(QLabel("Quantity"))
        buttons.addWidget(self.quantity)
        buttons.addWidget(self.reason, 1)
        buttons.addWidget(self.approve_button)
        buttons.addWidget(self.reject_button)
        # The order's story scrolls in a short dock; the decision buttons stay in view under it.
        story = QWidget()
        box = QVBoxLayout(story)
        box.setContentsMargins(0, 0, 0, 0)
        box.addLayout(head)
        box.addWidget(self.reasons)
        box.addWidget(QLabel("<b>Portfolio manager</b>"))
        box.addWidget(self.pm)
        box.addWidget(QLabel("<b>Analyst signals</b>"))
        self.signals.setMinimumHeight(3 * self.signals.verticalHeader().defaultSectionSize())
        box.addWidget(self.signals, 1)
        box.addWidget(QLabel("<b>Risk warnings</b>"))
        box.addWidget(self.warnings)
        outer = QVBoxLayout(detail)
        self.headline.setWordWrap(True)  # a long order wraps instead of widening the story past its view
        outer.addWidget(scrolling(story, "approval_story", sideways=False), 1)
        outer.addLayout(buttons)

        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(self.table)
        split.addWidget(detail)
        split.setStretchFactor(0, 1)
        split.setStretchFactor(1, 3)
        split.setSizes([430, 900])  # room for every queue column, expiry included; the order's story the rest
        self.tabs.addTab(split, "Pending")
        self.tabs.addTab(self.history, "History")
        self._lay_out(self.tabs)

    # -- panel API ----------------------------------------------------------------
    def detach(self) -> None:
        self.notifier.close()

    def _permissions_applied(self, reason: str | None) -> None:
        self._update_buttons()

    def _use_profile(self) -> None:
        self.model.set_client(AgentServiceClient(lambda: self.session.client("agent")))
        self.model.set_run(self.session.run_id)
        spawn(self.model.refresh())

    def _on_session_event(self, event: Any) -> None:
        if event.kind == "run":
            self.model.set_run(self.session.run_id)
            spawn(self.model.refresh())
        elif came_up(event, "agent"):  # the service came up after us (the stack just started): load now
            spawn(self.model.refresh())

    def _on_gateway_event(self, frame: Event | dict[str, Any]) -> None:
        self.model.apply_event(frame)
        if event_type(frame) == "hello":  # every (re)connect: catch up on what we missed
            spawn(self.model.refresh())

    # -- model -> view ------------------------------------------------------------
    def _on_model(self, kind: str, payload: Any) -> None:
        if kind == "arrived":
            self._arrivals.append(payload)  # announced with the next refresh: a burst is one notification
        elif kind == "message":
            self._show_message(payload)
        self.throttle.mark()

    def _announce(self) -> None:
        arrivals, self._arrivals = self._arrivals, []
        if len(arrivals) == 1:
            a = arrivals[0]
            self.notifier.notify(f"Approval needed: {a.ticker}",
                                 f"{a.action} {a.quantity} {a.ticker} @ {a.price:,.2f} ({a.notional:,.0f} USD)")
        elif arrivals:
            self.notifier.notify(f"{len(arrivals)} approvals needed",
                                 ", ".join(f"{a.action} {a.quantity} {a.ticker}" for a in arrivals))

    def refresh(self) -> None:
        self._announce()
        self._updating = True
        try:
            self._fill_pending()
            self._fill_history()
        finally:
            self._updating = False
        self._show_detail(self.model.selected)
        count = len(self.model.pending)
        self.tabs.setTabText(0, f"Pending ({count})" if count else "Pending")

    def _fill_pending(self) -> None:
        now = self.model.clock()
        self.table.setRowCount(len(self.model.pending))
        selected_row = -1
        for row, a in enumerate(self.model.pending):
            values = (a.ticker, a.action, f"{a.quantity:,}", f"{a.price:,.2f}", f"{a.notional:,.0f}",
                      f"{a.confidence:.0f}", format_countdown(a.seconds_left(now)))
            for col, value in enumerate(values):
                item = cell(value, col >= 2)
                item.setData(Qt.ItemDataRole.UserRole, a.id)
                self.table.setItem(row, col, item)
            if a.id == self.model.selected_id:
                selected_row = row
        if selected_row >= 0:
            self.table.selectRow(selected_row)
        else:
            self.table.clearSelection()

    def _fill_history(self) -> None:
        self.history.setRowCount(len(self.model.history))
        for row, a in enumerate(self.model.history):
            at = dt.datetime.fromtimestamp(a.decided).strftime("%Y-%m-%d %H:%M:%S") if a.decided else ""
            executed = "" if a.decided_quantity is None else f"{a.decided_quantity:,}"
            values = (a.date, a.ticker, a.action, f"{a.quantity:,}", executed, a.status, a.decided_by or "", a.reason, at)
            for col, value in enumerate(values):
                self.history.setItem(row, col, cell(value, col in (3, 4)))

    def _show_detail(self, a: ApprovalItem | None) -> None:
        if a is None:
            self.headline.setText("No pending approvals" if not self.model.pending else "Select an approval")
            self.countdown.set_deadline(None)
            for label in (self.reasons, self.pm, self.warnings):
                label.clear()
            self.signals.setRowCount(0)
            self._update_buttons()
            return
        self.headline.setText(f"{a.action.upper()} {a.quantity:,} {a.ticker} @ {a.price:,.2f} = "
                              f"{a.notional:,.0f} USD  (confidence {a.confidence:.0f})")
        self.countdown.set_deadline(a.deadline)
        self.reasons.setText("Held because: " + "; ".join(a.reasons) if a.reasons else f"Trading day {a.date}")
        self.pm.setText(a.pm_reasoning or "-")
        self.warnings.setText("\n".join(f"\u2022 {w}" for w in a.risk_warnings) or "none")
        self.signals.setRowCount(len(a.signals))
        for row, s in enumerate(a.signals):
            values = (s.get("agent_id", s.get("agentId", "")), s.get("signal", ""),
                      f"{float(s.get('confidence') or 0):.0f}", s.get("reasoning", ""))
            for col, value in enumerate(values):
                self.signals.setItem(row, col, cell(value, col == 2))
        if self.quantity.property("approval_id") != a.id:  # keep a typed quantity while the row stays
            self.quantity.setMaximum(max(1, a.quantity))
            self.quantity.setValue(a.quantity)
            self.quantity.setProperty("approval_id", a.id)
        self._update_buttons()

    def _update_buttons(self) -> None:
        a = self.model.selected
        can = a is not None and not self.controls.read_only
        self.approve_button.setEnabled(can)
        self.reject_button.setEnabled(can)
        self.quantity.setEnabled(can and a.allow_quantity_change)

    def _tick(self) -> None:
        now = self.model.clock()
        for row, a in enumerate(self.model.pending[: self.table.rowCount()]):
            item = self.table.item(row, len(PENDING_COLUMNS) - 1)
            if item is not None:
                item.setText(format_countdown(a.seconds_left(now)))

    # -- view -> model ------------------------------------------------------------
    def _on_row_selected(self) -> None:
        if self._updating:
            return
        rows = self.table.selectionModel().selectedRows()
        if rows:
            item = self.table.item(rows[0].row(), 0)
            self.model.select(item.data(Qt.ItemDataRole.UserRole) if item else None)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt override
        if watched is self.table and event.type() == QEvent.Type.KeyPress:
            return self.handle_key(event)  # type: ignore[arg-type]
        return super().eventFilter(watched, event)

    def handle_key(self, event: QKeyEvent) -> bool:
        """The queue's keyboard: True when the key was ours."""
        key = event.key()
        if event.modifiers() & ~Qt.KeyboardModifier.KeypadModifier:
            return False
        if key in (Qt.Key.Key_J, Qt.Key.Key_Down):
            self.model.select_next()
        elif key in (Qt.Key.Key_K, Qt.Key.Key_Up):
            self.model.select_previous()
        elif key == Qt.Key.Key_A:
            self.approve_selected()
        elif key == Qt.Key.Key_R:
            self.ask_reject()
        else:
            return False
        self.throttle.flush()
        return True

    def _refused(self) -> bool:
        if self.controls.read_only:
            self.message.setText(self.controls.reason or "read-only")
            return True
        return self.model.selected is None

    def approve_selected(self) -> None:
        if self._refused():
            return
        a = self.model.selected
        quantity = self.quantity.value() if a.allow_quantity_change and self.quantity.value() < a.quantity else None
        spawn(self.model.approve(a.id, quantity=quantity, reason=self.reason.text().strip()))
        self.reason.clear()

    def ask_reject(self) -> None:
        """Open the confirmation dialog; the rejection is sent only if it is accepted."""
        if self._refused():
            return
        a = self.model.selected
        dialog = RejectDialog(a, self)
        dialog.reason.setText(self.reason.text().strip())
        dialog.finished.connect(lambda result: self._rejected(dialog, a.id, result))
        self.dialog = dialog
        dialog.open()

    def _rejected(self, dialog: RejectDialog, approval_id: str, result: int) -> None:
        self.dialog = None
        dialog.deleteLater()
        if result == QDialog.DialogCode.Accepted:
            spawn(self.model.reject(approval_id, reason=dialog.reason.text().strip()))
            self.reason.clear()
        self.table.setFocus()
