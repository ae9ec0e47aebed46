"""Mock mode's clock: a virtual New York clock over the synthetic market.

Each turn of the day loop streams the virtual time (``time_update``), the
session when it changes (``market_status_update``) and, on trading days, one
intraday ``price_update`` per ticker; every day of the run whose close has
passed on the virtual clock is then due. ``fast_forward_time`` jumps the
clock and wakes the loop.
"""

from __future__ import annotations

import datetime as dt
import itertools
import time
from typing import TYPE_CHECKING, Any, Callable

from backend.market import calendar
from backend.market.mock_clock import IntradayTicks, MockClock
from backend.schema import events as ev

if TYPE_CHECKING:
    from backend.pipeline.engine import RunEngine

# The virtual clock starts on the first remaining day, half an hour before the open.
START_TIME = dt.time(9, 0)


class MockModeClock:
    """The day loop's clock in mock mode.

    Args:
        speed: virtual seconds per real second (0 stops the clock between fast-forwards).
        tick_seconds: real seconds between turns (intraday ticks).
        monotonic: the real time source of the virtual clock.
    """

    def __init__(self, speed: float = 60.0, tick_seconds: float = 1.0,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.speed = speed
        self.tick_seconds = tick_seconds
        self._monotonic = monotonic
        self.engine: RunEngine | None = None
        self.clock: MockClock | None = None
        self.ticks: IntradayTicks | None = None
        self._last_status: str | None = None

    def bind(self, engine: RunEngine) -> None:
        self.engine = engine
        if self.clock is None:   # bound again (a restarted loop): the virtual time goes on
            remaining = engine.remaining_dates
            first = remaining[0] if remaining else engine.config.end_date
            self.clock = MockClock(calendar.at(first, START_TIME), speed=self.speed, monotonic=self._monotonic)
            self.ticks = IntradayTicks(engine.market, seed=engine.config.market.seed)  # type: ignore[arg-type]

    def _bound(self) -> tuple[RunEngine, MockClock, IntradayTicks]:
        if self.engine is None or self.clock is None or self.ticks is None:
            raise RuntimeError("the mock clock is not bound to a run yet")
        return self.engine, self.clock, self.ticks

    def now(self) -> dt.datetime:
        return self._bound()[1].now()

    def market_status(self) -> dict[str, Any]:
        return calendar.market_status_at(self.now())

    def period(self) -> float:
        return self.tick_seconds

    def fast_forward(self, minutes: float) -> dict[str, Any]:
        engine, clock, _ = self._bound()
        now = clock.fast_forward(minutes)
        engine.control.nudge()
        return {"minutes": minutes, "current_time": now.isoformat(timespec="seconds")}

    async def advance(self, remaining: list[dt.date]) -> list[dt.date]:
        engine, clock, ticks = self._bound()
        now = clock.now()
        status = calendar.market_status_at(now)
        engine.emit(ev.TimeUpdate(beijing_time_str=clock.beijing_time_str(now), status=str(status["status"]),
                                  trading_date=now.date().isoformat(), market_status=status))
        if status["status"] != self._last_status:
            self._last_status = str(status["status"])
            engine.emit(ev.MarketStatusUpdate(market_status=status, timestamp=now.isoformat()))
        if status["is_trading_day"]:
            prices = {}
            for ticker in engine.config.tickers:
                tick = ticks.tick(ticker, now)
                prices[ticker] = {"price": round(tick.price, 4), "open": round(tick.open, 4),
                                  "ret": round((tick.price / tick.prev_close - 1) * 100, 4)}
            for ticker, p in prices.items():
                engine.emit(ev.PriceUpdate(symbol=ticker, price=p["price"], open=p["open"], ret=p["ret"],
                                           timestamp=now.isoformat(), realtime_prices=prices))
        return list(itertools.takewhile(lambda day: calendar.close_at(day) <= now, remaining))
