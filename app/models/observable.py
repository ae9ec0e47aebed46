"""The observer mechanism every Qt-free model uses: psygnal signals.

psygnal (napari's choice) gives Qt-style signals without Qt: a model declares
``changed = Signal(str, object)``, views ``model.changed.connect(callback)``
and ``model.changed.disconnect(callback)``. A model whose news has another
shape declares its own ``psygnal.Signal`` and fires it with :func:`emit`
(:mod:`backend.signals`, the mechanism the Qt-free backend uses too).

Two rules a view can rely on:

- Bound methods are held weakly: a view that is garbage collected stops
  being called without unsubscribing. A Qt widget deleted on the C++ side
  (``deleteLater``) may outlive its C++ object as a Python wrapper; connect
  it with ``app.qt.observe.observe``, which disconnects on ``destroyed``.
- A callback that raises stops the emission and its own exception reaches
  the caller (psygnal's ``EmitLoopError`` wrapper is taken off), so an error
  in a view shows in the desk's excepthook under its real type.
"""

from __future__ import annotations

from typing import Any

from backend.signals import Signal, emit

__all__ = ["LOAD_FAILURES", "ObservableModel", "emit"]

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
        emit(self.changed, kind, payload)

    def _emit_fast(self, kind: str, payload: Any = None) -> None:
        """:meth:`_emit` for news that comes thousands of times a second (a Gateway event):
        psygnal's ``emit_fast``, no lock (a model and its views live on one thread); same errors."""
        emit(self.changed, kind, payload, fast=True)

    def _say(self, message: str | None) -> None:
        self.message = message
        self._emit("message", message)

    def _loaded(self) -> None:
        """A load succeeded: an earlier load failure message is no longer true."""
        if self.message and self.message.startswith(LOAD_FAILURES):
            self._say(None)
