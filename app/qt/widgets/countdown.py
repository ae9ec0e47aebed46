"""CountdownLabel: seconds left until a deadline, refreshed once a second."""

from __future__ import annotations

import time
from collections.abc import Callable

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QLabel, QWidget

from app.models.approvals_model import format_countdown

URGENT_SECONDS = 30.0


class CountdownLabel(QLabel):
    """Shows ``m:ss`` left until :attr:`deadline` (epoch seconds), red when under 30 s.

    Args:
        clock: epoch-seconds clock (tests pass a fake one).
        parent: owner widget.
    """

    def __init__(self, clock: Callable[[], float] = time.time, parent: QWidget | None = None) -> None:
        super().__init__("-", parent)
        self.clock = clock
        self.deadline: float | None = None
        self._timer = QTimer(self)
        self._timer.setInterval(1000)
        self._timer.timeout.connect(self.tick)

    def set_deadline(self, deadline: float | None) -> None:
        self.deadline = deadline
        if deadline is None:
            self._timer.stop()
        elif not self._timer.isActive():
            self._timer.start()
        self.tick()

    def seconds_left(self) -> float | None:
        return None if self.deadline is None else max(0.0, self.deadline - self.clock())

    def tick(self) -> None:
        left = self.seconds_left()
        self.setText(format_countdown(left))
        urgent = left is not None and left < URGENT_SECONDS
        self.setStyleSheet("color: #f85149; font-weight: bold;" if urgent else "")
