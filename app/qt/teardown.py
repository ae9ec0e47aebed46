"""The desk's exit order: release everything Qt holds while Python and the QApplication are still whole.

    release_qt(app, loop, settings=qsettings, delete_app=True)

What crashed (issue 16): objects Python still owned at exit -- the main
window sits in reference cycles (session listeners), so only the cyclic GC
frees it, at a moment that depends on allocation counts -- were left to
PySide6's own atexit hook (``destroyQCoreApplication``). That hook deletes
them in the order of shiboken's wrapper hash map (pointer order, so random
under ASLR) after first marking each wrapper invalid; a pyqtgraph item
deleted before the window holding it re-enters its Python overrides
(``event``, ``itemChange``) on an invalid wrapper and shiboken segfaults
while reporting the error. :func:`release_qt` leaves that hook nothing to do,
in this order:

1. the settings are ``sync()``ed (window state, theme, profiles are on disk first);
2. the asyncio loop is closed (nothing can be scheduled onto a loop that will not run again);
3. every top-level widget is closed and ``deleteLater``'d, and the deferred deletions
   run, round after round, until no window is left (a window's C++ tree --
   panels, timers, pyqtgraph scenes and items -- goes down parent first);
4. the garbage collector runs, so wrappers of deleted objects and cycles are freed now;
5. any QObject Python still owns that nothing parents (the loop's timer, the QSettings) is deleted;
6. the QApplication is deleted (if this call's owner created it): PySide6's atexit
   hook then finds no application and the interpreter finalizes with no Qt object left;
   only then is automatic garbage collection given back (``app/qt/gc_policy.py``:
   while Qt is up, only the GUI thread collects).
"""

from __future__ import annotations

import asyncio
import gc
import logging
from dataclasses import dataclass, field

import shiboken6
from PySide6.QtCore import QCoreApplication, QEvent, QObject, QSettings, QThread
from PySide6.QtWidgets import QApplication

from app.qt import gc_policy

log = logging.getLogger(__name__)

MAX_ROUNDS = 10  # deferred-deletion rounds; a destructor may post more deleteLater()s


@dataclass
class ReleaseReport:
    """What :func:`release_qt` found and did (tests and the debug log read it)."""

    settings_status: str = "none"
    windows_deleted: int = 0
    rounds: int = 0
    stray_objects: list[str] = field(default_factory=list)  # Python-owned QObjects deleted in step 5
    app_deleted: bool = False


def release_qt(app: QApplication, loop: asyncio.AbstractEventLoop | None = None, *,
               settings: QSettings | None = None, delete_app: bool = True) -> ReleaseReport:
    """Tear the Qt side down in the order of the module docstring; returns what it did."""
    report = ReleaseReport()
    if settings is not None:
        settings.sync()
        report.settings_status = settings.status().name
        if settings.status() != QSettings.Status.NoError:
            log.error("settings not saved: %s (%s)", settings.status().name, settings.fileName())
    if loop is not None and not loop.is_closed():
        loop.close()
    report.windows_deleted, report.rounds = _delete_windows(app)
    # Wrappers of what went down are freed (and pyqtgraph's weakref callbacks run) now, with
    # the QApplication alive, not during finalization. One full pass: each costs ~0.1 s.
    gc.unfreeze()  # what gc_policy.freeze_startup_objects kept out of collections is collectable again
    gc.collect()
    report.stray_objects = _delete_stray_objects(app)
    if delete_app:
        # ~QApplication waits for Qt's global thread pool; no pool thread runs Python code here.
        shiboken6.delete(app)
        report.app_deleted = True
        # No Qt object is left that another thread's collection could destroy.
        gc_policy.restore_automatic_collection()
    return report


def _delete_windows(app: QApplication) -> tuple[int, int]:
    """Close and delete every window, owners before what they own; returns (deleted, rounds used).

    The shown windows go first (each takes its C++ tree down: docks, panels,
    timers, pyqtgraph scenes and their items); then hidden parentless widgets
    that only Python holds (pyqtgraph's context menus). Hidden parentless
    widgets Python does not own (a ``QWidgetAction``'s default widget) belong
    to a C++ owner and go down with it: deleting one before its owner crashed
    in ``~QGraphicsScene``.
    """
    deleted = rounds = 0
    for rounds in range(1, MAX_ROUNDS + 1):
        parentless = [w for w in app.topLevelWidgets() if w.parent() is None]
        windows = [w for w in parentless if w.isVisible()] or [
            w for w in parentless if shiboken6.ownedByPython(w)]
        if not windows:
            break
        for widget in windows:
            widget.close()
            widget.deleteLater()
        deleted += len(windows)
        QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    else:
        log.warning("windows left after %d rounds: %s", MAX_ROUNDS,
                    [type(w).__name__ for w in app.topLevelWidgets()])
    return deleted, rounds


def _delete_stray_objects(app: QApplication) -> list[str]:
    """Delete the parentless QObjects Python still owns (other than ``app``); returns their class names.

    Only objects of the GUI thread, and no running QThread: deleting those from
    here would be Qt's "destroyed while thread is still running" abort.
    """
    gui_thread = app.thread()
    strays = [obj for obj in gc.get_objects()
              if isinstance(obj, QObject) and obj is not app and shiboken6.isValid(obj)
              and shiboken6.ownedByPython(obj) and obj.parent() is None and obj.thread() == gui_thread
              and not (isinstance(obj, QThread) and obj.isRunning())]
    names = [type(obj).__name__ for obj in strays]
    for obj in strays:
        if shiboken6.isValid(obj):  # an earlier stray may have owned it after all
            shiboken6.delete(obj)
    if names:
        log.debug("deleted %d stray QObjects at exit: %s", len(names), names)
    return names


__all__ = ["MAX_ROUNDS", "ReleaseReport", "release_qt"]
