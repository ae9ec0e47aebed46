"""The listener-and-message plumbing every panel model shares (Qt-free)."""

from __future__ import annotations

from typing import Any, Callable

Listener = Callable[[str, Any], None]

# Messages that a later successful load makes untrue.
LOAD_FAILURES = ("cannot list", "cannot load", "cannot open")


class ObservableModel:
    """A model views subscribe to: ``add_listener(cb)``, then ``cb(kind, payload)``.

    ``message`` is the model's one-line user-facing status (an error, a
    conflict); it is announced as a ``"message"`` event.
    """

    def __init__(self) -> None:
        self.message: str | None = None
        self._listeners: list[Listener] = []

    def add_listener(self, callback: Listener) -> Callable[[], None]:
        """Subscribe; returns the function that unsubscribes."""
        self._listeners.append(callback)
        return lambda: self._listeners.remove(callback) if callback in self._listeners else None

    def _emit(self, kind: str, payload: Any = None) -> None:
        for callback in list(self._listeners):
            callback(kind, payload)

    def _say(self, message: str | None) -> None:
        self.message = message
        self._emit("message", message)

    def _loaded(self) -> None:
        """A load succeeded: an earlier load failure message is no longer true."""
        if self.message and self.message.startswith(LOAD_FAILURES):
            self._say(None)
