"""Live mode's clock: real quotes on the New York clock.

Each turn of the day loop (every ``poll_seconds``) polls the quote provider
(Finnhub-style, ``FINNHUB_API_KEY``), streams one ``price_update`` per ticker
and a ``market_status_update`` when the session changes, and folds the quotes
into the day's live bar. Every trading day whose close has passed on the New
York clock is then due: executions at the day's open quote, settlement at the
last one. History (indicators, fundamentals, news) comes from the synthetic
market. Days of the run before today are not run.
"""

from __future__ import annotations

import datetime as dt
import itertools
from typing import TYPE_CHECKING, Any, Callable

from backend.market import calendar
from backend.market.base import MarketDataError
from backend.schema import events as ev

if TYPE_CHECKING:
    from backend.pipeline.engine import RunEngine


def new_york_now() -> dt.datetime:
    return dt.datetime.now(calendar.NEW_YORK)


class LiveModeClock:
    """The day loop's clock in live mode.

    Args:
        poll_seconds: seconds between quote polls (turns of the loop).
        now: the clock (New York time), injectable for tests.
    """

    def __init__(self, poll_seconds: float = 15.0, now: Callable[[], dt.datetime] = new_york_now) -> None:
        self.poll_seconds = poll_seconds
        self.now = now
        self.engine: RunEngine | None = None
        self.market: Any = None
        self._last_status: str | None = None
        self._last_error: str | None = None

    def bind(self, engine: RunEngine) -> None:
        """Attach to the run; a live run trades from today on (earlier days of its range are history)."""
        self.engine = engine
        self.market = engine.market
        today = self.now().date()
        engine.dates = [d for d in engine.dates if d >= today]

    def market_status(self) -> dict[str, Any]:
        return calendar.market_status_at(self.now())

    def period(self) -> float:
        return self.poll_seconds

    def fast_forward(self, minutes: float) -> dict[str, Any]:
        raise ValueError("fast_forward_time is only supported in mock mode")

    async def advance(self, remaining: list[dt.date]) -> list[dt.date]:
        engine = self.engine
        if engine is None:
            raise RuntimeError("the live clock is not bound to a run yet")
        now = self.now()
        status = calendar.market_status_at(now)
        if status["status"] != self._last_status:
            self._last_status = str(status["status"])
            engine.emit(ev.MarketStatusUpdate(market_status=status, timestamp=now.isoformat()))
        try:
            ticks = await self.market.quotes.poll()
        except MarketDataError as err:
            if str(err) != self._last_error:  # say it once, not every poll
                self._last_error = str(err)
                engine.emit(ev.System(content=f"live quotes unavailable: {err}"))
            ticks = {}
        else:
            self._last_error = None
        if ticks:
            self.market.record(ticks, now.date())
            prices = {t: {"price": round(k.price, 4), "open": round(k.open, 4),
                          "ret": round((k.price / k.prev_close - 1) * 100, 4) if k.prev_close else 0.0}
                      for t, k in ticks.items()}
            for ticker, p in prices.items():
                engine.emit(ev.PriceUpdate(symbol=ticker, price=p["price"], open=p["open"], ret=p["ret"],
                                           timestamp=now.isoformat(), realtime_prices=prices))
        return list(itertools.takewhile(lambda day: calendar.close_at(day) <= now, remaining))
