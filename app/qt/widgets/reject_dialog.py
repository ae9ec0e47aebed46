"""RejectDialog: confirm rejecting an order, with the reason to record."""

from __future__ import annotations

from PySide6.QtWidgets import QDialog, QDialogButtonBox, QFormLayout, QLabel, QLineEdit, QWidget

from app.models.approvals_model import ApprovalItem


class RejectDialog(QDialog):
    """Confirms a rejection and asks for the reason (opened with ``open()``, never ``exec()``)."""

    def __init__(self, item: ApprovalItem, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("reject_dialog")
        self.setWindowTitle("Reject order")
        self.reason = QLineEdit()
        self.reason.setObjectName("reject_reason")
        self.reason.setPlaceholderText("why (recorded in the audit log)")
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.confirm = buttons.addButton("Reject", QDialogButtonBox.ButtonRole.AcceptRole)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form = QFormLayout(self)
        form.addRow(QLabel(f"Reject {item.action} {item.quantity} {item.ticker} @ {item.price:,.2f}?"))
        form.addRow("Reason", self.reason)
        form.addRow(buttons)
