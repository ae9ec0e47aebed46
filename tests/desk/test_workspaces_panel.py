"""WorkspacesPanel with qtbot: the BOOTSTRAP editor marks the bad line; read-only; delete confirmation."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from PySide6.QtWidgets import QMessageBox

from app.models.workspaces_model import WorkspaceRow, WorkspacesModel
from backend.clients.http import ServiceClient
from backend.clients.services import AgentServiceClient
from app.qt.panels.workspaces import WorkspacesPanel
from tests.support.waiting import until
from tests.desk.test_workspaces_model import GOOD, bad_ticker_text


@pytest.fixture
def panel(qtbot: Any, arun: Any) -> Iterator[WorkspacesPanel]:
    http = ServiceClient("agent", "http://127.0.0.1:9")  # offline: validation falls back to the local parser
    view = WorkspacesPanel(WorkspacesModel(AgentServiceClient(http), debounce=0.01))
    qtbot.addWidget(view)
    yield view
    arun(http.aclose())


def test_typing_a_bad_value_marks_its_line_with_the_message(qtbot: Any, arun: Any, panel: WorkspacesPanel) -> None:
    panel.editor.set_text(GOOD)
    text, line = bad_ticker_text()
    panel.editor.editor.setPlainText(text)  # as if typed: emits edited
    arun(panel.model.settled())
    assert panel.editor.marked_lines() == [line]
    assert panel.editor.status.text() == f"\u26a0 Line {line}: tickers: invalid ticker symbol(s): msft"
    panel.editor.editor.setPlainText(GOOD)  # fixed: the mark goes away
    arun(panel.model.settled())
    assert panel.editor.marked_lines() == []
    assert panel.editor.status.text() == "\u2713 valid (checked locally: service offline)"
    assert panel.save_button.text() == "Save *"


def test_read_only_disables_every_change_with_the_reason(panel: WorkspacesPanel) -> None:
    reason = "read-only: viewer token on 'prod'"
    panel.set_read_only(reason)
    for widget in (panel.new_button, panel.duplicate_button, panel.rename_button, panel.delete_button,
                   panel.save_button, panel.form.button):
        assert not widget.isEnabled() and widget.toolTip() == reason
    assert panel.editor.editor.isReadOnly()


def test_delete_asks_first_and_cancel_keeps_the_workspace(qtbot: Any, arun: Any, panel: WorkspacesPanel) -> None:
    deleted: list[str] = []

    async def fake_delete(name: str) -> bool:  # the request itself is covered by the service tests
        deleted.append(name)
        return True

    panel.model.delete = fake_delete  # type: ignore[method-assign]
    panel.model.workspaces = [WorkspaceRow(name="alpha")]
    panel.model.selected = "alpha"
    panel.ask_delete()
    box = panel.dialog
    assert isinstance(box, QMessageBox) and box.isVisible() and "'alpha'" in box.text()
    box.button(QMessageBox.StandardButton.Cancel).click()
    arun(until(lambda: panel.dialog is None, what="the dialog to close"))
    assert deleted == []
    panel.ask_delete()
    destructive = next(b for b in panel.dialog.buttons() if b.text() == "Delete")
    destructive.click()
    arun(until(lambda: deleted, what="the delete request"))
    assert deleted == ["alpha"]
