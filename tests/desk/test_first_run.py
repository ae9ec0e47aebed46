"""The first thing a new user sees: an invitation, not failures; the "last known data" banner only once a
service that WAS reached is lost (a real agent_service subprocess, killed)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from app.models.profile import LOCAL, Profile
from app.models.settings_store import AppSettings, MemorySettings
from app.qt import theme
from app.qt.main_window import MainWindow
from app.qt.panels import load_panels
from app.session import Session
from tests.support.service_process import ServiceProcess, free_port, service_env
from tests.support.waiting import until

SESSION_PANELS = ("workspaces", "agents", "approvals", "history", "sandbox")


def _profile(**urls: str) -> Profile:
    """The Local profile on ports where nothing listens, except the ``urls`` given."""
    free = {f"{name}_url": f"http://127.0.0.1:{free_port()}" for name in ("agent", "trading", "news", "runtime")}
    return Profile(LOCAL, **{**free, **urls})


def _window(qtbot: Any, session: Session) -> MainWindow:
    window = MainWindow(session, AppSettings(MemorySettings()), panel_classes=load_panels(), demo_run=None)
    qtbot.addWidget(window)
    window.resize(1366, 768)
    window.show()
    return window


def test_a_fresh_profile_with_no_stack_invites_and_shows_no_error(qtbot: Any, arun: Any) -> None:
    profile = _profile()
    session = Session(profile, health_interval=0.1)
    window = _window(qtbot, session)

    async def scenario() -> None:
        await session.open(profile)
        session.start_monitoring()
        await until(lambda: all(session.state(s).down for s in ("agent", "trading", "news", "runtime")), 10,
                    "the first probes to find nothing")
        banners = {pid: b.text() for pid, b in window._dock_banners.items() if b.isVisible()}
        assert banners == {}  # no "unreachable ... (showing last known data)" over any panel
        assert window.statusBar().currentMessage() == ""
        for service, label in window.service_labels.items():
            assert theme.status_color("down") not in label.text(), f"{service} shows red"
        assert "not started" in window.service_labels["agent"].toolTip()
        assert "No local stack is running" in window.top_banner.text() and not window.retry_button.isVisible()
        for panel_id in SESSION_PANELS:
            panel = window.panel(panel_id)
            window.show_panel(panel_id)
            assert panel.inviting and panel.invitation.isVisible(), panel_id
            assert not panel.message.isVisible(), f"{panel_id} shows {panel.message.text()!r}"
            assert panel.invitation.start_button.text() == "Start the local stack"
            assert panel.invitation.profile_button.text() == "Pick a profile"
        approvals = window.panel("approvals")
        assert "agent service" in approvals.invitation.text.text()
        stack_rows = {row.name: row.status for row in window.panel("stack").model.rows()}
        assert set(stack_rows.values()) == {"not started"}, stack_rows
        # "Pick a profile" with only Local: the profile editor (there is nothing to pick yet).
        window.profiles = None
        approvals.invitation.profile_button.click()
        assert "not persisted" in window.statusBar().currentMessage()
        await window.shutdown()

    arun(scenario(), 40)


def test_the_banner_appears_only_after_a_reached_service_is_lost(qtbot: Any, arun: Any, tmp_path: Path) -> None:
    agent = ServiceProcess("agent_service", service_env(tmp_path)).start()
    try:
        profile = _profile(agent_url=agent.url)
        session = Session(profile, health_interval=0.1)
        window = _window(qtbot, session)

        async def scenario() -> None:
            await session.open(profile)
            session.start_monitoring()
            await until(lambda: session.state("agent").status == "up", 15, "agent_service reached")
            approvals, history = window.panel("approvals"), window.panel("history")
            await until(lambda: not approvals.inviting, 5, "the approvals body back")
            assert not window._dock_banners["approvals"].isVisible()
            agent.kill()
            await until(lambda: session.state("agent").down, 15, "the loss to be noticed")
            banner = window._dock_banners["approvals"]
            assert banner.isVisible() and "agent unreachable" in banner.text() and "last known data" in banner.text()
            assert "Connection lost" in window.top_banner.text() and window.retry_button.isVisible()
            assert theme.status_color("down") in window.service_labels["agent"].text()
            # runtime and trading were never reached: no "last known data" over the history panel.
            assert not window._dock_banners["history"].isVisible() and not history.inviting
            await window.shutdown()

        arun(scenario(), 60)
    finally:
        agent.stop()
