"""The Stack panel's "Reload on source change": persisted, and the local stack it starts restarts a saved service.

The stack's services are real subprocesses of the desk; the watched tree is
a scratch copy of the project (the real tree is never edited).
"""

from __future__ import annotations

from typing import Any

import pytest
from PySide6.QtCore import Qt

from app.models.settings_store import AppSettings, MemorySettings
from app.qt.main_window import MainWindow
from app.qt.panels import load_panels
from app.session import Session
from backend.config import load_settings
from backend.stack.local_stack import LocalStack
from tests.stack.reload_support import scratch_copy
from tests.support.waiting import until


def _window(qtbot: Any, session: Session, store: MemorySettings, **kwargs: Any) -> MainWindow:
    window = MainWindow(session, AppSettings(store), panel_classes=load_panels(), demo_run=None, **kwargs)
    qtbot.addWidget(window)
    window.show()
    return window


def _cell(panel: Any, name: str, column: int) -> str:
    for row in range(panel.table.rowCount()):
        if panel.table.item(row, 0).data(Qt.ItemDataRole.UserRole) == name:
            return panel.table.item(row, column).text()
    raise AssertionError(f"no row {name}")


def test_the_toggle_is_remembered(qtbot: Any, arun: Any) -> None:
    store = MemorySettings()
    session = Session()
    first = _window(qtbot, session, store)
    box = first.panel("stack").reload_box
    assert box.text() == "Reload on source change" and not box.isChecked()
    box.click()
    arun(until(lambda: session.local.reload, 5, "the session to take the toggle"))
    assert AppSettings(store).reload_on_source_change is True
    first.close()

    again = Session()
    second = _window(qtbot, again, store)
    assert second.panel("stack").reload_box.isChecked()
    arun(until(lambda: again.local.reload, 5, "the new session to start with reload on"))


@pytest.mark.slow
def test_a_saved_service_module_restarts_that_service_and_the_panel_says_so(qtbot: Any, arun: Any, tmp_path) -> None:
    repo = scratch_copy(tmp_path / "repo")
    settings = load_settings(runs_dir=tmp_path / "runs", workspaces_dir=tmp_path / "ws")
    stack = LocalStack(settings, state_dir=tmp_path / ".stack", embed_runtime=True, watch_root=repo,
                       ports={"agent": 0, "trading": 0, "news": 0, "runtime": 0})
    session = Session()
    window = _window(qtbot, session, MemorySettings(), stack_factory=lambda: stack)
    panel = window.panel("stack")

    async def scenario() -> None:
        window.show_panel("stack")
        panel.reload_box.click()
        await until(lambda: session.local.reload, 5, "reload on")
        await until(lambda: panel.start_all_button.isEnabled(), what="Start all enabled")
        qtbot.mouseClick(panel.start_all_button, Qt.MouseButton.LeftButton)
        await until(lambda: session.stack is stack and stack.watcher is not None and stack.watcher.running,
                    timeout=60, what="the stack up and watching")
        await until(lambda: all(r.status == "healthy" for r in panel.model.rows() if r.kind == "service"),
                    timeout=60, what="the services healthy")
        assert stack.reload and stack.forkserver is None  # reload spawns fresh interpreters
        agent_pid, trading_pid = stack.supervisor["agent"].pid, stack.supervisor["trading"].pid

        routes = repo / "backend" / "apps" / "agent_service" / "workspaces.py"
        routes.write_text(routes.read_text() + "\n# saved by the reload test\n")
        await until(lambda: panel.model.row("agent").reloaded and panel.model.row("agent").status == "healthy",
                    timeout=60, what="the agent service reloaded")
        panel.refresh()
        detail = _cell(panel, "agent", 6)
        assert detail.startswith("reloaded at ") and "backend/apps/agent_service/workspaces.py" in detail, detail
        assert stack.supervisor["agent"].pid != agent_pid
        assert stack.supervisor["trading"].pid == trading_pid and not panel.model.row("trading").reloaded
        view = panel.open_log("agent")
        await until(lambda: any(line.startswith("[reload] restarted: agent restarted") for line in view.lines()),
                    10, "the reload line in the agent's log")

        # Turned off on the running stack: its watcher stops.
        panel.reload_box.click()
        await until(lambda: stack.watcher is None, 10, "the watcher stopped")
        await window.stop_local_stack()

    arun(scenario(), timeout=180)
