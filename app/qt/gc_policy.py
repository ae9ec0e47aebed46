"""Python's cyclic garbage collector runs on the GUI thread only, while Qt is up.

What crashed (issue 16, the in-process half): a window, a panel or a chart
item that sits in a reference cycle (a model holding a view's bound method,
a closure holding its widget) is freed only by the cyclic collector, and the
collector runs in whichever thread happens to allocate when a generation's
threshold is crossed. In the desk that is often not the GUI thread: qasync
resolves every httpx connection's address in a ``QThreadExecutor`` worker,
and asyncio's child watcher waits for each stack process in a thread of its
own. A QObject destroyed there stops its timers "from another thread" (Qt
warns, then leaves the GUI thread's dispatcher holding a timer of a deleted
object) and the next timer event dereferences it: a segfault inside
``QApplication.exec`` with no Python frame, rarely, and more often on a busy
machine, where the threads' timing varies. ``tests/desk/test_gc_policy.py``
reproduces it in a few lines and shows the policy holds.

The policy is pyqtgraph's ``GarbageCollector`` (automatic collection off, a
GUI-thread QTimer collects each generation when its threshold is crossed),
so no other thread ever starts a collection. :func:`collect_if_due` is the
same check for callers without a running event loop (the test session calls
it after every test); :func:`restore_automatic_collection` is the last step
of ``release_qt`` once no Qt object is left.

:func:`freeze_startup_objects`, once the window is up, moves everything that
exists then (modules, Qt wrappers, the panels' widgets and chart items: the
app's long-lived objects) out of the collector's sight (``gc.freeze``), so the
timer's full collections walk only what was made since: a generation-2
collection during a flood of events is then a few milliseconds, not tens.
``restore_automatic_collection`` unfreezes them first, so teardown frees
them as before.
"""

from __future__ import annotations

import gc

from pyqtgraph.util.garbage_collector import GarbageCollector

INTERVAL_S = 0.5  # how often the GUI thread checks the generation counts

_collector: GarbageCollector | None = None


def collect_on_gui_thread(interval_s: float = INTERVAL_S) -> GarbageCollector:
    """Turn automatic collection off and collect from a GUI-thread timer (idempotent).

    Call it on the GUI thread, after the QApplication exists.
    """
    global _collector
    if _collector is None:
        _collector = GarbageCollector(interval=interval_s)
    return _collector


def active() -> bool:
    """Whether the policy is in force (automatic collection is off)."""
    return _collector is not None


def collect_if_due() -> None:
    """Collect the generations whose thresholds are crossed, now, on the calling (GUI) thread."""
    if _collector is not None:
        _collector.check()


def freeze_startup_objects() -> int:
    """Collect once, then keep every object alive now out of later collections (``gc.freeze``).

    Call it on the GUI thread once the window is built. Returns how many objects were frozen.
    """
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()


def restore_automatic_collection() -> None:
    """Stop the timer and give collection back to Python (once no Qt object is left)."""
    global _collector
    gc.unfreeze()  # the startup objects are collectable again (teardown frees them)
    if _collector is None:
        return
    collector, _collector = _collector, None
    try:
        collector.timer.stop()
    except RuntimeError:  # the timer was already deleted with the other stray QObjects
        pass
    gc.collect()
    gc.enable()
