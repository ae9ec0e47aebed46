"""The engine-facing side of the Gateway: what the transport needs from a run.

The Gateway does not know how trading days are run. It talks to one object
that satisfies :class:`RunDriver`; the run engine provides the real one and
the transport tests provide a fake (``tests/gateway/fakes.py``).
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Protocol, runtime_checkable

from backend.schema.state import ServerState
from backend.signals import SignalInstance


@runtime_checkable
class RunDriver(Protocol):
    """A run as seen by the Gateway: a stream of events plus a few controls.

    Attributes:
        run_id: id of the current run (sent in ``hello``).
        mode: ``"backtest"``, ``"mock"`` or ``"live"`` (``hello.server_mode``).
        event: a psygnal signal (:mod:`backend.signals`) emitting every
            :class:`~backend.schema.events.Event`, synchronously and in order.
            Events are already logged to ``runs/<run_id>/logs/events.jsonl``
            by the time observers see them; observers never block.

    Threading: observers should be called on the event loop that runs the
    Gateway. The hub marshals calls from other threads onto its loop, but
    then an event emitted while a client connects may appear both in that
    client's ``initial_state`` and in its live stream.
    """

    run_id: str
    mode: str

    @property
    def event(self) -> SignalInstance:
        """The run's events (``driver.event.connect(fn)``: ``fn(event)`` for each)."""

    def snapshot_state(self) -> ServerState | dict[str, Any]:
        """The ``state`` of ``initial_state`` (``feed_history`` newest first, <= 200).

        A dict is validated into :class:`backend.schema.state.ServerState` when the event is built.
        """

    def health(self) -> dict[str, Any]:
        """``{status, current_date, stage, progress, ...}`` for ``GET /health``."""

    def pause(self) -> None:
        """Pause the run after the current stage (raises ValueError if not running)."""

    def resume(self) -> None:
        """Resume a paused run (raises ValueError if not paused)."""

    def set_pace(self, seconds: float) -> None:
        """Delay between trading days, in seconds (0 = as fast as possible)."""

    async def start_backtest(self, dates: list[dt.date]) -> None:
        """Start a backtest over ``dates`` and return once it is under way.

        Raises:
            ValueError: with a user-facing message (bad dates, a run in progress...).
        """

    def fast_forward(self, minutes: float) -> dict[str, Any]:
        """Advance the mock clock; returns at least ``{"current_time": str}``.

        Raises:
            ValueError: ``"fast_forward_time is only supported in mock mode"`` otherwise.
        """
