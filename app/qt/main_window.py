"""MainWindow: the shell -- dockable panels, profile/role in title and status bar, connection banners.

Public API (used by panels, tests and the lead's end-to-end test):

- ``MainWindow(session, settings, profiles=None, panel_classes=None, stack_factory=None)``
- ``window.panel(panel_id)`` -> the panel widget (``"stack"``, ``"live"``, ...); ``window.panels``
- ``window.dock(panel_id)`` -> its ``QDockWidget``
- ``window.action(name)`` -> a ``QAction``: ``start_stack`` (Ctrl+Shift+U), ``stop_stack``
  (Ctrl+Shift+D), ``retry`` (F5), ``quit`` (Ctrl+Q), ``theme_system``/``theme_dark``/``theme_light``,
  and ``show_<panel_id>`` (Alt+1..9) that shows and focuses a panel
- ``await window.start_local_stack()`` / ``await window.stop_local_stack()`` / ``await window.switch_profile(name)``
- ``await window.shutdown()``: what closing the window does (stops every process the app started, within 5 s)
- signal ``closed`` once shutdown finished

Panels come from ``app/qt/panels/__init__.py:PANELS``; each gets a dock whose
banner shows the services it depends on while they are down. What "Start local
stack" decides (a running stack to attach to, taken ports, the demo run) is
:class:`backend.stack.launcher.StackLauncher`'s; the window shows it.
"""

from __future__ import annotations

import asyncio

import logging
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence
from PySide6.QtWidgets import (
    QComboBox,
    QDockWidget,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QMessageBox,
    QPushButton,
    QSizePolicy,
    QToolBar,
    QVBoxLayout,
    QWidget,
)

from app.models.profile import LOCAL
from app.models.settings_store import AppSettings, MemorySettings
from app.qt import theme
from app.qt.async_helpers import spawn
from app.qt.panels.base import nothing_started
from app.session import HTTP_SERVICES, Session, SessionEvent
from backend.stack.launcher import DEMO_RUN, StackEndpoint, StackLauncher

log = logging.getLogger(__name__)

# Default placement: (dock area, tab group). Panels of one group are tabified.
_PLACES = {"stack": ("left", 0), "workspaces": ("left", 0), "sandbox": ("left", 0),
           "live": ("right", 1), "history": ("right", 1), "agents": ("right", 1), "approvals": ("bottom", 2)}
_AREAS = {"left": Qt.DockWidgetArea.LeftDockWidgetArea, "right": Qt.DockWidgetArea.RightDockWidgetArea,
          "bottom": Qt.DockWidgetArea.BottomDockWidgetArea}



class Banner(QLabel):
    """A coloured strip; hidden while it has nothing to say.

    ``one_line``: the text is elided to the strip's width (the whole of it as tooltip) -- the window's
    top banner, which sits in a toolbar that would otherwise grow to several lines' height.
    """

    def __init__(self, object_name: str, parent: QWidget | None = None, one_line: bool = False) -> None:
        super().__init__(parent)
        self.setObjectName(object_name)
        self.one_line = one_line
        self.full_text = ""
        self.setWordWrap(not one_line)
        if one_line:
            self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
        self.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.setContentsMargins(8, 4, 8, 4)
        self.hide()

    def say(self, text: str, level: str = "error") -> None:
        self.full_text = text
        if not text:
            self.clear()
            self.hide()
            return
        color = {"error": "#f85149", "warning": "#d29922", "info": "#4e9af1"}[level]
        self.setStyleSheet(f"background: {color}; color: white; border-radius: 3px;")
        self._show_text()
        self.show()

    def _show_text(self) -> None:
        if not self.one_line:
            self.setText(self.full_text)
            return
        room = max(0, self.contentsRect().width() - 4)
        shown = self.fontMetrics().elidedText(self.full_text, Qt.TextElideMode.ElideRight, room) if room else ""
        self.setText(shown or self.full_text)
        self.setToolTip(self.full_text if shown != self.full_text else "")

    def text(self) -> str:  # type: ignore[override]
        """The whole message (what is shown may be elided)."""
        return self.full_text if self.one_line else super().text()

    def resizeEvent(self, event: Any) -> None:  # noqa: N802 - Qt override
        super().resizeEvent(event)
        if self.one_line and self.full_text:
            self._show_text()


class MainWindow(QMainWindow):
    """The control center window (see the module docstring for its API).

    Args:
        session: the runtime being looked at.
        settings: persisted preferences (window state, theme, last profile).
        profiles: the profile list (None: only ``Local``).
        panel_classes: panel classes to build (default: ``load_panels()``).
        stack_factory: ``() -> LocalStack`` for "Start local stack" (default: ports and state
            directory from the settings).
        theme_manager: applies theme changes (None: themes are not switchable).
        demo_run: the run "Start local stack" starts once the stack is healthy
            (default: ``StackLauncher``'s demo run; None: nothing).

    Signals:
        closed(): shutdown finished; every process the app started is stopped.
    """

    closed = Signal()

    def __init__(self, session: Session, settings: AppSettings | None = None, *, profiles: Any = None,
                 panel_classes: list[type] | None = None, stack_factory: Callable[[], Any] | None = None,
                 theme_manager: Any = None, demo_run: dict[str, Any] | None = DEMO_RUN) -> None:
        super().__init__()
        self.session = session
        self.demo_run = demo_run
        self.settings = settings or AppSettings(MemorySettings())
        self.profiles = profiles
        self.stack_factory = stack_factory or _default_stack
        self.theme_manager = theme_manager
        self.panels: dict[str, QWidget] = {}
        self._docks: dict[str, QDockWidget] = {}
        self._dock_banners: dict[str, Banner] = {}
        self._actions: dict[str, QAction] = {}
        self._shutting_down = False
        self._shutdown_done = False
        self._stack_busy = False
        self._docks_fitted = False  # fit_docks() done (or a saved layout restored)
        self.stack_error = ""  # why the last "Start local stack" failed, shown in the banner
        self.setObjectName("main_window")
        self.setDockNestingEnabled(True)
        self._build_toolbar()
        self._build_status_bar()
        self._build_menus()
        self._restore_geometry()
        if panel_classes is None:
            from app.qt.panels import load_panels

            panel_classes = load_panels()
        self.add_panels(panel_classes)
        session.changed.connect(self._on_session_event)
        self._refresh_identity()
        self._refresh_connection()

    # -- public API -----------------------------------------------------------

    def panel(self, panel_id: str) -> QWidget:
        try:
            return self.panels[panel_id]
        except KeyError:
            raise KeyError(f"no panel {panel_id!r} (have: {', '.join(self.panels)})") from None

    def dock(self, panel_id: str) -> QDockWidget:
        self.panel(panel_id)
        return self._docks[panel_id]

    def action(self, name: str) -> QAction:
        try:
            return self._actions[name]
        except KeyError:
            raise KeyError(f"no action {name!r} (have: {', '.join(sorted(self._actions))})") from None

    def show_panel(self, panel_id: str) -> None:
        dock = self.dock(panel_id)
        dock.show()
        dock.raise_()
        self.panel(panel_id).setFocus(Qt.FocusReason.ShortcutFocusReason)

    async def start_local_stack(self) -> None:
        """Start the local stack, or offer to attach if another instance (or program) holds it."""
        if self._stack_busy or self.session.stack is not None:
            return
        launcher = StackLauncher(self.stack_factory())
        running = launcher.running_elsewhere()
        if running is not None:  # nothing is spawned beside another instance's stack
            self._offer_attach(running.endpoint, f"{running.reason}.")
            return
        self._stack_busy = True
        self._refresh_identity()
        self._refresh_connection()
        self.statusBar().showMessage("Starting the local stack...")
        if "stack" in self.panels:
            self.show_panel("stack")  # watch each process come up
        self.stack_error = ""
        try:
            result = await self.session.start_local_stack(launcher)
        finally:
            self._stack_busy = False
            self._refresh_identity()
            self._refresh_connection()
        if not result.started:
            if result.kind == "ports_taken":  # never a second stack: offer to look at what is there
                self.stack_error = f"Cannot start the local stack: {result.reason}"
                self._refresh_connection()
            self._offer_attach(result.endpoint, f"{result.reason}.")
            return
        self.settings.last_profile = LOCAL
        bad = result.problems
        self.statusBar().showMessage("Local stack up" if not bad else f"Local stack up with problems: {bad}", 10000)
        if not bad and self.demo_run is not None:
            await self._start_demo_run(launcher)

    async def _start_demo_run(self, launcher: StackLauncher) -> None:
        """The one-click experience: a paced backtest on the embedded default to watch and approve."""
        from backend.clients.http import ServiceError
        from backend.clients.services import RuntimeServiceClient

        try:
            run = await launcher.start_run(RuntimeServiceClient(lambda: self.session.client("runtime")),
                                           self.demo_run)
        except (ServiceError, RuntimeError) as err:
            self.statusBar().showMessage(f"Local stack up; the demo run did not start: {err}", 15000)
            return
        self.statusBar().showMessage(f"Local stack up; watching run {run['run_id']}", 10000)

    async def stop_local_stack(self) -> None:
        self._stack_busy = True
        self._refresh_identity()
        try:
            await self.session.stop_local_stack()
        finally:
            self._stack_busy = False
            self._refresh_identity()
            self._refresh_connection()

    async def switch_profile(self, name: str) -> None:
        """Look at another runtime (``Local`` = the stack this app runs or attached to, else Settings' ports)."""
        if name == LOCAL:
            await self.session.open_local()
        else:
            await self.session.open(self.profiles.get(name))
        self.settings.last_profile = name

    async def shutdown(self) -> None:
        """Save the layout, detach panels, stop every process the app started (<= 5 s)."""
        if self._shutdown_done:
            return
        self._shutting_down = True
        self.settings.geometry = bytes(self.saveGeometry().data())
        self.settings.window_state = bytes(self.saveState().data())
        self.settings.sync()
        for panel in self.panels.values():
            detach = getattr(panel, "detach", None)
            if detach is not None:
                try:
                    detach()
                except Exception:  # noqa: BLE001 - closing regardless
                    log.exception("panel %s failed to detach", getattr(panel, "panel_id", panel))
        self.session.changed.disconnect(self._on_session_event)
        await self.session.close(timeout=5.0)
        self._shutdown_done = True
        self.closed.emit()

    # -- Qt events ------------------------------------------------------------

    def showEvent(self, event: Any) -> None:  # noqa: N802 - Qt override
        super().showEvent(event)
        if not self._docks_fitted and self._docks:
            self.fit_docks()

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt override
        if self._shutdown_done:
            event.accept()
            return
        try:
            loop_running = asyncio.get_event_loop().is_running()
        except RuntimeError:
            loop_running = False
        if not loop_running:
            # The event loop has already ended (the app is exiting, or a test
            # tore the loop down): nothing can be awaited any more.
            self._shutdown_done = True
            event.accept()
            return
        event.ignore()  # close for real once the processes are stopped
        if not self._shutting_down:
            self.statusBar().showMessage("Stopping the processes this app started...")
            spawn(self._shutdown_then_close())

    async def _shutdown_then_close(self) -> None:
        try:
            await self.shutdown()
        finally:
            self._shutdown_done = True
            self.close()

    # -- construction ---------------------------------------------------------

    def _add_action(self, name: str, text: str, handler: Callable[[], Any], shortcut: str | None = None) -> QAction:
        action = QAction(text, self)
        action.setObjectName(f"action_{name}")
        if shortcut:
            action.setShortcut(QKeySequence(shortcut))
            action.setShortcutContext(Qt.ShortcutContext.ApplicationShortcut)
        action.triggered.connect(lambda *_: handler())
        self.addAction(action)  # shortcuts work even when no menu shows the action
        self._actions[name] = action
        return action

    def _build_toolbar(self) -> None:
        bar = QToolBar("Main", self)
        bar.setObjectName("main_toolbar")
        bar.setMovable(False)
        self.addToolBar(Qt.ToolBarArea.TopToolBarArea, bar)
        bar.addAction(self._add_action("start_stack", "Start local stack",
                                       lambda: spawn(self.start_local_stack()), "Ctrl+Shift+U"))
        bar.addAction(self._add_action("stop_stack", "Stop local stack",
                                       lambda: spawn(self.stop_local_stack()), "Ctrl+Shift+D"))
        bar.addSeparator()
        bar.addWidget(QLabel(" Profile: "))
        self.profile_combo = QComboBox()
        self.profile_combo.setObjectName("profile_combo")
        self.profile_combo.setToolTip("Connection profile: which runtime to look at, and with which token")
        self._fill_profiles()
        self.profile_combo.activated.connect(
            lambda index: spawn(self.switch_profile(self.profile_combo.itemText(index))))
        bar.addWidget(self.profile_combo)
        self._add_action("retry", "Retry connections now", self._retry_now, "F5")
        self._add_action("profiles", "Connection profiles...", self.open_profiles, "Ctrl+Shift+P")
        at_launch = self._add_action("start_at_launch", "Start the local stack at launch", self._toggle_at_launch)
        at_launch.setCheckable(True)
        at_launch.setChecked(self.settings.start_stack_at_launch)
        self._add_action("quit", "Quit", self.close, "Ctrl+Q")

        strip = QWidget()
        row = QHBoxLayout(strip)
        row.setContentsMargins(4, 2, 4, 2)
        self.top_banner = Banner("connection_banner", one_line=True)
        self.offer_button = QPushButton("Start local stack")
        self.offer_button.setObjectName("offer_start_stack")
        self.offer_button.setToolTip("Start agent, trading, news and runtime services on this machine")
        self.offer_button.clicked.connect(lambda *_: spawn(self.start_local_stack()))
        self.retry_button = QPushButton("Retry now")
        self.retry_button.clicked.connect(lambda *_: self._retry_now())
        row.addWidget(self.top_banner, 1)
        row.addWidget(self.offer_button)
        row.addWidget(self.retry_button)
        banner_bar = QToolBar("Connection", self)
        banner_bar.setObjectName("banner_toolbar")
        banner_bar.setMovable(False)
        banner_bar.addWidget(strip)
        self.addToolBarBreak()
        self.addToolBar(Qt.ToolBarArea.TopToolBarArea, banner_bar)

    def _fill_profiles(self) -> None:
        names = self.profiles.names() if self.profiles is not None else [LOCAL]
        if self.session.profile.name not in names:
            names.append(self.session.profile.name)
        self.profile_combo.clear()
        self.profile_combo.addItems(names)
        self.profile_combo.setCurrentText(self.session.profile.name)

    def _build_status_bar(self) -> None:
        bar = self.statusBar()
        self.profile_label = QLabel()
        self.profile_label.setObjectName("status_profile")
        self.role_label = QLabel()
        self.role_label.setObjectName("status_role")
        bar.addPermanentWidget(self.profile_label)
        bar.addPermanentWidget(self.role_label)
        self.service_labels: dict[str, QLabel] = {}
        for service in (*HTTP_SERVICES, "gateway"):
            label = QLabel()
            label.setObjectName(f"status_{service}")
            self.service_labels[service] = label
            bar.addPermanentWidget(label)

    def add_panels(self, classes: list[type]) -> None:
        """Build a dock per panel class, attach it, and restore the saved dock layout.

        ``main()`` shows the bare window first and calls this on the next loop
        turn, so heavy panel imports (pyqtgraph) do not delay the first paint.
        """
        self._build_docks(classes)
        state = self.settings.window_state
        if state:
            self.restoreState(state)
        self._docks_fitted = bool(state)  # a saved layout is the user's: never refitted
        if not state and self.isVisible():
            self.fit_docks()
        self._refresh_connection()

    def fit_docks(self) -> None:
        """Dock sizes for the window's size (what a first launch does): the Live pipeline area takes the
        room, the left column about a quarter of the width, the Approvals strip under a third of the height."""
        self._docks_fitted = True
        width, height = self.width(), self.height()
        areas: dict[str, list[QDockWidget]] = {}
        for panel_id, dock in self._docks.items():
            areas.setdefault(_PLACES.get(panel_id, ("right", 1))[0], []).append(dock)
        left, right, bottom = (areas.get(name, [None])[0] for name in ("left", "right", "bottom"))
        # Both sides of each separator are given their size: Qt hands a grown window's room to the
        # docks first added, and a one-sided resizeDocks leaves it there.
        if left is not None and right is not None:
            wide = max(320, int(width * 0.26))
            self.resizeDocks([left, right], [wide, max(1, left.width() + right.width() - wide)],
                             Qt.Orientation.Horizontal)
        if bottom is not None:
            low = max(210, int(height * 0.28))
            above = [d for d in (left, right) if d is not None]
            room = (above[0].height() if above else 0) + bottom.height()
            self.resizeDocks([*above, bottom], [max(1, room - low)] * len(above) + [low], Qt.Orientation.Vertical)

    def _build_docks(self, classes: list[type]) -> None:
        groups: dict[int, QDockWidget] = {}
        for dock in self._docks.values():  # panels added earlier keep their groups
            area, group = _PLACES.get(dock.objectName().removeprefix("dock_"), ("right", 1))
            groups.setdefault(group, dock)
        for index, cls in enumerate(classes, start=len(self.panels)):
            try:
                panel = cls()
            except Exception:  # noqa: BLE001 - one broken panel must not break the window
                log.exception("panel %s failed to build", cls.__name__)
                continue
            panel_id = getattr(cls, "panel_id", cls.__name__.lower())
            container = QWidget()
            layout = QVBoxLayout(container)
            layout.setContentsMargins(0, 0, 0, 0)
            banner = Banner(f"banner_{panel_id}")
            layout.addWidget(banner)
            layout.addWidget(panel, 1)
            dock = QDockWidget(getattr(cls, "title", panel_id.title()), self)
            dock.setObjectName(f"dock_{panel_id}")
            dock.setWidget(container)
            area, group = _PLACES.get(panel_id, ("right", 1))
            self.addDockWidget(_AREAS[area], dock)
            if group in groups:
                self.tabifyDockWidget(groups[group], dock)
            else:
                groups[group] = dock
            self.panels[panel_id] = panel
            self._docks[panel_id] = dock
            self._dock_banners[panel_id] = banner
            shortcut = getattr(cls, "shortcut", None) or (f"Alt+{index + 1}" if index < 9 else None)
            action = self._add_action(f"show_{panel_id}", f"Show {dock.windowTitle()}",
                                      lambda pid=panel_id: self.show_panel(pid), shortcut)
            self._view_menu.insertAction(self._view_separator, action)
            try:
                panel.attach(self.session)
                panel.set_read_only(self.session.read_only_reason)
            except Exception:  # noqa: BLE001
                log.exception("panel %s failed to attach", panel_id)
        for first in groups.values():
            first.raise_()

    def _build_menus(self) -> None:
        menu = self.menuBar()
        file_menu = menu.addMenu("&File")
        for name in ("start_stack", "stop_stack", "start_at_launch", "profiles", "retry", "quit"):
            file_menu.addAction(self._actions[name])
        view = menu.addMenu("&View")
        self._view_menu = view
        self._view_separator = view.addSeparator()  # panels' "Show ..." actions go above it
        themes = view.addMenu("Theme")
        for mode in theme.MODES:
            action = self._add_action(f"theme_{mode}", mode.title(), lambda m=mode: self._set_theme(m))
            action.setCheckable(True)
            action.setChecked(mode == self.settings.theme)
            themes.addAction(action)

    def _restore_geometry(self) -> None:
        geometry = self.settings.geometry
        if geometry:
            self.restoreGeometry(geometry)
        else:
            self.resize(1400, 900)

    # -- reactions ------------------------------------------------------------

    def _set_theme(self, mode: str) -> None:
        self.settings.theme = mode
        for m in theme.MODES:
            self._actions[f"theme_{m}"].setChecked(m == mode)
        effective = self.theme_manager.set_mode(mode) if self.theme_manager is not None else theme.current()
        for panel in self.panels.values():
            hook = getattr(panel, "on_theme_changed", None)  # optional: charts recolour
            if hook is not None:
                hook(effective)

    def open_profiles(self) -> Any:
        """Show the (non-modal) profile editor; returns it."""
        if self.profiles is None:
            self.statusBar().showMessage("Profiles are not persisted in this session", 5000)
            return None
        from app.qt.profile_dialog import ProfileDialog

        dialog = getattr(self, "profile_dialog", None)
        if dialog is None:
            dialog = self.profile_dialog = ProfileDialog(self.profiles, self)
            dialog.changed.connect(self._fill_profiles)
        dialog.show()
        dialog.raise_()
        return dialog

    def _toggle_at_launch(self) -> None:
        self.settings.start_stack_at_launch = self._actions["start_at_launch"].isChecked()

    def _retry_now(self) -> None:
        if self.session.gateway is not None:
            self.session.gateway.reconnect_now()
        self.session.start_monitoring()

    def _on_session_event(self, event: SessionEvent) -> None:
        if event.kind == "connection":
            self._refresh_connection()
            return
        if event.kind in ("role", "profile", "run", "stack"):
            self._refresh_identity()
            self._refresh_connection()
        if event.kind in ("role", "profile"):
            reason = self.session.read_only_reason
            for panel_id, panel in self.panels.items():
                try:
                    panel.set_read_only(reason)
                except Exception:  # noqa: BLE001
                    log.exception("panel %s failed set_read_only", panel_id)
        if event.kind == "profile":
            self._fill_profiles()

    def _refresh_identity(self) -> None:
        s = self.session
        self.setWindowTitle(f"EvoTraders Control Center - {s.title}")
        self.profile_label.setText(f"Profile: {s.profile.name}" + (f" / run {s.run_id}" if s.run_id else ""))
        self.role_label.setText(f"Role: {s.role or 'unconfirmed'}")
        local = s.profile.is_local
        owns = s.stack is not None
        start = self._actions["start_stack"]
        stop = self._actions["stop_stack"]
        start.setEnabled(local and not owns and not self._stack_busy and s.attached_stack is None)
        start.setToolTip("" if local else "Switch to the Local profile to start a local stack")
        stop.setEnabled(owns and not self._stack_busy)
        stop.setToolTip("" if owns else "This app did not start a local stack")

    def first_run(self) -> bool:
        """Nothing to look at yet: the Local profile, no stack started or attached, no service ever reached."""
        return not self._stack_busy and nothing_started(self.session)

    def _refresh_connection(self) -> None:
        s = self.session
        first_run = self.first_run()
        offer = s.profile.is_local and s.stack is None and s.attached_stack is None and not self._stack_busy
        # Stopped on purpose (Stop local stack): its services are down because the user said so, not lost.
        stopped = offer and getattr(s, "stopped_by_user", False)
        lost, unreached = [], []
        for service, label in self.service_labels.items():
            state = s.state(service)
            status, detail = state.status, state.detail
            if state.down and not state.reached and (first_run or self._stack_busy):
                status, detail = "off", "not started yet"  # not a failure: nothing was started yet
            elif state.down and stopped:
                status, detail = "off", "stopped (you stopped the local stack)"
            color = theme.status_color(status)
            label.setText(f"<span style='color:{color}'>&#9679;</span> {service}")
            label.setToolTip(f"{service}: {status}" + (f" - {detail}" if detail else ""))
            if stopped:
                continue
            if state.lost:
                lost.append(state)
            elif state.down:
                unreached.append(state)
        self.offer_button.setVisible(offer)
        self.retry_button.setVisible(bool(lost or unreached) and not first_run)
        if first_run and not self.stack_error:
            self.top_banner.say("No local stack is running. Start one with one click, or pick a remote runtime "
                                "(Profile).", "info")
        elif stopped and not self.stack_error:
            self.top_banner.say("The local stack is stopped; the panels show what it last said. Start it again "
                                "with one click, or pick a remote runtime (Profile).", "info")
        elif self.stack_error and offer:
            self.top_banner.say(self.stack_error, "error")
        elif lost:
            self.top_banner.say(f"Connection lost - {_summary(lost)}", "error")
        elif self._stack_busy:
            self.top_banner.say("Starting the local stack...", "info")
        elif unreached:
            self.top_banner.say(f"Cannot reach profile {s.profile.name!r} - {_summary(unreached)}", "error")
        else:
            self.top_banner.say("")
        # A panel's banner only once a service it needs WAS reached and then lost: before that
        # there is no "last known data" (the panel itself invites to start a stack).
        for panel_id, panel in self.panels.items():
            needs = getattr(panel, "services", ())
            gone = [] if stopped else [st for st in (s.state(n) for n in needs) if st.lost]
            self._dock_banners[panel_id].say(
                "; ".join(f"{st.service} unreachable: {st.detail} (showing last known data)" for st in gone),
                "warning")

    def _offer_attach(self, endpoint: StackEndpoint, text: str) -> None:
        box = QMessageBox(QMessageBox.Icon.Question, "Local stack already running",
                          text + "\n\nAttach to it instead of starting a second one?",
                          QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No, self)
        box.setObjectName("attach_dialog")

        def done(result: int) -> None:
            if result == QMessageBox.StandardButton.Yes:
                spawn(self._attach(endpoint))
            box.deleteLater()

        box.finished.connect(done)
        box.open()  # never exec() from a coroutine
        self.attach_dialog = box

    async def _attach(self, endpoint: StackEndpoint) -> None:
        self.stack_error = ""
        await self.session.attach_running_stack(endpoint)
        self.settings.last_profile = LOCAL
        self._refresh_identity()


def _summary(states: list[Any]) -> str:
    """One line for the banner: one service's reason, or the services' names and the first reason
    (several lines of URLs would push the panels off a 768 px screen; the dots' tooltips have each)."""
    if len(states) == 1:
        return f"{states[0].service}: {states[0].detail or 'unreachable'}"
    first = states[0].detail or "unreachable"
    return f"{', '.join(st.service for st in states)} ({states[0].service}: {first})"


def _default_stack() -> Any:
    from backend.config import get_settings
    from backend.stack.local_stack import LocalStack

    # The app embeds the runtime controller (its Gateways are the app's own
    # children) and serves runtime_service from its event loop.
    return LocalStack(get_settings(), embed_runtime=True)


__all__ = ["Banner", "MainWindow"]
