"""Stack panel views against a StackModel over real child processes."""

from __future__ import annotations

import sys
from typing import Any

import httpx
from PySide6.QtGui import QGuiApplication

from app.models.stack_model import StackModel
from app.qt.panels.stack import StackPanel
from backend.supervisor import ProcessSpec, ProcessSupervisor
from tests.support.waiting import until
from tests.desk.test_stack_model import CHILDREN, health_spec


def _cell(panel: StackPanel, name: str, column: int) -> str:
    for row in range(panel.table.rowCount()):
        if panel.table.item(row, 0).data(0x0100) == name:
            return panel.table.item(row, column).text()
    raise AssertionError(f"no row {name}")


def test_rows_buttons_and_live_log(qtbot: Any, arun: Any) -> None:
    supervisor = ProcessSupervisor()
    supervisor.add(health_spec("agent"))
    supervisor.add(ProcessSpec("news", [sys.executable, str(CHILDREN / "chatter.py"), "3", "--hold"], grace_seconds=1))
    model = StackModel()
    panel = StackPanel(model)
    qtbot.addWidget(panel)
    model.bind_supervisor(supervisor)
    panel.refresh()
    assert panel.table.rowCount() == 2 and _cell(panel, "agent", 1) == "stopped"
    start_agent = panel.findChild(object, "start_agent")
    stop_agent = panel.findChild(object, "stop_agent")
    assert start_agent.isEnabled() and not stop_agent.isEnabled()

    async def scenario() -> None:
        panel.start_all_button.click()
        await until(lambda: model.row("agent").status == "healthy" and model.row("news").status == "healthy", 20,
                    "the stack to come up")
        panel.refresh()
        assert _cell(panel, "agent", 1) == "healthy"
        assert _cell(panel, "agent", 2) == str(supervisor["agent"].pid)
        assert _cell(panel, "agent", 3) == str(supervisor["agent"].port)
        assert not panel.findChild(object, "start_agent").isEnabled()
        assert panel.findChild(object, "stop_agent").isEnabled()

        panel.findChild(object, "logs_news").click()  # one click from the row
        view = panel.log_views["news"]
        await until(lambda: view.lines()[:3] == ["chatter 0", "chatter 1", "chatter 2"], 10, "the log lines")
        agent_log = panel.open_log("agent")
        before = sum("GET /health" in line for line in agent_log.lines())
        async with httpx.AsyncClient(trust_env=False) as client:  # the child logs each request it serves
            await client.get(supervisor["agent"].spec.health_url)
        await until(lambda: sum("GET /health" in line for line in agent_log.lines()) == before + 1, 10,
                    "the new line to be followed")
        assert panel.logs.currentWidget() is agent_log
        panel.logs.setCurrentWidget(view)
        view.search.setText("chatter")
        assert view.matches.text() == "3 matches"
        assert view.find("chatter 1") and view.text.textCursor().selectedText() == "chatter 1"
        assert view.copy() == "chatter 1" and QGuiApplication.clipboard().text() == "chatter 1"

        panel.findChild(object, "stop_agent").click()
        await until(lambda: model.row("agent").status == "stopped", 10, "the agent to stop")
        panel.refresh()
        assert _cell(panel, "agent", 1) == "stopped" and _cell(panel, "agent", 6).startswith("stopped:")
        await supervisor.stop_all()

    arun(scenario(), 60)
    panel.detach()


def test_read_only_disables_every_control_with_the_reason(qtbot: Any) -> None:
    supervisor = ProcessSupervisor()
    supervisor.add(health_spec("agent"))
    model = StackModel()
    panel = StackPanel(model)
    qtbot.addWidget(panel)
    model.bind_supervisor(supervisor)
    panel.refresh()
    reason = "read-only: viewer token on 'prod'"
    panel.set_read_only(reason)
    for name in ("start_agent", "stop_agent", "restart_agent"):
        button = panel.findChild(object, name)
        assert not button.isEnabled() and button.toolTip() == reason
    assert not panel.start_all_button.isEnabled() and panel.start_all_button.toolTip() == reason
    assert panel.findChild(object, "logs_agent").isEnabled()  # reading logs is not a change
    panel.set_read_only(None)
    assert panel.findChild(object, "start_agent").isEnabled()
    panel.detach()


def test_a_process_given_up_on_shows_why_in_its_row(qtbot: Any, arun: Any) -> None:
    from backend.supervisor import RestartPolicy

    supervisor = ProcessSupervisor()
    supervisor.add(ProcessSpec("news", [sys.executable, str(CHILDREN / "crash.py")], restart=RestartPolicy.on_failure,
                               max_restarts=1, backoff_base=0.01))
    model = StackModel()
    panel = StackPanel(model)
    qtbot.addWidget(panel)
    model.bind_supervisor(supervisor)

    async def scenario() -> None:
        await supervisor.start("news")
        await until(lambda: model.row("news").gave_up, 30, "giving up")
        panel.refresh()
        assert _cell(panel, "news", 1) == "crashed, gave up"
        assert _cell(panel, "news", 6) == "gave up after 1 restarts without progress: exited with code 3"
        assert panel.findChild(object, "start_news").isEnabled()  # one click gives it a fresh chance
        await supervisor.stop_all()

    arun(scenario(), 60)
    panel.detach()
