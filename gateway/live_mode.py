"""Live mode: real quotes on the real clock.

Every ``poll_seconds`` the session polls the quote provider (Finnhub-style,
``FINNHUB_API_KEY``), streams one ``price_update`` per ticker and a
``market_status_update`` when the session changes, and folds the quotes into
the day's live bar. When the New York clock passes a trading day's close, the
day runs through the pipeline: executions at the day's open quote,
settlement at the last one. History (indicators, fundamentals, news) comes
from the synthetic market. Days of the run before today are not run.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from typing import Any, Callable

from backend.market.base import MarketDataError
from backend.market.mock_clock import market_status_at
from backend.pipeline.engine import RunEngine
from backend.pipeline.sim_clock import NEW_YORK
from backend.schema import events as ev

log = logging.getLogger(__name__)
CLOSE = dt.time(16, 0)


def new_york_now() -> dt.datetime:
    return dt.datetime.now(NEW_YORK)


class LiveSession:
    """Polls live quotes for one live-mode run and runs each day at its close.

    Args:
        engine: the run (its market must be a ``LiveMarket``).
        poll_seconds: seconds between quote polls.
        now: the clock (New York time), injectable for tests.
    """

    def __init__(self, engine: RunEngine, poll_seconds: float = 15.0,
                 now: Callable[[], dt.datetime] = new_york_now) -> None:
        self.engine = engine
        self.market: Any = engine.market
        self.poll_seconds = poll_seconds
        self.now = now
        self._stop = asyncio.Event()
        self._last_status: str | None = None
        self._last_error: str | None = None
        today = now().date()
        # A live run trades from today on: earlier days of its range are history.
        self.engine.dates = [d for d in self.engine.dates if d >= today]

    def market_status(self) -> dict[str, Any]:
        return dict(market_status_at(self.now()))

    def stop(self) -> None:
        self._stop.set()

    async def step(self) -> None:
        """One poll: stream quotes and status; run every day whose close has passed."""
        now = self.now()
        status = self.market_status()
        if status["status"] != self._last_status:
            self._last_status = str(status["status"])
            self.engine.emit(ev.MarketStatusUpdate(market_status=status, timestamp=now.isoformat()))
        try:
            ticks = await self.market.quotes.poll()
        except MarketDataError as err:
            if str(err) != self._last_error:  # say it once, not every poll
                self._last_error = str(err)
                self.engine.emit(ev.System(content=f"live quotes unavailable: {err}"))
            ticks = {}
        else:
            self._last_error = None
        if ticks:
            self.market.record(ticks, now.date())
            prices = {t: {"price": round(k.price, 4), "open": round(k.open, 4),
                          "ret": round((k.price / k.prev_close - 1) * 100, 4) if k.prev_close else 0.0}
                      for t, k in ticks.items()}
            for ticker, p in prices.items():
                self.engine.emit(ev.PriceUpdate(symbol=ticker, price=p["price"], open=p["open"], ret=p["ret"],
                                                timestamp=now.isoformat(), realtime_prices=prices))
        for day in list(self.engine.remaining_dates):
            if dt.datetime.combine(day, CLOSE, tzinfo=NEW_YORK) > now:
                break
            await self.engine.run_one_day(day)

    async def run(self) -> str:
        self.engine.set_status("running")
        while not self._stop.is_set() and self.engine.remaining_dates:
            await self.step()
            try:
                await asyncio.wait_for(self._stop.wait(), timeout=self.poll_seconds)
            except asyncio.TimeoutError:
                pass
        self.engine.set_status("completed" if not self.engine.remaining_dates else "stopped")
        self.engine.write_state(final=True)
        return self.engine.status
