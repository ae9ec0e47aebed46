"""Qt binding regression: void Qt calls must not drop references to None.

PySide6 6.12.0 on CPython 3.11 decrements None's reference count on every
Qt method that returns nothing; after enough calls the interpreter aborts
with "Fatal Python error: none_dealloc". pyproject pins PySide6-Essentials
below 6.12 on Python < 3.12; this test fails loudly if a broken binding
slips in. On 3.12+ None is immortal (its count is a constant), so the check
still holds trivially there.
"""

from __future__ import annotations

import sys
from typing import Any

CALLS = 300_000


def test_void_qt_calls_keep_none_refcount(qapp: Any) -> None:
    from PySide6.QtCore import QObject, QTimer

    obj = QObject()
    timer = QTimer()
    names = [f"n{i % 7}" for i in range(16)]  # prebuilt: the loop allocates nothing of its own
    before = sys.getrefcount(None)
    for i in range(CALLS // 2):
        obj.setObjectName(names[i & 15])
        timer.setInterval(i & 1023)
    after = sys.getrefcount(None)
    # Exact equality: the loop itself creates and drops no lasting None reference.
    # A leaking binding would be off by CALLS (one per void call).
    assert after == before, f"None refcount moved by {after - before} over {CALLS} void Qt calls"
    assert obj.objectName() == names[(CALLS // 2 - 1) & 15] and timer.interval() == (CALLS // 2 - 1) & 1023
