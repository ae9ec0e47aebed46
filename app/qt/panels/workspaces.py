"""Workspaces panel: list and manage workspaces, edit BOOTSTRAP.md with live validation, start runs."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QHBoxLayout, QInputDialog, QLabel, QListWidget, QListWidgetItem, QMessageBox, QPushButton, QSplitter,
    QVBoxLayout, QWidget,
)

from app.models.workspaces_model import ControllerRunLauncher, HttpRunLauncher, WorkspacesModel
from backend.clients.services import AgentServiceClient, RuntimeServiceClient
from app.qt.async_helpers import spawn
from app.qt.observe import observe
from app.qt.panels.base import SessionPanel, came_up, scrolling
from app.qt.widgets.bootstrap_editor import BootstrapEditor
from app.qt.widgets.run_form import RunForm


class WorkspacesPanel(SessionPanel):
    """Workspaces of the runtime: create, duplicate, rename, delete; BOOTSTRAP.md editor; run starts."""

    panel_id = "workspaces"
    title = "Workspaces"
    services = ("agent", "runtime")
    required_role = "admin"

    def __init__(self, model: WorkspacesModel | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = model or WorkspacesModel()
        self.dialog: QWidget | None = None  # the open name prompt / confirmation, if any
        self._build()
        for widget, tip in ((self.new_button, "Create a workspace from the default template"),
                            (self.duplicate_button, "Copy the selected workspace"),
                            (self.rename_button, "Rename the selected workspace"),
                            (self.delete_button, "Delete the selected workspace"),
                            (self.save_button, "Save BOOTSTRAP.md (validated first)"),
                            (self.form.button, "Create a run from this workspace and start it")):
            self.controls.add(widget, tip)
        observe(self.model.changed, self, self._on_model)
        self._show_list()

    def _build(self) -> None:
        self.list = QListWidget()
        self.list.setObjectName("workspaces_list")
        self.list.currentItemChanged.connect(self._on_current)
        self.new_button = QPushButton("New\u2026")
        self.duplicate_button = QPushButton("Duplicate\u2026")
        self.rename_button = QPushButton("Rename\u2026")
        self.delete_button = QPushButton("Delete\u2026")
        self.delete_button.setObjectName("delete_workspace")
        self.new_button.clicked.connect(lambda: self.ask_name("New workspace", "", self._create))
        self.duplicate_button.clicked.connect(
            lambda: self.model.selected and self.ask_name("Duplicate as", f"{self.model.selected}-copy",
                                                          self._duplicate))
        self.rename_button.clicked.connect(
            lambda: self.model.selected and self.ask_name("Rename to", self.model.selected, self._rename))
        self.delete_button.clicked.connect(lambda: self.ask_delete())
        left = QWidget()
        lbox = QVBoxLayout(left)
        lbox.setContentsMargins(0, 0, 0, 0)
        lbox.addWidget(self.list, 1)
        row1, row2 = QHBoxLayout(), QHBoxLayout()
        row1.addWidget(self.new_button)
        row1.addWidget(self.duplicate_button)
        row2.addWidget(self.rename_button)
        row2.addWidget(self.delete_button)
        lbox.addLayout(row1)
        lbox.addLayout(row2)

        self.editor = BootstrapEditor()
        self.editor.edited.connect(self.model.edit)
        self.save_button = QPushButton("Save")
        self.save_button.setObjectName("save_bootstrap")
        self.revert_button = QPushButton("Revert")
        self.save_button.clicked.connect(lambda: spawn(self.model.save()))
        self.revert_button.clicked.connect(lambda: self.model.revert())
        self.form = RunForm()
        self.form.button.clicked.connect(lambda: self.start_run())
        edit = QWidget()
        rbox = QVBoxLayout(edit)
        rbox.setContentsMargins(0, 0, 0, 0)
        self.heading = QLabel()
        self.heading.setObjectName("workspace_heading")
        rbox.addWidget(self.heading)
        rbox.addWidget(self.editor, 1)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.revert_button)
        buttons.addWidget(self.save_button)
        rbox.addLayout(buttons)
        # The editor over the run form; in a short dock the form scrolls.
        right = QSplitter(Qt.Orientation.Vertical)
        right.setObjectName("workspace_editor_split")
        right.addWidget(edit)
        right.addWidget(scrolling(self.form, "run_form_scroll"))
        right.setStretchFactor(0, 3)
        right.setStretchFactor(1, 2)
        right.setChildrenCollapsible(False)

        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(left)
        split.addWidget(right)
        split.setStretchFactor(1, 3)
        split.setSizes([120, 240])  # the names need little room; the editor and the run form take the rest
        self._lay_out(split)

    # -- panel API ----------------------------------------------------------------
    def _permissions_applied(self, reason: str | None) -> None:
        self.editor.set_read_only(reason is not None)
        self.editor.editor.setToolTip(reason or "")

    def _use_profile(self) -> None:
        session = self.session
        controller = getattr(session, "controller", None) if session.profile.is_local else None
        self.model.agent = AgentServiceClient(lambda: session.client("agent"))
        self.model.launcher = (ControllerRunLauncher(controller) if controller is not None
                               else HttpRunLauncher(RuntimeServiceClient(lambda: session.client("runtime"))))
        spawn(self._reload())

    async def _reload(self) -> None:
        if await self.model.refresh() and self.model.selected is None and self.model.workspaces:
            await self.model.select(self.model.workspaces[0].name)

    def _on_session_event(self, event: Any) -> None:
        if came_up(event, "agent") and not self.model.workspaces:
            spawn(self._reload())  # the service came up after us: fill the list now

    # -- model -> view ------------------------------------------------------------
    def _on_model(self, kind: str, payload: Any) -> None:
        if kind == "list":
            self._show_list()
        elif kind == "selected":
            self.editor.set_text(self.model.text)
            self.editor.clear_error("")
            self.heading.setText(f"<b>{payload}</b> / BOOTSTRAP.md" if payload else "No workspace selected")
            self.form.fill_from(self.model.row)
            self._select_in_list(payload)
        elif kind == "check":
            if payload.ok:
                self.editor.clear_error("\u2713 valid" + (" (checked locally: service offline)"
                                                          if payload.source == "local" else ""))
            else:
                self.editor.show_error(payload.line, (f"{payload.field}: " if payload.field else "")
                                       + payload.message)
        elif kind == "dirty":
            self.save_button.setText("Save *" if payload else "Save")
        elif kind == "message":
            self._show_message(payload)
        elif kind == "started":
            run_id, info = payload
            if self.session is not None:
                spawn(self.session.watch_run(run_id, (info or {}).get("url")))

    def _show_list(self) -> None:
        self.list.blockSignals(True)
        self.list.clear()
        for row in self.model.workspaces:
            item = QListWidgetItem(row.name)
            item.setData(Qt.ItemDataRole.UserRole, row.name)
            item.setToolTip(f"{row.mode or ''}, {row.start_date or ''} .. {row.end_date or ''}, "
                            f"{', '.join(row.tickers)}, {len(row.agents)} agents")
            self.list.addItem(item)
        self.list.blockSignals(False)
        self._select_in_list(self.model.selected)

    def _select_in_list(self, name: str | None) -> None:
        self.list.blockSignals(True)
        for index in range(self.list.count()):
            if self.list.item(index).data(Qt.ItemDataRole.UserRole) == name:
                self.list.setCurrentRow(index)
                break
        self.list.blockSignals(False)

    # -- view -> model ------------------------------------------------------------
    def _on_current(self, current: QListWidgetItem | None, _previous: Any) -> None:
        if current is not None:
            spawn(self.model.select(current.data(Qt.ItemDataRole.UserRole)))

    def ask_name(self, title: str, initial: str, then: Any) -> None:
        """A non-blocking name prompt (``open()``), calling ``then(name)`` when accepted."""
        dialog = QInputDialog(self)
        dialog.setObjectName("workspace_name_dialog")
        dialog.setWindowTitle(title)
        dialog.setLabelText("Name (letters, digits, _ and -)")
        dialog.setTextValue(initial)
        dialog.finished.connect(lambda result: self._named(dialog, result, then))
        self.dialog = dialog
        dialog.open()

    def _named(self, dialog: QInputDialog, result: int, then: Any) -> None:
        self.dialog = None
        dialog.deleteLater()
        name = dialog.textValue().strip()
        if result == QInputDialog.DialogCode.Accepted and name:
            spawn(then(name))

    async def _create(self, name: str) -> None:
        await self.model.create(name)

    async def _duplicate(self, name: str) -> None:
        await self.model.duplicate(self.model.selected, name)

    async def _rename(self, name: str) -> None:
        await self.model.rename(self.model.selected, name)

    def ask_delete(self) -> None:
        name = self.model.selected
        if name is None:
            return
        box = QMessageBox(QMessageBox.Icon.Warning, "Delete workspace",
                          f"Delete workspace '{name}' and its files? Runs created from it are kept.",
                          QMessageBox.StandardButton.Cancel, self)
        box.setObjectName("delete_confirmation")
        delete = box.addButton("Delete", QMessageBox.ButtonRole.DestructiveRole)
        box.setDefaultButton(QMessageBox.StandardButton.Cancel)
        box.finished.connect(lambda _: self._confirmed_delete(box, delete, name))
        self.dialog = box
        box.open()

    def _confirmed_delete(self, box: QMessageBox, delete: QPushButton, name: str) -> None:
        self.dialog = None
        box.deleteLater()
        if box.clickedButton() is delete:
            spawn(self.model.delete(name))

    def start_run(self) -> None:
        if self.model.selected is None:
            self.message.setText("select a workspace first")
            return
        spawn(self.model.start_run(self.form.request(self.model.selected)))
