"""Mock mode: a virtual New York clock and deterministic intraday prices.

``MockClock`` runs from a chosen start at ``speed`` times real time and can be
fast-forwarded; where a moment falls in the NYSE day (pre-market, open, after
hours, closed) is :func:`backend.market.calendar.market_status_at`, the one
definition of market hours. ``IntradayTicks`` turns a synthetic daily bar into
a minute path from the open to the close that touches the day's high and low.
"""

from __future__ import annotations

import datetime as dt
import math
import time
from collections.abc import Callable
from functools import lru_cache
from zoneinfo import ZoneInfo

import numpy as np

from backend.market import calendar
from backend.market.base import MarketDataError, Tick
from backend.market.calendar import NEW_YORK, SESSION_MINUTES, market_status_at, to_new_york
from backend.market.synthetic import SyntheticMarket
from backend.market.synthetic_prices import round_price
from backend.market.synthetic_profiles import ticker_key

BEIJING = ZoneInfo("Asia/Shanghai")


class MockClock:
    """A virtual New York clock for mock mode.

    Args:
        start: the virtual time at creation (naive means New York time).
        speed: virtual seconds per real second (0 freezes the clock).
        monotonic: the real time source; tests pass a controllable one.
    """

    def __init__(self, start: dt.datetime, speed: float = 1.0,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        if speed < 0 or not math.isfinite(speed):
            raise ValueError(f"clock speed must be a finite number >= 0, got {speed}")
        self._start = to_new_york(start)
        self.speed = float(speed)
        self._monotonic = monotonic
        self._t0 = monotonic()
        self._skipped = dt.timedelta(0)

    def now(self) -> dt.datetime:
        """The current virtual time (New York, aware)."""
        elapsed = (self._monotonic() - self._t0) * self.speed
        # Arithmetic in UTC so DST changes do not shift the wall clock by an hour.
        utc = self._start.astimezone(dt.timezone.utc) + dt.timedelta(seconds=elapsed) + self._skipped
        return utc.astimezone(NEW_YORK)

    def fast_forward(self, minutes: float) -> dt.datetime:
        """Jump ahead by ``minutes`` of virtual time; returns the new time."""
        if minutes < 0:
            raise ValueError(f"cannot fast-forward by a negative amount ({minutes} minutes)")
        self._skipped += dt.timedelta(minutes=minutes)
        return self.now()

    def market_status(self) -> dict[str, object]:
        """The NYSE session state at the virtual now."""
        return market_status_at(self.now())

    def beijing_time_str(self, when: dt.datetime | None = None) -> str:
        """The virtual now (or ``when``) in Beijing time, ``%Y-%m-%d %H:%M:%S``."""
        return (when or self.now()).astimezone(BEIJING).strftime("%Y-%m-%d %H:%M:%S")


class IntradayTicks:
    """Deterministic minute prices inside each synthetic daily bar.

    The path is a Brownian bridge (in log price) from the open to the close
    (``calendar.MARKET_OPEN``, ``MARKET_CLOSE``), its up- and down-swings scaled so that it reaches the
    day's high and low exactly and never leaves them. Before the open the
    price is the previous close; after the close, the close. On a closed day
    the last session's close stands.

    Args:
        market: the synthetic market whose daily bars the paths follow.
        seed: the randomness of the paths (same seed, ticker, minute -> same price).
    """

    def __init__(self, market: SyntheticMarket, seed: int = 7) -> None:
        self.market = market
        self.seed = int(seed)
        self._path = lru_cache(maxsize=1024)(self._build_path)

    def _build_path(self, ticker: str, day: dt.date) -> list[float]:
        bar = self.market.bar(ticker, day)
        rng = np.random.default_rng([self.seed, ticker_key(ticker), day.toordinal()])
        walk = np.concatenate([[0.0], np.cumsum(rng.standard_normal(SESSION_MINUTES))])
        frac = np.arange(SESSION_MINUTES + 1) / SESSION_MINUTES
        bridge = walk - frac * walk[-1]
        line = math.log(bar.open) + frac * (math.log(bar.close) - math.log(bar.open))
        room_up, room_down = math.log(bar.high) - line, line - math.log(bar.low)
        up, down = bridge > 1e-12, bridge < -1e-12
        scale_up = float(np.min(room_up[up] / bridge[up])) if up.any() else 0.0
        scale_down = float(np.min(room_down[down] / -bridge[down])) if down.any() else 0.0
        log_path = line + np.where(bridge > 0, scale_up * bridge, scale_down * bridge)
        prices = np.clip(round_price(np.exp(log_path)), bar.low, bar.high)
        prices[0], prices[-1] = bar.open, bar.close
        return prices.tolist()

    def _previous_close(self, ticker: str, day: dt.date) -> float:
        bars = self.market.bars(ticker, day, 2)
        return bars[0].close if len(bars) == 2 else bars[-1].open

    def tick(self, ticker: str, when: dt.datetime) -> Tick:
        """The price of ``ticker`` at ``when`` (to the minute)."""
        now = to_new_york(when)
        day = now.date()
        if not calendar.is_trading_day(day) or day < self.market.origin:
            bars = self.market.bars(ticker, day, 2)
            if not bars:
                raise MarketDataError(f"no {ticker} prices before {self.market.origin.isoformat()}")
            last = bars[-1]
            prev = bars[0].close if len(bars) == 2 else last.open
            return Tick(ticker=ticker, time=now, price=last.close, open=last.open, prev_close=prev)
        bar = self.market.bar(ticker, day)
        prev = self._previous_close(ticker, day)
        opened = calendar.at(day, calendar.MARKET_OPEN)
        minute = int((now - opened).total_seconds() // 60)
        if minute < 0:
            return Tick(ticker=ticker, time=now, price=prev, open=prev, prev_close=prev)
        price = self._path(ticker, day)[min(minute, SESSION_MINUTES)]
        return Tick(ticker=ticker, time=now, price=price, open=bar.open, prev_close=prev)
