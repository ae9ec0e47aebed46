"""The observer mechanism every Qt-free model uses: psygnal signals.

psygnal (napari's choice) gives Qt-style signals without Qt: a model declares
``changed = Signal(str, object)``, views ``model.changed.connect(callback)``
and ``model.changed.disconnect(callback)``. A model whose news has another
shape declares its own ``psygnal.Signal`` and fires it with :func:`emit`.

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

from psygnal import EmitLoopError, Signal, SignalInstance

# Messages that a later successful load makes untrue.
LOAD_FAILURES = ("cannot list", "cannot load", "cannot open")


def emit(signal: SignalInstance, *args: Any) -> None:
    """``signal.emit(*args)``, re-raising a failing callback's own exception (not psygnal's wrapper)."""
    try:
        signal.emit(*args)
        return
    except EmitLoopError as err:
        cause = err.__cause__
        if cause is None:  # pragma: no cover - psygnal always chains the callback's error
            raise
    # Raised outside the except block, so the error keeps its own context, not psygnal's wrapper.
    raise cause


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

    def _say(self, message: str | None) -> None:
        self.message = message
        self._emit("message", message)

    def _loaded(self) -> None:
        """A load succeeded: an earlier load failure message is no longer true."""
        if self.message and self.message.startswith(LOAD_FAILURES):
            self._say(None)
