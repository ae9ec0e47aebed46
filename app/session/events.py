"""What the session announces, and how (Qt-free psygnal signals)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Literal

from psygnal import SignalInstance

from app.session.connections import ServiceState
from backend import signals

log = logging.getLogger(__name__)

EventKind = Literal["profile", "role", "connection", "run", "stack"]


@dataclass(frozen=True)
class SessionEvent:
    """What ``session.changed`` carries; ``service``/``state`` only for ``connection``."""

    kind: EventKind
    service: str | None = None
    state: ServiceState | None = None


def emit_logged(signal: SignalInstance, *args: Any, fast: bool = False) -> None:
    """Emit to the panels; a panel's failing callback is logged, never raised into the session's own work.

    ``fast``: for the per-event hops (thousands a second): psygnal's ``emit_fast``, which takes
    no lock (every emitter and listener is on the event-loop thread).
    """
    signals.emit_logged(signal, *args, logger=log, what=f"a {signal.name} listener", fast=fast)