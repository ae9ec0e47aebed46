"""ProfileDialog: add, edit and delete remote connection profiles (non-modal)."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.models.profile import LOCAL, Profile
from app.models.profiles import ProfileError, ProfileStore

FIELDS = (("agent_url", "Agent service", "https://host:8000"), ("trading_url", "Trading service", "https://host:8001"),
          ("news_url", "News service", "https://host:8002"), ("runtime_url", "Runtime service", "https://host:8003"),
          ("gateway_url", "Gateway (optional)", "wss://host:8765"))


class ProfileDialog(QDialog):
    """Edit the profile list; a profile's token goes to the keyring (or the 0600 fallback file).

    Args:
        store: the profiles.
        parent: the main window.

    Signals:
        changed(): the list changed (the window refreshes its profile picker).
    """

    changed = Signal()

    def __init__(self, store: ProfileStore, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("profile_dialog")
        self.setWindowTitle("Connection profiles")
        self.store = store
        self.names = QListWidget()
        self.names.currentTextChanged.connect(self._load)
        self.name = QLineEdit()
        self.inputs: dict[str, QLineEdit] = {}
        form = QFormLayout()
        form.addRow("Name", self.name)
        for attr, label, hint in FIELDS:
            edit = QLineEdit()
            edit.setPlaceholderText(hint)
            edit.setObjectName(f"profile_{attr}")
            self.inputs[attr] = edit
            form.addRow(label, edit)
        self.token = QLineEdit()
        self.token.setEchoMode(QLineEdit.EchoMode.Password)
        self.token.setPlaceholderText("bearer token (kept in the system keyring)")
        form.addRow("Token", self.token)
        self.role = QComboBox()
        self.role.addItem("learn from the server", None)
        for role in ("viewer", "operator", "admin"):
            self.role.addItem(role, role)
        form.addRow("Role", self.role)
        self.error = QLabel()
        self.error.setObjectName("profile_error")
        self.error.setStyleSheet("color: #f85149")
        self.error.setWordWrap(True)
        self.save_button = QPushButton("Save")
        self.delete_button = QPushButton("Delete")
        self.new_button = QPushButton("New")
        close = QPushButton("Close")
        self.save_button.clicked.connect(lambda *_: self.save())
        self.delete_button.clicked.connect(lambda *_: self.delete())
        self.new_button.clicked.connect(lambda *_: self._load(""))
        close.clicked.connect(lambda *_: self.close())
        buttons = QHBoxLayout()
        for button in (self.new_button, self.save_button, self.delete_button):
            buttons.addWidget(button)
        buttons.addStretch(1)
        buttons.addWidget(close)
        right = QVBoxLayout()
        right.addLayout(form)
        right.addWidget(self.error)
        right.addLayout(buttons)
        layout = QHBoxLayout(self)
        layout.addWidget(self.names, 1)
        layout.addLayout(right, 3)
        self._fill()

    def save(self) -> bool:
        """Validate and store the form; the error (naming the field) shows inline."""
        profile = Profile(self.name.text().strip(), token=self.token.text() or None, role=self.role.currentData(),
                          **{attr: edit.text().strip() for attr, edit in self.inputs.items()})
        try:
            self.store.save(profile)
        except ProfileError as err:
            self.error.setText(str(err))
            return False
        self.error.setText(self.store.vault.warning or "")
        self._fill(profile.name)
        self.changed.emit()
        return True

    def delete(self) -> None:
        name = self.name.text().strip()
        try:
            self.store.delete(name)
        except ProfileError as err:
            self.error.setText(str(err))
            return
        self._fill()
        self.changed.emit()

    def _fill(self, select: str | None = None) -> None:
        self.names.clear()
        self.names.addItems([n for n in self.store.names() if n != LOCAL])
        if select:
            matches = self.names.findItems(select, Qt.MatchFlag.MatchExactly)
            if matches:
                self.names.setCurrentItem(matches[0])

    def _load(self, name: str) -> None:
        profile: Any = self.store.get(name) if name else Profile("", gateway_url="")
        self.name.setText(profile.name)
        for attr, edit in self.inputs.items():
            edit.setText(getattr(profile, attr) or "" if name else "")
        self.token.setText(profile.token or "")
        self.role.setCurrentIndex(max(0, self.role.findData(profile.role)))
        self.error.clear()
