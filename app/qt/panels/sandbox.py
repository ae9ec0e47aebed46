"""Sandbox settings panel: mode and limits, validated before saving; a warning while mode is none; probe."""

from __future__ import annotations

from typing import Any

from PySide6.QtWidgets import (
    QComboBox, QDoubleSpinBox, QFormLayout, QHBoxLayout, QLabel, QLineEdit, QPushButton, QVBoxLayout, QWidget,
)

from app.models.sandbox_model import MODES, SandboxModel
from backend.clients.services import RuntimeServiceClient
from app.qt.async_helpers import spawn
from app.qt.observe import observe
from app.qt.panels.base import SessionPanel, came_up, scrolling

LABELS = {"image": "Image", "memory_limit": "Memory", "cpu_limit": "CPUs", "network": "Network",
          "timeout": "Timeout", "pull_policy": "Pull policy", "namespace": "Namespace",
          "kube_context": "Kube context", "service_account": "Service account"}
HINTS = {"image": "container image skills run in", "memory_limit": "e.g. 512m or 1g",
         "network": "none (no network) or a network name", "kube_context": "empty: the current context",
         "service_account": "empty: the namespace default"}
ERROR_STYLE = "border: 1px solid #f85149;"


class SandboxPanel(SessionPanel):
    """The runtime's skill sandbox settings (``GET/PUT /sandbox/settings``) and a backend probe."""

    panel_id = "sandbox"
    title = "Sandbox"
    services = ("runtime",)
    required_role = "admin"

    def __init__(self, model: SandboxModel | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = model or SandboxModel()
        self._filling = False
        self._build()
        self.controls.add(self.mode, "Where skills run")
        for name, widget in self.inputs.items():
            self.controls.add(widget, HINTS.get(name, ""))
        self.controls.add(self.save_button, "Validate and save; every new run gets at least this isolation (a floor)")
        self.controls.add(self.reset_button, "Drop unsaved edits")
        self.controls.add(self.probe_button, "Run the probe skill in the selected mode")
        observe(self.model.changed, self, self._on_model)
        self._fill()

    def _build(self) -> None:
        self.banner = QLabel()
        self.banner.setObjectName("sandbox_banner")
        self.banner.setWordWrap(True)
        self.banner.setStyleSheet("background: #d29922; color: black; padding: 6px; border-radius: 3px;")
        self.banner.hide()
        self.mode = QComboBox()
        self.mode.setObjectName("sandbox_mode")
        self.mode.addItems(list(MODES))
        self.mode.currentTextChanged.connect(lambda mode: self._edited("mode", mode))
        self.inputs: dict[str, Any] = {}
        for name in ("image", "network", "namespace", "kube_context", "service_account", "memory_limit"):
            edit = QLineEdit()
            edit.setPlaceholderText(HINTS.get(name, ""))
            edit.textEdited.connect(lambda text, n=name: self._edited(n, text))
            self.inputs[name] = edit
        for name, (low, high, suffix) in {"cpu_limit": (0.0, 64.0, ""), "timeout": (0.0, 3600.0, " s")}.items():
            spin = QDoubleSpinBox()
            spin.setRange(low, high)
            spin.setDecimals(2 if name == "cpu_limit" else 1)
            spin.setSuffix(suffix)
            spin.valueChanged.connect(lambda value, n=name: self._edited(n, value))
            self.inputs[name] = spin
        pull = QComboBox()
        pull.addItems(["never", "missing"])
        pull.currentTextChanged.connect(lambda text: self._edited("pull_policy", text))
        self.inputs["pull_policy"] = pull
        for name, widget in self.inputs.items():
            widget.setObjectName(f"sandbox_{name}")

        self.form = QFormLayout()
        self.form.addRow("Mode", self.mode)
        self.errors: dict[str, QLabel] = {}
        for name in LABELS:
            error = QLabel()
            error.setObjectName(f"sandbox_{name}_error")
            error.setStyleSheet("color: #f85149;")
            error.hide()
            self.errors[name] = error
            box = QVBoxLayout()
            box.setContentsMargins(0, 0, 0, 0)
            box.setSpacing(1)
            box.addWidget(self.inputs[name])
            box.addWidget(error)
            self.form.addRow(LABELS[name], box)
        self.save_button = QPushButton("Save")
        self.save_button.setObjectName("sandbox_save")
        self.reset_button = QPushButton("Reset")
        self.probe_button = QPushButton("Test backend")
        self.probe_button.setObjectName("sandbox_probe")
        self.save_button.clicked.connect(lambda: spawn(self.model.save()))
        self.reset_button.clicked.connect(lambda: self.model.reset())
        self.probe_button.clicked.connect(lambda: spawn(self.model.probe()))
        self.probe_label = QLabel()
        self.probe_label.setObjectName("sandbox_probe_result")
        self.probe_label.setWordWrap(True)
        buttons = QHBoxLayout()
        buttons.addWidget(self.probe_button)
        buttons.addStretch(1)
        buttons.addWidget(self.reset_button)
        buttons.addWidget(self.save_button)
        body = QWidget()
        layout = QVBoxLayout(body)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.banner)
        layout.addLayout(self.form)
        layout.addLayout(buttons)
        layout.addWidget(self.probe_label)
        layout.addStretch(1)
        self._lay_out(scrolling(body, "sandbox_form"))

    # -- panel API ----------------------------------------------------------------
    def _permissions_applied(self, reason: str | None) -> None:
        self._update_buttons()

    def _use_profile(self) -> None:
        self.model.runtime = RuntimeServiceClient(lambda: self.session.client("runtime"))
        spawn(self.model.load())

    def _on_session_event(self, event: Any) -> None:
        if came_up(event, "runtime") and self.model.saved is None:
            spawn(self.model.load())

    # -- model -> view ------------------------------------------------------------
    def _on_model(self, kind: str, payload: Any) -> None:
        if kind in ("loaded", "draft"):
            self._fill()
        elif kind == "probe":
            self._show_probe()
        elif kind == "message":
            self._show_message(payload)

    def _fill(self) -> None:
        """Show the draft, the errors, the fields of its mode, and the banner."""
        draft = self.model.draft
        self._filling = True
        try:
            self.mode.setCurrentText(str(draft.get("mode")))
            for name, widget in self.inputs.items():
                value = draft.get(name)
                if isinstance(widget, QLineEdit):
                    if widget.text() != ("" if value is None else str(value)):
                        widget.setText("" if value is None else str(value))
                elif isinstance(widget, QDoubleSpinBox):
                    if isinstance(value, (int, float)) and widget.value() != value:
                        widget.setValue(float(value))
                else:
                    widget.setCurrentText(str(value))
        finally:
            self._filling = False
        visible = set(self.model.visible_fields())
        for name in LABELS:
            shown = name in visible
            self.form.setRowVisible(self._row_of(name), shown)
            error = self.model.errors.get(name)
            self.errors[name].setText(error or "")
            self.errors[name].setVisible(bool(error) and shown)
            self.inputs[name].setStyleSheet(ERROR_STYLE if error else "")
        banner = self.model.banner
        self.banner.setText("\u26a0 " + banner if banner else "")
        self.banner.setVisible(bool(banner))
        self._update_buttons()

    def _row_of(self, name: str) -> int:
        return list(LABELS).index(name) + 1  # row 0 is the mode

    def _update_buttons(self) -> None:
        if self.controls.read_only:
            return
        self.save_button.setEnabled(self.model.valid and self.model.dirty)
        self.save_button.setToolTip("Validate and save; every new run gets at least this isolation (a floor)" if self.model.valid
                                    else "Fix the marked fields first")
        self.probe_button.setEnabled(not self.model.probing)

    def _show_probe(self) -> None:
        outcome = self.model.probe_result
        if outcome is None:
            self.probe_label.setText("probing\u2026")
            self.probe_label.setStyleSheet("")
        else:
            mark = "\u2713" if outcome.ok else "\u2717"
            self.probe_label.setText(f"{mark} {outcome.mode}: {outcome.summary} ({outcome.duration_ms:,.0f} ms)")
            self.probe_label.setStyleSheet(f"color: {'#3fb950' if outcome.ok else '#f85149'};")
        self._update_buttons()

    # -- view -> model ------------------------------------------------------------
    def _edited(self, name: str, value: Any) -> None:
        if not self._filling:
            self.model.set_field(name, value)
