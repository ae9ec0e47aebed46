"""The observer mechanism every Qt-free model uses: psygnal signals.

psygnal (napari's choice) gives Qt-style signals without Qt: a model declares
``changed = Signal(str, object)``, views ``model.changed.connect(callback)``
and ``model.changed.disconnect(callback)``. Bound methods are held weakly,
so a view that is deleted stops being called without unsubscribing. Qt
widgets re-emit on the GUI thread; every model call already happens there.
"""

from __future__ import annotations

from typing import Any

from psygnal import Signal

# Messages that a later successful load makes untrue.
LOAD_FAILURES = ("cannot list", "cannot load", "cannot open")


class ObservableModel:
    """A panel model: ``changed(kind, payload)`` says what changed.

    ``message`` is the model's one-line user-facing status (an error, a
    conflict); it is announced as a ``"message"`` change.
    """

    changed = Signal(str, object)

    def __init__(self) -> None:
        self.message: str | None = None

    def _emit(self, kind: str, payload: Any = None) -> None:
        self.changed.emit(kind, payload)

    def _say(self, message: str | None) -> None:
        self.message = message
        self._emit("message", message)

    def _loaded(self) -> None:
        """A load succeeded: an earlier load failure message is no longer true."""
        if self.message and self.message.startswith(LOAD_FAILURES):
            self._say(None)

    def add_listener(self, callback: Any) -> Any:
        """Deprecated shim while panels move to ``changed.connect``; removed with the last caller."""
        self.changed.connect(callback)
        return lambda: self.changed.disconnect(callback, missing_ok=True)
