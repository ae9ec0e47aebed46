"""Connect a Qt object to a model's psygnal signal for exactly the object's life.

psygnal holds a bound method weakly, but a widget deleted on the C++ side
(``deleteLater``, a closing dock) can keep its Python wrapper alive for a
while (any reference cycle does); psygnal would then call a method whose
widgets are gone ("Internal C++ object already deleted"). :func:`observe`
connects, and disconnects when the owner's ``destroyed`` fires:

    observe(self.model.changed, self, self._on_model)
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from types import MethodType
from typing import Any

from psygnal import SignalInstance
from PySide6.QtCore import QObject


def observe(signal: SignalInstance, owner: QObject, callback: Callable[..., Any]) -> None:
    """``signal.connect(callback)`` until ``owner`` is destroyed (then ``disconnect``)."""
    signal.connect(callback)
    # Hold the callback weakly here too: a strong reference from the owner's own
    # connection would keep a Python-owned widget alive for ever.
    target: Callable[[], Callable[..., Any] | None] = (
        weakref.WeakMethod(callback) if isinstance(callback, MethodType) else weakref.ref(callback))

    def forget(*_: Any) -> None:
        if (live := target()) is not None:
            signal.disconnect(live, missing_ok=True)

    owner.destroyed.connect(forget)
