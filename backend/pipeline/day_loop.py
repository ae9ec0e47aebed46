"""The day loop of every mode; *when* a trading day runs is its clock's business.

Each turn of :class:`DayLoop`:

1. the clock advances (:meth:`DayClock.advance`): mock mode streams its
   virtual time and intraday prices, live mode polls quotes, the backtest
   does nothing; it answers which of the remaining days are due now (the
   backtest: the next one; mock and live: each whose close has passed on
   their clock, see ``backend.market.calendar``);
2. each due day runs through the engine, unless a stop was asked for; a
   paused run starts no new day until it is resumed (inside a day the
   engine pauses after the current stage); ``on_day`` hears of every day;
3. the loop waits ``clock.period()`` seconds (the backtest's pace, the mock
   tick, the live poll), cut short by ``set_pace``, a stop or a fast-forward.

The run ends when no day remains (``completed``) or after a stop
(``stopped``); an error ends it as ``failed`` with a ``day_error`` event.
Either way the event log is flushed and the final state written.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from typing import TYPE_CHECKING, Any, Callable, Protocol

from backend.market import calendar
from backend.schema import events as ev

if TYPE_CHECKING:
    from backend.pipeline.engine import RunEngine

log = logging.getLogger(__name__)

OnDay = Callable[[int, int, str], None]   # (days completed, days total, date)


class RunStopped(Exception):
    """Raised between stages when a stop was requested."""


class RunControl:
    """Pause, resume, stop and pace of one run: set by commands, read between stages and days.

    Args:
        pace: seconds between trading days of a backtest (0 = as fast as possible).
    """

    def __init__(self, pace: float = 0.0) -> None:
        self.pace = max(0.0, float(pace))
        self._running = asyncio.Event()
        self._running.set()
        self._stop = False
        self._day_stop = False
        self._wake = asyncio.Event()
        self._nudged = False

    @property
    def paused(self) -> bool:
        return not self._running.is_set()

    @property
    def stop_requested(self) -> bool:
        return self._stop

    def pause(self) -> None:
        self._running.clear()

    def resume(self) -> None:
        self._running.set()

    def set_pace(self, seconds: float) -> None:
        self.pace = max(0.0, float(seconds))
        self._wake.set()

    def request_stop(self) -> None:
        """Stop after the current stage (a paused run wakes up to stop)."""
        self._stop = True
        self._running.set()
        self._wake.set()

    @property
    def day_stop_requested(self) -> bool:
        return self._day_stop

    def stop_at_day_boundary(self) -> None:
        """Stop before the next trading day starts: the current one finishes and checkpoints."""
        self._day_stop = True
        self._wake.set()

    def nudge(self) -> None:
        """Make the loop's next wait (or the current one) end at once (the clock moved)."""
        self._nudged = True
        self._wake.set()

    async def wait_resumed(self) -> None:
        await self._running.wait()

    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` (0: just let the event loop breathe), cut short by a wake-up."""
        if seconds <= 0 or self._nudged:
            self._nudged = False
            await asyncio.sleep(0)
            return
        self._wake.clear()
        try:
            await asyncio.wait_for(self._wake.wait(), timeout=seconds)
        except asyncio.TimeoutError:
            pass
        self._nudged = False


class DayClock(Protocol):
    """When a mode runs its trading days, and what it streams in between."""

    def bind(self, engine: RunEngine) -> None:
        """Attach to the run (called by :class:`DayLoop`; may trim the run's schedule)."""

    async def advance(self, remaining: list[dt.date]) -> list[dt.date]:
        """One turn: stream what the mode streams; the days of ``remaining`` to run now, in order."""

    def period(self) -> float:
        """Seconds to wait between turns (0 = as fast as the event loop allows)."""

    def market_status(self) -> dict[str, Any]:
        """The ``market_status`` of the run's state (``initial_state``, server_state.json)."""

    def fast_forward(self, minutes: float) -> dict[str, Any]:
        """Move the clock ahead (mock mode); ValueError elsewhere."""


class BacktestClock:
    """Backtest: one day a turn, as fast as allowed, or paced by ``set_pace``."""

    def __init__(self) -> None:
        self.engine: RunEngine | None = None

    def bind(self, engine: RunEngine) -> None:
        self.engine = engine

    async def advance(self, remaining: list[dt.date]) -> list[dt.date]:
        return remaining[:1]

    def period(self) -> float:
        return self.engine.control.pace if self.engine is not None else 0.0

    def market_status(self) -> dict[str, Any]:
        engine = self.engine
        return calendar.backtest_market_status(engine.status if engine is not None else "starting",
                                               engine.current_date if engine is not None else None)

    def fast_forward(self, minutes: float) -> dict[str, Any]:
        raise ValueError("fast_forward_time is only supported in mock mode")


def _days_remain(engine: RunEngine) -> bool:
    """``bool(engine.remaining_dates)`` without building the list: its dates are sorted, so a
    day remains when the last one is after the last completed day."""
    dates, last = engine.dates, engine.state.last_completed_date
    return bool(dates) and (last is None or dates[-1] > dt.date.fromisoformat(last))


class DayLoop:
    """Runs one engine's remaining days on ``clock``.

    Args:
        engine: the run.
        clock: the mode's clock strategy (bound to the engine here).
    """

    def __init__(self, engine: RunEngine, clock: DayClock) -> None:
        self.engine = engine
        self.clock = clock
        engine.day_clock = clock
        clock.bind(engine)

    async def run(self, on_day: OnDay | None = None) -> str:
        """Run every remaining day; returns the final status (completed, stopped, failed)."""
        engine, control = self.engine, self.engine.control
        if engine.resumed_from:
            engine.emit(ev.System(content=f"Resuming run {engine.run_id} after {engine.resumed_from}"))
        engine.set_status("paused" if control.paused else "running")
        try:
            while _days_remain(engine) and not control.stop_requested and not control.day_stop_requested:
                await self.turn(on_day)
                if control.stop_requested or control.day_stop_requested:
                    break
                await control.sleep(self.clock.period())
        except RunStopped:
            pass
        except Exception as exc:
            log.exception("run %s failed", engine.run_id)
            engine.emit(ev.DayError(date=engine.current_date or "", error=f"{type(exc).__name__}: {exc}"))
            engine.set_status("failed")
            engine.finish()
            return engine.status
        engine.stage = None
        engine.set_status("stopped" if engine.remaining_dates else "completed")
        engine.finish()
        return engine.status

    async def turn(self, on_day: OnDay | None = None) -> None:
        """One turn: advance the clock, then run each day it says is due."""
        engine = self.engine
        for day in await self.clock.advance(engine.remaining_dates):
            if not await self._may_start_a_day():
                return
            await engine.run_one_day(day)
            if on_day is not None:
                on_day(engine.state.days_completed, engine.days_total, engine.current_date or "")

    async def _may_start_a_day(self) -> bool:
        engine, control = self.engine, self.engine.control
        if control.day_stop_requested:
            return False
        if control.paused and not control.stop_requested:
            engine.set_status("paused")
            await control.wait_resumed()
            if control.stop_requested:
                return False
            engine.set_status("running")
        return not control.stop_requested and not control.day_stop_requested
