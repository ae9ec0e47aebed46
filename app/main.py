"""`evotraders desk` / `evotraders-desk`: open the desktop control center.

    evotraders desk [--profile NAME] [--start-stack | --no-start-stack] [--theme system|dark|light]
                    [--settings FILE.ini] [--quit-after-shown]

Exit is deterministic (``app/qt/teardown.py``): the window's shutdown saves
and syncs the settings and stops every process, spawned tasks are cancelled,
then the loop is closed, every window deleted, garbage collected and the
QApplication deleted -- all before the interpreter finalizes.

Heavy modules (PySide6, pyqtgraph, the runtime) are imported only once this
command runs, so ``evotraders --help`` stays fast. Everything runs on one
qasync loop: Qt events, HTTP (httpx), the Gateway WebSocket and the local
stack's child processes.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--profile", default=None, help="profile to open (default: the last one, else Local)")
    start = parser.add_mutually_exclusive_group()
    start.add_argument("--start-stack", dest="start_stack", action="store_true", default=None,
                       help="start the local stack at launch (and remember it)")
    start.add_argument("--no-start-stack", dest="start_stack", action="store_false",
                       help="do not start the local stack at launch (and remember it)")
    parser.add_argument("--theme", choices=["system", "dark", "light"], default=None, help="theme (remembered)")
    parser.add_argument("--settings", type=Path, default=None,
                        help="keep preferences in this INI file instead of the platform's settings store")
    parser.add_argument("--quit-after-shown", action="store_true",
                        help="print the time to the shown window and quit (startup benchmark)")
    # Hidden, for the exit tests: once the panels are up, trigger File > Quit as a user would.
    parser.add_argument("--quit-from-menu", action="store_true", help=argparse.SUPPRESS)
    parser.set_defaults(func=run)


def config_dir() -> Path:
    return Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config") / "evotraders"


def no_display_reason(env: dict[str, str] | None = None) -> str | None:
    """Why a window cannot be shown here, or None (Qt would abort without a display)."""
    env = dict(os.environ) if env is None else env
    if not sys.platform.startswith("linux") or env.get("QT_QPA_PLATFORM"):
        return None
    if env.get("DISPLAY") or env.get("WAYLAND_DISPLAY"):
        return None
    return ("no display (DISPLAY and WAYLAND_DISPLAY are unset): run it in a desktop session, "
            "under a virtual one (`xvfb-run -a ./dev desk`), or try the headless `./dev backtest`")


def run(args: argparse.Namespace) -> int:
    t0 = float(os.environ.get("EVOTRADERS_DESK_T0", "0")) or time.perf_counter()
    reason = no_display_reason()
    if reason is not None:
        print(f"evotraders desk: {reason}", file=sys.stderr)
        return 2
    import qasync
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    from app.qt.excepthook import ErrorReporter
    from app.qt.gc_policy import collect_on_gui_thread
    from app.qt.teardown import release_qt

    owns_app = QApplication.instance() is None
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setOrganizationName("EvoTraders")
    app.setApplicationName("Control Center")
    app.setQuitOnLastWindowClosed(False)  # we quit once the stack is down, not when the window hides
    collect_on_gui_thread()  # no worker thread may free a Qt object (app/qt/gc_policy.py)
    loop = qasync.QEventLoop(app)
    reporter = ErrorReporter().install(loop)
    store_settings = QSettings(str(args.settings), QSettings.Format.IniFormat) if args.settings else None
    try:
        return loop.run_until_complete(_main(app, args, reporter, store_settings, t0))
    finally:
        reporter.uninstall()
        reporter.parent = None
        release_qt(app, loop, settings=store_settings, delete_app=owns_app)


async def _main(app: Any, args: argparse.Namespace, reporter: Any, qsettings: Any, t0: float) -> int:
    import asyncio

    from PySide6.QtCore import QTimer

    from app.models.profiles import ProfileStore, TokenVault
    from app.models.settings_store import AppSettings
    from app.qt.async_helpers import cancel_all, spawn
    from app.qt.gc_policy import freeze_startup_objects
    from app.qt.main_window import MainWindow
    from app.qt.qsettings_store import QSettingsStore
    from app.qt.theme import ThemeManager
    from app.session import Session

    settings = AppSettings(QSettingsStore(qsettings))
    if args.theme:
        settings.theme = args.theme
    if args.start_stack is not None:
        settings.start_stack_at_launch = args.start_stack
    theme_manager = ThemeManager(app, settings.theme)
    vault = TokenVault(config_dir() / "tokens.json")
    profiles = ProfileStore(settings, vault)
    wanted = args.profile or settings.last_profile or "Local"
    try:
        profile = profiles.get(wanted)
    except KeyError as err:
        print(f"evotraders desk: {err.args[0]}", file=sys.stderr)
        return 2
    except ValueError as err:  # the Local profile's Settings (e.g. RUNTIME_SERVICE_PORT=abc), one line
        print(f"evotraders desk: {err}", file=sys.stderr)
        return 2
    session = Session(profile)
    # The shell first: panels (pyqtgraph and friends) are imported once the window is on screen.
    window = MainWindow(session, settings, profiles=profiles, theme_manager=theme_manager, panel_classes=[])
    reporter.parent = window
    closed = asyncio.get_running_loop().create_future()
    window.closed.connect(lambda: closed.done() or closed.set_result(None))
    window.show()
    await _next_turn()  # let Qt paint the window (never processEvents() inside a task: qasync re-entry)
    if args.quit_after_shown:
        print(f"window shown after {time.perf_counter() - t0:.3f}s", flush=True)
    from app.qt.panels import load_panels

    window.add_panels(load_panels())
    await _next_turn()
    if vault.warning:
        window.statusBar().showMessage(vault.warning, 15000)
    if args.quit_after_shown:
        print(f"panels ready after {time.perf_counter() - t0:.3f}s", flush=True)
        await window.shutdown()
        await cancel_all()
        return 0
    freeze_startup_objects()  # the panels' widgets and modules: out of later full collections (gc_policy)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, window.close)
    await session.open(profile)  # starts health monitoring (and the Gateway of a remote profile)
    if profile.is_local and settings.start_stack_at_launch:
        spawn(window.start_local_stack())
    if args.quit_from_menu:
        quit_action = _menu_action(window, "File", "Quit")
        QTimer.singleShot(0, quit_action.trigger)  # from the event loop, as a click would
    await closed
    await cancel_all()  # e.g. the close task that emitted ``closed``: nothing is left for the GC
    return 0


def _menu_action(window: Any, menu: str, text: str) -> Any:
    """The QAction ``text`` of the menu bar's ``menu`` (``&`` accelerators ignored)."""
    for entry in window.menuBar().actions():
        if entry.text().replace("&", "") == menu and entry.menu() is not None:
            for action in entry.menu().actions():
                if action.text().replace("&", "") == text:
                    return action
    raise LookupError(f"no {menu} > {text} in the menu bar")


async def _next_turn() -> None:
    """Return once Qt has processed the events posted so far (paints included)."""
    import asyncio

    from PySide6.QtCore import QTimer

    done = asyncio.get_running_loop().create_future()
    QTimer.singleShot(0, lambda: done.done() or done.set_result(None))
    await done


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``evotraders-desk`` GUI script."""
    parser = argparse.ArgumentParser(prog="evotraders-desk", description="EvoTraders desktop control center")
    add_arguments(parser)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
