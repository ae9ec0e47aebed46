"""Mock mode: a virtual clock over the synthetic market.

Intraday ticks stream as ``price_update`` and ``time_update`` events; each
trading day of the run is run through the pipeline when the virtual clock
passes its close (16:00 New York). ``fast_forward_time`` jumps the clock.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

from backend.market.mock_clock import IntradayTicks, MockClock
from backend.pipeline.engine import RunEngine
from backend.pipeline.sim_clock import NEW_YORK
from backend.schema import events as ev

CLOSE = dt.time(16, 0)


class MockSession:
    """Virtual trading sessions for one mock-mode run."""

    def __init__(self, engine: RunEngine, speed: float = 60.0, tick_seconds: float = 1.0) -> None:
        self.engine = engine
        remaining = engine.remaining_dates
        first = remaining[0] if remaining else engine.config.end_date
        self.clock = MockClock(dt.datetime.combine(first, dt.time(9, 0), tzinfo=NEW_YORK), speed=speed)
        self.ticks = IntradayTicks(engine.market, seed=engine.config.market.seed)  # type: ignore[arg-type]
        self.tick_seconds = tick_seconds
        self._stop = asyncio.Event()
        self._last_status: str | None = None
        self._lock = asyncio.Lock()

    def market_status(self) -> dict[str, Any]:
        status = dict(self.clock.market_status())
        status["current_time"] = self.clock.now().isoformat(timespec="seconds")
        return status

    def stop(self) -> None:
        self._stop.set()

    def fast_forward(self, minutes: float) -> dict[str, Any]:
        now = self.clock.fast_forward(minutes)
        asyncio.get_running_loop().create_task(self.step())
        return {"minutes": minutes, "current_time": now.isoformat(timespec="seconds")}

    async def step(self) -> None:
        """Emit the time and ticks for the virtual now; run every day whose close has passed."""
        async with self._lock:
            now = self.clock.now()
            status = self.market_status()
            self.engine.emit(ev.TimeUpdate(beijing_time_str=self.clock.beijing_time_str(), status=status["status"],
                                           trading_date=now.date().isoformat(), market_status=status))
            if status["status"] != self._last_status:
                self._last_status = status["status"]
                self.engine.emit(ev.MarketStatusUpdate(market_status=status, timestamp=now.isoformat()))
            if status.get("is_trading_day"):
                prices = {}
                for ticker in self.engine.config.tickers:
                    tick = self.ticks.tick(ticker, now)
                    prices[ticker] = {"price": round(tick.price, 4), "open": round(tick.open, 4),
                                      "ret": round((tick.price / tick.prev_close - 1) * 100, 4)}
                for ticker, p in prices.items():
                    self.engine.emit(ev.PriceUpdate(symbol=ticker, price=p["price"], open=p["open"], ret=p["ret"],
                                                    timestamp=now.isoformat(), realtime_prices=prices))
            for day in list(self.engine.remaining_dates):
                if dt.datetime.combine(day, CLOSE, tzinfo=NEW_YORK) <= now:
                    await self.engine.run_one_day(day)
                else:
                    break

    async def run(self) -> str:
        self.engine.set_status("running")
        while not self._stop.is_set() and self.engine.remaining_dates:
            await self.step()
            try:
                await asyncio.wait_for(self._stop.wait(), timeout=self.tick_seconds)
            except asyncio.TimeoutError:
                pass
        self.engine.set_status("completed" if not self.engine.remaining_dates else "stopped")
        self.engine.write_state(final=True)
        return self.engine.status
