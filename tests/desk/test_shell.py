"""The main window: panels, runtime/role display, connection banners, local stack life cycle."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest
from PySide6.QtCore import QSettings, Qt
from PySide6.QtWidgets import QApplication, QMessageBox

from app.models.profile import LOCAL, Profile
from app.models.settings_store import AppSettings, MemorySettings
from app.qt.main_window import MainWindow
from app.qt.panels import load_panels
from app.qt.panels.live import LivePanel
from app.qt.panels.stack import StackPanel
from app.qt.qsettings_store import QSettingsStore
from app.session import Session
from tests.desk.conftest import ChildStack
from tests.support.waiting import until
from tests.support.http_server import HealthHandler, serving

PANELS = [StackPanel, LivePanel]


def _window(qtbot: Any, session: Session, **kwargs: Any) -> MainWindow:
    kwargs.setdefault("panel_classes", PANELS)
    window = MainWindow(session, kwargs.pop("settings", None) or AppSettings(MemorySettings()), **kwargs)
    qtbot.addWidget(window)
    return window


@pytest.fixture
def health_server() -> Iterator[tuple[str, Any]]:
    """A real HTTP server answering GET /health; returns (url, server) so a test can stop it."""
    with serving(HealthHandler) as served:
        yield served


def recording_factory(root: Path) -> tuple[list[ChildStack], Callable[[], ChildStack]]:
    """A window's stack factory making stacks in ``root``, and the list of every stack it made."""
    made: list[ChildStack] = []

    def factory() -> ChildStack:
        made.append(ChildStack(root))
        return made[-1]

    return made, factory


def test_panel_discovery_skips_missing_and_broken_modules(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "broken_panel_mod.py").write_text("raise RuntimeError('half written')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    from app.qt import panels

    found = load_panels([("app.qt.panels.does_not_exist", "Nope"), ("broken_panel_mod", "X"),
                         ("app.qt.panels.stack", "StackPanel"), ("app.qt.panels.live", "NoSuchClass")])
    assert found == [StackPanel]
    assert panels.SKIPPED["app.qt.panels.does_not_exist"] == "not installed"
    assert "half written" in panels.SKIPPED["broken_panel_mod"]
    assert panels.SKIPPED["app.qt.panels.live"] == "no class NoSuchClass"
    assert [cls.panel_id for cls in load_panels()][:2] == ["stack", "live"]


def test_title_status_bar_and_keyboard_actions(qtbot: Any, qloop: Any) -> None:
    window = _window(qtbot, Session(Profile(LOCAL)))
    assert window.windowTitle() == "EvoTraders Control Center - Local (admin)"
    assert window.profile_label.text() == "Profile: Local" and window.role_label.text() == "Role: admin"
    assert set(window.panels) == {"stack", "live"} and window.panel("live") is window.dock("live").widget().layout(
    ).itemAt(1).widget()
    assert window.action("show_live").shortcut().toString() == "Alt+2"
    window.dock("live").hide()
    window.action("show_live").trigger()
    assert not window.dock("live").isHidden()
    assert window.action("start_stack").isEnabled() and not window.action("stop_stack").isEnabled()
    assert not window.offer_button.isHidden() and "No local stack" in window.top_banner.text()
    with pytest.raises(KeyError, match="no panel 'nope'"):
        window.panel("nope")


def test_viewer_on_a_remote_gateway_is_read_only_and_refused(qtbot: Any, arun: Any, gateway_process: Any) -> None:
    from backend.security.tokens import Role, generate_registry

    tokens = generate_registry()
    gateway_process.env.update(tokens.as_env())
    url = gateway_process.start("--run-id", "ro", "--create", "--end", "2025-01-10", "--pace", "0", "--paused",
                                "--host", "127.0.0.1")
    profile = Profile("prod", gateway_url=url.rstrip("/"), token=tokens.tokens[Role.viewer])
    session = Session(profile, health_interval=60)
    window = _window(qtbot, session)
    # Before the server confirms the role, a remote profile is treated as read-only.
    assert "not confirmed" in (session.read_only_reason or "")

    async def scenario() -> None:
        await session.open(profile)
        await session.gateway.wait_connected(15)
        await until(lambda: window.role_label.text() == "Role: viewer", 5, "the role from hello")
        reason = session.read_only_reason
        assert reason == "read-only: viewer token on 'prod'"
        assert window.windowTitle().startswith("EvoTraders Control Center - prod (viewer) - run ro")
        live, stack = window.panel("live"), window.panel("stack")
        for widget in (live.pause_button, live.resume_button, live.pace, live.pace_button,
                       stack.start_all_button, stack.stop_all_button):
            assert not widget.isEnabled() and widget.toolTip() == reason
        assert not window.action("start_stack").isEnabled()
        # The server refuses a forced call anyway.
        from app.net.gateway_client import GatewayCommandError

        with pytest.raises(GatewayCommandError, match="read-only"):
            await session.gateway.resume()
        await window.shutdown()

    arun(scenario(), 60)


def test_losing_a_service_shows_at_once_and_recovers(qtbot: Any, arun: Any, health_server: Any) -> None:
    url, server = health_server
    profile = Profile(LOCAL, agent_url=url, trading_url=url, news_url=url, runtime_url=url)
    session = Session(profile, health_interval=0.1)
    window = _window(qtbot, session)
    window.show()

    async def scenario() -> None:
        await session.open(profile)
        await until(lambda: session.state("agent").status == "up", 10, "the services up")
        assert not window.top_banner.isVisible() or "No local stack" not in window.top_banner.text()
        server.shutdown()
        server.server_close()
        await until(lambda: session.state("trading").down, 10, "the loss to be noticed")
        assert window.top_banner.isVisible() and "Connection lost" in window.top_banner.text()
        assert "cannot reach" in window.service_labels["trading"].toolTip()
        assert window.retry_button.isVisible()
        stack_banner = window._dock_banners["stack"]  # the Stack panel depends on runtime_service
        assert stack_banner.isVisible() and "runtime unreachable" in stack_banner.text()
        await window.shutdown()

    arun(scenario(), 30)


def test_local_stack_starts_shows_processes_and_closing_stops_them(qtbot: Any, arun: Any, tmp_path: Path) -> None:
    stacks, factory = recording_factory(tmp_path / "stack")

    session = Session(Profile(LOCAL), health_interval=0.2)
    window = _window(qtbot, session, stack_factory=factory)
    window.show()
    closed = []
    window.closed.connect(lambda: closed.append(True))

    async def scenario() -> list[int]:
        window.offer_button.click()  # one click
        await until(lambda: session.stack is not None and len(session.stack.supervisor) == 4, 10, "the stack")
        await until(lambda: all(s.status == "up" for n, s in session.states().items() if n != "gateway"), 20,
                    "every service up")
        stack_panel = window.panel("stack")
        stack_panel.refresh()
        rows = {r.name: r for r in stack_panel.model.rows()}
        assert set(rows) == {"agent", "trading", "news", "runtime"}
        assert all(r.status == "healthy" and r.pid for r in rows.values())
        assert stack_panel.table.rowCount() == 4
        assert window.action("stop_stack").isEnabled() and not window.action("start_stack").isEnabled()
        assert window.offer_button.isHidden()
        pids = [r.pid for r in rows.values()]
        window.close()  # the real close path: closeEvent -> shutdown -> close
        await until(lambda: closed, 10, "the window to finish closing")
        return pids

    pids = arun(scenario(), 60)
    assert not window.isVisible()
    assert all(not psutil.pid_exists(p) or psutil.Process(p).status() == psutil.STATUS_ZOMBIE for p in pids)
    assert not (tmp_path / "stack" / "stack.json").exists()


def test_second_instance_offers_to_attach_instead_of_starting(qtbot: Any, arun: Any, tmp_path: Path) -> None:
    first = ChildStack(tmp_path / "stack")
    session = Session(Profile(LOCAL), health_interval=0.2)
    started, factory = recording_factory(tmp_path / "stack")

    window = _window(qtbot, session, stack_factory=factory)

    async def scenario() -> None:
        await first.up()  # "another instance" owns this stack and its lock file
        try:
            await window.start_local_stack()
            dialog = window.attach_dialog
            # open(), never exec(): window-modal at most, the event loop keeps running.
            assert isinstance(dialog, QMessageBox) and dialog.isVisible()
            assert dialog.windowModality() != Qt.WindowModality.ApplicationModal
            assert "already running" in dialog.text()
            assert started[-1].supervisor.processes == []  # nothing spawned by the second instance
            dialog.button(QMessageBox.StandardButton.Yes).click()
            await until(lambda: session.attached_stack is not None, 5, "the attach")
            assert session.profile.agent_url == first.urls["agent"]
            await until(lambda: session.state("agent").status == "up", 10, "the attached services")
            assert session.stack is None and not window.action("stop_stack").isEnabled()
            await window.shutdown()
            assert all(p.status.value == "healthy" for p in first.supervisor)  # we never stop another's stack
        finally:
            await first.down()

    arun(scenario(), 60)


def test_window_layout_and_theme_are_saved(qtbot: Any, arun: Any, tmp_path: Path) -> None:
    ini = str(tmp_path / "desk.ini")
    settings = AppSettings(QSettingsStore(QSettings(ini, QSettings.Format.IniFormat)))
    window = _window(qtbot, Session(Profile(LOCAL)), settings=settings)
    window.show()
    window.dock("live").hide()
    window.action("theme_dark").trigger()
    arun(window.shutdown())
    window.hide()
    again = AppSettings(QSettingsStore(QSettings(ini, QSettings.Format.IniFormat)))
    assert again.theme == "dark" and again.window_state and again.geometry
    second = _window(qtbot, Session(Profile(LOCAL)), settings=again)
    second.show()
    assert second.dock("live").isHidden() and not second.dock("stack").isHidden()
    assert second.action("theme_dark").isChecked()
    arun(second.shutdown())
    second.hide()


def test_a_raising_slot_or_task_never_kills_the_app(qtbot: Any, arun: Any) -> None:
    from PySide6.QtWidgets import QPushButton

    from app.qt.async_helpers import spawn
    from app.qt.excepthook import ErrorReporter

    reporter = ErrorReporter().install(asyncio.get_event_loop())
    try:
        button = QPushButton("boom")
        qtbot.addWidget(button)
        calls: list[int] = []

        def slot() -> None:
            calls.append(1)
            raise ValueError(f"slot failure {len(calls)}")

        button.clicked.connect(slot)
        button.click()
        button.click()  # still connected, still working
        assert calls == [1, 1] and reporter.errors == ["ValueError: slot failure 1", "ValueError: slot failure 2"]
        dialog = reporter.dialog
        assert dialog is not None and dialog.isVisible() and not dialog.isModal()
        assert "2 errors" in dialog.text() and "slot failure 2" in dialog.detailedText()

        async def failing() -> None:
            raise RuntimeError("task failure")

        async def scenario() -> None:
            spawn(failing())
            await until(lambda: "RuntimeError: task failure" in reporter.errors, 5, "the task error")

        arun(scenario())
        assert len([w for w in QApplication.topLevelWidgets() if isinstance(w, QMessageBox) and w.isVisible()]) == 1
    finally:
        reporter.uninstall()


def test_profiles_are_edited_in_a_dialog_and_switched_to(qtbot: Any, arun: Any, tmp_path: Path) -> None:
    from app.models.profiles import ProfileStore, TokenVault

    settings = AppSettings(MemorySettings())
    store = ProfileStore(settings, TokenVault(tmp_path / "tokens.json", backend=None))
    session = Session(Profile(LOCAL), health_interval=60)
    window = _window(qtbot, session, settings=settings, profiles=store)
    window.action("profiles").trigger()
    dialog = window.profile_dialog
    assert dialog.isVisible() and not dialog.isModal()
    dialog.name.setText("prod")
    for attr, edit in dialog.inputs.items():
        edit.setText("https://prod.example:8000" if attr != "gateway_url" else "http://wrong:1")
    dialog.token.setText("tok")
    assert not dialog.save() and "gateway url" in dialog.error.text()
    dialog.inputs["gateway_url"].setText("")
    assert dialog.save() and store.get("prod").token == "tok"
    assert [window.profile_combo.itemText(i) for i in range(window.profile_combo.count())] == [LOCAL, "prod"]
    dialog.close()

    async def scenario() -> None:
        await window.switch_profile("prod")
        assert session.profile.name == "prod" and settings.last_profile == "prod"
        assert window.windowTitle() == "EvoTraders Control Center - prod (role unknown)"
        assert not window.action("start_stack").isEnabled()  # only the Local profile owns a stack
        await window.shutdown()

    arun(scenario())


def test_theme_switch_recolours_the_charts(qtbot: Any, qloop: Any) -> None:
    from app.qt.theme import ThemeManager

    manager = ThemeManager(QApplication.instance(), "light")
    window = _window(qtbot, Session(Profile(LOCAL)), theme_manager=manager)
    charts = window.panel("live").charts
    assert charts.views[0].backgroundBrush().color().name() == "#ffffff"
    window.action("theme_dark").trigger()
    assert manager.effective == "dark" and charts.views[0].backgroundBrush().color().name() == "#1e1f22"
    assert QApplication.instance().palette().window().color().name() == "#2b2d30"
    window.action("theme_light").trigger()
    assert charts.views[0].backgroundBrush().color().name() == "#ffffff"


def test_ports_in_use_without_a_lock_offer_to_attach_not_a_second_stack(qtbot: Any, arun: Any,
                                                                         tmp_path: Path) -> None:
    import socket

    stacks, factory = recording_factory(tmp_path / "stack")

    session = Session(Profile(LOCAL), health_interval=60)
    window = _window(qtbot, session, stack_factory=factory)
    window.show()
    holder = socket.socket()
    try:
        stack = factory()
        holder.bind(("127.0.0.1", stack.ports["trading"]))
        holder.listen()
        window.stack_factory = lambda: stack

        async def scenario() -> None:
            await window.start_local_stack()
            assert stack.supervisor.processes == []  # nothing spawned
            assert session.stack is None and window.action("start_stack").isEnabled()
            assert "Cannot start the local stack" in window.top_banner.text()
            assert str(stack.ports["trading"]) in window.top_banner.text()
            dialog = window.attach_dialog
            assert dialog.isVisible() and "in use" in dialog.text()
            dialog.button(QMessageBox.StandardButton.Yes).click()
            await until(lambda: session.attached_stack is not None, 5, "the attach")
            assert session.profile.trading_url == stack.urls["trading"] and window.stack_error == ""
            await window.shutdown()

        arun(scenario())
    finally:
        holder.close()


def test_losing_the_gateway_shows_in_the_live_banner_and_status_bar(qtbot: Any, arun: Any,
                                                                    gateway_process: Any) -> None:
    url = gateway_process.start("--run-id", "lost", "--create", "--end", "2025-01-10", "--pace", "0", "--paused")
    session = Session(Profile(LOCAL), health_interval=60,
                      gateway_options={"backoff_base": 0.05, "backoff_cap": 0.2})
    window = _window(qtbot, session)
    window.show()

    async def scenario() -> None:
        client = session.watch_gateway(url, "lost")
        await client.wait_connected(15)
        assert not window._dock_banners["live"].isVisible()
        assert window.profile_label.text() == "Profile: Local / run lost"
        gateway_process.kill()
        await until(lambda: session.state("gateway").down, 10, "the loss to show")
        banner = window._dock_banners["live"]
        assert banner.isVisible() and "gateway unreachable" in banner.text() and "last known data" in banner.text()
        assert "Connection lost" in window.top_banner.text() and window.retry_button.isVisible()
        assert "down" in window.service_labels["gateway"].toolTip()
        live = window.panel("live")
        assert live.model.status == "paused"  # the last data stays on screen
        await window.shutdown()

    arun(scenario(), 60)


def test_desk_without_a_display_says_so_in_one_line(tmp_path):
    import os
    import subprocess
    import sys
    from pathlib import Path

    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    env.update(RUNS_DIR=str(tmp_path / "runs"), WORKSPACES_DIR=str(tmp_path / "ws"))
    evotraders = Path(sys.executable).with_name("evotraders")
    proc = subprocess.run([str(evotraders), "desk"], env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "no display" in lines[0] and "xvfb-run" in lines[0]
