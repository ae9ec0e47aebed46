"""From plain-Python listeners to Qt: signals and throttled refreshes.

Models in ``app/models`` announce changes on psygnal signals; views must not
repaint from inside them (a burst of 2,000 events/s would mean 2,000
repaints/s). The pattern every view follows:

    self.throttle = Throttle(self._refresh, hz=30, parent=self)
    observe(model.changed, self, self._on_model)   # app/qt/observe.py; _on_model calls self.throttle.mark()

so the view redraws at most ``hz`` times a second, on the GUI thread.
:class:`Bridge` is for the rarer case where every value matters (a process
status change) or a callback may come from another thread.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QTimer, Signal


class Bridge(QObject):
    """A callable that re-emits its argument as the Qt signal :attr:`fired`.

    Use the instance itself as the plain-Python listener; connect ``fired`` to
    slots. Emitting from another thread is queued to the bridge's thread.

    Signals:
        fired(object): the value the listener was called with.
    """

    fired = Signal(object)

    def __call__(self, value: Any = None) -> None:
        self.fired.emit(value)


class Throttle(QObject):
    """Calls ``refresh()`` at most ``hz`` times a second, and only after :meth:`mark`.

    The first mark after a quiet period refreshes on the next loop turn; marks
    during the minimum interval coalesce into one refresh at its end.

    Args:
        refresh: what to call (on the GUI thread).
        hz: the maximum refresh rate.
        parent: owner (the view), so the timer dies with it.
    """

    def __init__(self, refresh: Callable[[], None], hz: float = 30.0, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._refresh = refresh
        self.min_interval = 1.0 / hz
        self._last = 0.0
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self._fire)
        self.refreshes = 0  # how many times refresh() ran (the view refresh rate, for benchmarks)

    def mark(self) -> None:
        if self._timer.isActive():
            return
        wait = self.min_interval - (time.monotonic() - self._last)
        self._timer.start(max(0, int(wait * 1000)))

    def flush(self) -> None:
        """Refresh now if marked (tests and close)."""
        if self._timer.isActive():
            self._timer.stop()
            self._fire()

    def _fire(self) -> None:
        self._last = time.monotonic()
        self.refreshes += 1
        self._refresh()
