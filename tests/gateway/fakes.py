"""A stand-in for the run engine in Gateway transport tests, plus client helpers.

``FakeDriver`` satisfies :class:`gateway.driver.RunDriver` and emits events
built from the real schema models when a test asks it to.
"""

from __future__ import annotations

import asyncio
import collections
import datetime as dt
import json
from typing import Any, Callable

from backend.schema.events import (
    FEED_HISTORY_LIMIT,
    FEED_TYPES,
    Event,
    RunStatus,
    System,
)
from backend.signals import Signal, emit


class FakeDriver:
    """A scripted run: records control calls and emits events on demand.

    Args:
        run_id: the run id reported in ``hello`` and ``/health``.
        mode: ``backtest``, ``mock`` or ``live``.
    """

    event = Signal(object)  # RunDriver.event

    def __init__(self, run_id: str = "run-test", mode: str = "backtest") -> None:
        self.run_id = run_id
        self.mode = mode
        self.status = "idle"
        self.pace = 0.0
        self.calls: list[tuple[str, Any]] = []
        self.feed: collections.deque[dict[str, Any]] = collections.deque(maxlen=FEED_HISTORY_LIMIT)
        self.fail_next: Exception | None = None  # raised by the next control call

    # --- RunDriver ------------------------------------------------------------

    def snapshot_state(self) -> dict[str, Any]:
        return {
            "server_mode": self.mode, "is_mock_mode": self.mode == "mock",
            "is_backtest": self.mode == "backtest", "status": self.status,
            "feed_history": list(self.feed), "current_date": None,
            "trading_days_total": 0, "trading_days_completed": 0,
        }

    def health(self) -> dict[str, Any]:
        return {"status": self.status, "current_date": "2024-01-02", "stage": "analysis", "progress": 0.0}

    def pause(self) -> None:
        self._call("pause", None)
        if self.status != "running":
            raise ValueError("no running run to pause")
        self._set_status("paused")

    def resume(self) -> None:
        self._call("resume", None)
        if self.status != "paused":
            raise ValueError("the run is not paused")
        self._set_status("running")

    def set_pace(self, seconds: float) -> None:
        self._call("set_pace", seconds)
        self.pace = seconds

    async def start_backtest(self, dates: list[dt.date]) -> None:
        self._call("start_backtest", dates)
        await asyncio.sleep(0)  # a real driver awaits while preparing the run
        if not dates:
            raise ValueError("start_backtest needs at least one date")
        self._set_status("running")

    def fast_forward(self, minutes: float) -> dict[str, Any]:
        self._call("fast_forward", minutes)
        if self.mode != "mock":
            raise ValueError("fast_forward_time is only supported in mock mode")
        return {"current_time": "2024-01-02T10:30:00-05:00"}

    # --- test controls --------------------------------------------------------

    def emit(self, event: Event) -> None:
        """What the engine does: record the feed, then call listeners in order."""
        if event.type in FEED_TYPES:
            self.feed.appendleft(event.to_wire())
        emit(self.event, event)

    def emit_seq(self, seq: int, size: int = 0) -> None:
        """Emit ``system`` number ``seq`` (``content`` padded to ``size`` chars)."""
        self.emit(System(content=f"event {seq}".ljust(size, "."), seq=seq))

    def _call(self, name: str, arg: Any) -> None:
        self.calls.append((name, arg))
        if self.fail_next is not None:
            err, self.fail_next = self.fail_next, None
            raise err

    def _set_status(self, status: str) -> None:
        self.status = status
        self.emit(RunStatus(run_id=self.run_id, status=status, progress=0.0))


async def recv_json(ws: Any, timeout: float = 5.0) -> dict[str, Any]:
    """The next frame from a client connection, decoded."""
    return json.loads(await asyncio.wait_for(ws.recv(), timeout))


async def recv_until(ws: Any, predicate: Callable[[dict[str, Any]], bool],
                     timeout: float = 5.0) -> dict[str, Any]:
    """Skip frames until one matches (fails the test after ``timeout``)."""
    async def loop() -> dict[str, Any]:
        while True:
            frame = json.loads(await ws.recv())
            if predicate(frame):
                return frame
    return await asyncio.wait_for(loop(), timeout)


async def wait_for(condition: Callable[[], bool], timeout: float = 10.0, what: str = "condition") -> None:
    """Poll ``condition`` until it holds; fails the test naming ``what``."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)
