"""RunForm: the dates, tickers, mode, pace and approval policy of a run to start."""

from __future__ import annotations

import datetime as dt

from PySide6.QtCore import QDate
from PySide6.QtWidgets import (
    QCheckBox, QComboBox, QDateEdit, QDoubleSpinBox, QFormLayout, QGroupBox, QHBoxLayout, QLabel, QLineEdit,
    QPushButton, QWidget,
)

from app.models.workspaces_model import RunRequest, WorkspaceRow


def _qdate(value: str) -> QDate:
    try:
        d = dt.date.fromisoformat(value)
    except ValueError:
        return QDate.currentDate()
    return QDate(d.year, d.month, d.day)


class RunForm(QGroupBox):
    """Dates, tickers, mode, pace and approval policy of a run to start."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Start a run", parent)
        self.start = QDateEdit(calendarPopup=True)
        self.end = QDateEdit(calendarPopup=True)
        for edit in (self.start, self.end):
            edit.setDisplayFormat("yyyy-MM-dd")
        self.tickers = QLineEdit()
        self.tickers.setObjectName("run_tickers")
        self.tickers.setPlaceholderText("AAPL, MSFT, ...")
        self.mode = QComboBox()
        self.mode.addItems(["backtest", "mock", "live"])
        self.pace = QDoubleSpinBox()
        self.pace.setRange(0, 3600)
        self.pace.setDecimals(2)
        self.pace.setSuffix(" s/day")
        self.pace.setToolTip("Seconds to wait between trading days (0: as fast as possible)")
        self.approval = QComboBox()
        self.approval.setObjectName("run_approval")
        self.approval.addItems(["none", "all", "threshold"])
        self.approval.setToolTip("Which orders wait for a human decision")
        self.threshold = QDoubleSpinBox()
        self.threshold.setRange(0, 1e9)
        self.threshold.setValue(25_000)
        self.threshold.setPrefix("USD ")
        self.threshold.setEnabled(False)
        self.approval.currentTextChanged.connect(lambda mode: self.threshold.setEnabled(mode == "threshold"))
        self.paused = QCheckBox("Start paused")
        self.button = QPushButton("Start run")
        self.button.setObjectName("start_run")
        form = QFormLayout(self)
        dates = QHBoxLayout()
        dates.addWidget(self.start)
        dates.addWidget(QLabel("to"))
        dates.addWidget(self.end)
        form.addRow("Dates", dates)
        form.addRow("Tickers", self.tickers)
        form.addRow("Mode", self.mode)
        form.addRow("Pace", self.pace)
        form.addRow("Approval", self.approval)
        form.addRow("Threshold", self.threshold)
        form.addRow(self.paused, self.button)

    def fill_from(self, row: WorkspaceRow | None) -> None:
        if row is None:
            return
        if row.start_date:
            self.start.setDate(_qdate(row.start_date))
        if row.end_date:
            self.end.setDate(_qdate(row.end_date))
        self.tickers.setText(", ".join(row.tickers))
        if row.mode:
            self.mode.setCurrentText(row.mode)

    def request(self, workspace: str) -> RunRequest:
        tickers = [t.strip().upper() for t in self.tickers.text().replace(";", ",").split(",") if t.strip()]
        return RunRequest(
            workspace=workspace, start_date=self.start.date().toPython(), end_date=self.end.date().toPython(),
            tickers=tickers, mode=self.mode.currentText(), pace=self.pace.value(),
            approval=self.approval.currentText(),
            notional_threshold=self.threshold.value() if self.approval.currentText() == "threshold" else None,
            paused=self.paused.isChecked(),
        )
