"""EngineRunDriver: the run behind a Gateway, as the transport sees it.

It owns the :class:`RunEngine` and the task that drives it, and implements
the :class:`gateway.driver.RunDriver` protocol. Every mode runs the same day
loop (:mod:`backend.pipeline.day_loop`) on its own clock: the backtest runs
its days at a pace (pausable, restartable with ``start_backtest``); mock mode
moves a virtual clock, streams intraday ticks and runs each trading day at
its close (fast-forward supported); live mode does the same on the New York
clock with real quotes. A backtest announces its market status
(:func:`backend.market.calendar.backtest_market_status`) with a
``market_status_update`` when it is resumed or paused and, after its final
``run_status``, when it ends, so a client's header never keeps a running
status after the run.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from typing import Any

from backend.market import calendar
from backend.pipeline.day_loop import BacktestClock, DayClock
from backend.pipeline.engine import RunEngine
from backend.schema import events as ev
from backend.schema.state import ServerState
from backend.signals import SignalInstance

log = logging.getLogger(__name__)

MOCK_TICK_SECONDS = 1.0      # real seconds between intraday ticks
MOCK_SPEED = 60.0            # virtual seconds per real second


class EngineRunDriver:
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
        self._clock: DayClock | None = None
        self._announced: str | None = None   # the backtest market status last announced (its text)
        self.mock_speed = mock_speed
        self.live_poll_seconds = live_poll_seconds
        # restart_at_day_boundary: set once asked; the Gateway process exits to be started again.
        self.restart_requested = asyncio.Event()
        if paused:
            engine.pause()

    # -- RunDriver --------------------------------------------------------------
    @property
    def event(self) -> SignalInstance:
        return self.engine.event

    def snapshot_state(self) -> ServerState:
        return self.engine.snapshot_state()   # its market_status is the running mode's clock's

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
        return self.engine.fast_forward(minutes)   # ValueError unless the mock clock runs

    # -- life cycle ---------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        """Start the day loop on the mode's clock (kept across restarts of a backtest)."""
        if self.running:
            return
        self._clock = self._clock or self._make_clock()
        name = f"{'run' if self.mode == 'backtest' else self.mode}-{self.run_id}"
        self._task = asyncio.create_task(self._drive(self._clock), name=name)
        self._started.set()

    async def _drive(self, clock: DayClock) -> str:
        if self.mode != "backtest":
            return await self.engine.run(clock=clock)
        # Its status at this moment is the one every client's initial_state carries; changes follow.
        self._announced = str(self.engine.market_status()["status_text"])
        self.engine.event.connect(self._on_run_event)
        try:
            return await self.engine.run(clock=clock)
        finally:
            self.engine.event.disconnect(self._on_run_event)
            self._announce_market_status()   # completed, stopped or failed: closed

    def _on_run_event(self, event: ev.Event) -> None:
        # A backtest's market status follows its run status (paused, running); announced
        # after the run_status's delivery, never from inside it.
        if isinstance(event, ev.RunStatus) and event.status in calendar.BACKTEST_OPEN_STATES:
            asyncio.get_running_loop().call_soon(self._announce_market_status)

    def _announce_market_status(self) -> None:
        status = self.engine.market_status()
        if status["status_text"] == self._announced:
            return
        self._announced = str(status["status_text"])
        stamp = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
        self.engine.emit(ev.MarketStatusUpdate(market_status=status, timestamp=stamp))

    def _make_clock(self) -> DayClock:
        if self.mode == "mock":
            from gateway.mock_mode import MockModeClock

            return MockModeClock(speed=self.mock_speed, tick_seconds=MOCK_TICK_SECONDS)
        if self.mode == "live":
            from gateway.live_mode import LiveModeClock

            return LiveModeClock(poll_seconds=self.live_poll_seconds)
        return BacktestClock()

    async def wait_started(self) -> None:
        """Return once a drive task is running: at once if one is, else when ``start()`` begins one."""
        self._started.clear()
        if not self.running:
            await self._started.wait()

    async def wait(self) -> str:
        if self._task is not None:
            await self._task
        return self.engine.status

    def restart_at_day_boundary(self) -> None:
        """Finish the current day (checkpointed), start no next one, then let the process exit to restart.

        A finished run restarts at once (``gateway.cli``); a paused one once resumed and at the boundary.
        """
        if self.restart_requested.is_set():
            return
        day = self.engine.current_date
        self.engine.emit(ev.System(content=f"Gateway restart requested (source changed): the run {self.run_id} "
                                           f"stops after the current day{f' ({day})' if day else ''} and resumes"))
        self.engine.control.stop_at_day_boundary()
        self.restart_requested.set()

    def request_stop(self) -> None:
        self.engine.request_stop()

    async def close(self) -> None:
        self.request_stop()
        if self._task is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._task), timeout=30)
            except (asyncio.TimeoutError, Exception):  # noqa: BLE001 - shutting down regardless
                log.warning("run task did not finish cleanly")
        await self.engine.close()


__all__ = ["EngineRunDriver"]
