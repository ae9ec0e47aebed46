"""GatewayRuntime: the run behind a Gateway, as the transport sees it.

It owns the :class:`RunEngine` and the task that drives it, and implements
the :class:`gateway.driver.RunDriver` protocol: backtest runs its days (at a
pace, pausable, restartable with ``start_backtest``); mock mode moves a
virtual clock, streams intraday ticks and runs each trading day at its
close (fast-forward supported).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from typing import Any

from backend.pipeline.engine import RunEngine
from backend.schema.state import MarketStatus, ServerState
from gateway.driver import EventListener

log = logging.getLogger(__name__)

MOCK_TICK_SECONDS = 1.0      # real seconds between intraday ticks
MOCK_SPEED = 60.0            # virtual seconds per real second


class GatewayRuntime:
    """Drives one run's engine for the Gateway.

    Args:
        engine: the run.
        paused: start paused (nothing runs until ``resume``).
    """

    def __init__(self, engine: RunEngine, paused: bool = False, mock_speed: float = MOCK_SPEED,
                 live_poll_seconds: float = 15.0) -> None:
        self.engine = engine
        self.run_id = engine.run_id
        self.mode = engine.mode
        self._task: asyncio.Task[Any] | None = None
        self._started = asyncio.Event()  # set each time start() begins a drive task
        self._mock: Any = None
        self._live: Any = None
        self.mock_speed = mock_speed
        self.live_poll_seconds = live_poll_seconds
        if paused:
            engine.pause()

    # -- RunDriver --------------------------------------------------------------
    def add_listener(self, fn: EventListener) -> None:
        self.engine.add_listener(fn)

    def snapshot_state(self) -> ServerState:
        state = self.engine.snapshot_state()
        session = self._mock or self._live
        if session is not None:
            state.market_status = MarketStatus.model_validate(session.market_status())
        return state

    def health(self) -> dict[str, Any]:
        return self.engine.health()

    def pause(self) -> None:
        if self.engine.status in ("completed", "stopped", "failed"):
            raise ValueError(f"the run is {self.engine.status}; nothing to pause")
        self.engine.pause()
        if self.engine.status != "running":
            self.engine.set_status("paused")

    def resume(self) -> None:
        self.engine.resume()

    def set_pace(self, seconds: float) -> None:
        self.engine.set_pace(seconds)

    async def start_backtest(self, dates: list[dt.date]) -> None:
        if self.running:
            raise ValueError("a backtest is already running; pause or wait for it to finish")
        await self.engine.start_backtest(dates)
        self.start()

    def fast_forward(self, minutes: float) -> dict[str, Any]:
        if self._mock is None:
            raise ValueError("fast_forward_time is only supported in mock mode")
        return self._mock.fast_forward(minutes)

    # -- life cycle ---------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        """Start driving the run (backtest days, or the mock clock)."""
        if self.running:
            return
        if self.mode == "mock":
            from gateway.mock_mode import MockSession

            self._mock = self._mock or MockSession(self.engine, speed=self.mock_speed)
            self._task = asyncio.create_task(self._mock.run(), name=f"mock-{self.run_id}")
        elif self.mode == "live":
            from gateway.live_mode import LiveSession

            self._live = self._live or LiveSession(self.engine, poll_seconds=self.live_poll_seconds)
            self._task = asyncio.create_task(self._live.run(), name=f"live-{self.run_id}")
        else:
            self._task = asyncio.create_task(self.engine.run(), name=f"run-{self.run_id}")
        self._started.set()

    async def wait_started(self) -> None:
        """Return once a drive task is running: at once if one is, else when ``start()`` begins one."""
        self._started.clear()
        if not self.running:
            await self._started.wait()

    async def wait(self) -> str:
        if self._task is not None:
            await self._task
        return self.engine.status

    def request_stop(self) -> None:
        self.engine.request_stop()
        for session in (self._mock, self._live):
            if session is not None:
                session.stop()

    async def close(self) -> None:
        self.request_stop()
        if self._task is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._task), timeout=30)
            except (asyncio.TimeoutError, Exception):  # noqa: BLE001 - shutting down regardless
                log.warning("run task did not finish cleanly")
        await self.engine.close()


__all__ = ["GatewayRuntime"]
