"""Price generation for the synthetic market: a shared regime-switching market
factor and per-ticker one-factor geometric Brownian motion.

Everything is generated on the NYSE calendar from a fixed origin in chunks of
``CHUNK`` trading days. Chunk ``k`` of a series draws its randomness from a
generator seeded by (seed, [ticker key,] k), and the few values carried from
one chunk to the next (regime, cumulative log price, recent news) are computed
sequentially, so a bar depends only on the seed, the ticker and its date --
never on which tickers or dates were asked for first.
"""

from __future__ import annotations

import datetime as dt
import math
from bisect import bisect_right

import numpy as np

from backend.market import calendar
from backend.market.base import Bar
from backend.market.synthetic_profiles import CompanyProfile, ticker_key
from backend.market.synthetic_regimes import AR_WINDOW, StyleRegimes, styled_idiosyncratic

ORIGIN = dt.date(2015, 1, 2)
ANCHOR = dt.date(2025, 1, 2)        # prices are scaled to the profile's price on this day
MAX_DATE = dt.date(2100, 12, 31)
CHUNK = 252
MAX_ITEMS = 3                       # news items per ticker per day, at most
NEWS_RATE = 0.6                     # mean headlines per ticker per trading day
NEWS_KAPPA = 0.3                    # how strongly today's news information moves the next days
NEWS_WEIGHTS = (0.5, 0.3, 0.2)      # its split over the next three sessions

# Market regimes: calm/bull, bear, high volatility (daily log-return mean and sigma).
REGIME_MU = np.array([0.0007, -0.0012, 0.0])
REGIME_SIGMA = np.array([0.008, 0.015, 0.024])
IDIO_SCALE = np.array([0.9, 1.15, 1.5])   # idiosyncratic noise grows in rough markets
TRANSITION = np.array([[0.990, 0.005, 0.005],
                       [0.015, 0.980, 0.005],
                       [0.030, 0.020, 0.950]])
_CUM_ROWS = np.cumsum(TRANSITION, axis=1).tolist()


def _stationary() -> np.ndarray:
    values, vectors = np.linalg.eig(TRANSITION.T)
    pi = np.real(vectors[:, np.argmin(np.abs(values - 1.0))])
    return pi / pi.sum()


_PI = _stationary()
MARKET_MEAN = float(_PI @ REGIME_MU)                 # long-run daily factor mean
MARKET_VOL = float(np.sqrt(_PI @ (REGIME_SIGMA ** 2 + REGIME_MU ** 2) - MARKET_MEAN ** 2) * np.sqrt(252))
IDIO_RMS = float(np.sqrt(_PI @ IDIO_SCALE ** 2))     # so profile vols hold on average


class TradingIndex:
    """The NYSE trading days from ``ORIGIN`` on, extended on demand."""

    def __init__(self) -> None:
        self.days: list[dt.date] = []
        self._through = ORIGIN - calendar.ONE_DAY

    def _extend(self) -> None:
        end = self._through + dt.timedelta(days=366)
        self.days.extend(calendar.trading_days(self._through + calendar.ONE_DAY, end))
        self._through = end

    def chunks_through(self, day: dt.date) -> int:
        """How many chunks cover the trading days up to ``day``."""
        while self._through < day:
            self._extend()
        count = max(bisect_right(self.days, day), 1)
        needed = (count - 1) // CHUNK + 1
        while len(self.days) < needed * CHUNK:
            self._extend()
        return needed

    def slice(self, k: int) -> list[dt.date]:
        return self.days[k * CHUNK:(k + 1) * CHUNK]


class MarketFactor:
    """The market-wide daily log-return, shared by every ticker (seeded by ``seed`` alone)."""

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self.returns: list[np.ndarray] = []   # per chunk
        self.sigma: list[np.ndarray] = []
        self.regimes: list[np.ndarray] = []
        self._state = 0

    def ensure(self, n_chunks: int) -> None:
        for k in range(len(self.returns), n_chunks):
            rng = np.random.default_rng([self.seed, 0xFAC7, k])
            switch, shock = rng.random(CHUNK), rng.standard_normal(CHUNK)
            regimes = np.empty(CHUNK, dtype=np.int64)
            state = self._state
            for i, u in enumerate(switch.tolist()):  # a Markov chain is sequential by nature
                row = _CUM_ROWS[state]
                state = 0 if u < row[0] else 1 if u < row[1] else 2
                regimes[i] = state
            self._state = state
            self.regimes.append(regimes)
            self.sigma.append(REGIME_SIGMA[regimes])
            self.returns.append(REGIME_MU[regimes] + REGIME_SIGMA[regimes] * shock)


def round_price(values: np.ndarray) -> np.ndarray:
    """Cents above $1, four decimals below (monotone, so OHLC order survives)."""
    return np.maximum(np.where(values >= 1.0, np.round(values, 2), np.round(values, 4)), 0.0001)


class _ChunkedBars:
    """A series' bars as a read-only list, each chunk's ``Bar`` objects made when one of them is
    first read: a run far from the anchor date reads two of the ten-odd chunks the price scale
    needs built (the values are the chunk's arrays either way)."""

    __slots__ = ("_columns", "_bars", "_length")

    def __init__(self) -> None:
        self._columns: list[tuple[list, ...] | None] = []   # per chunk, until its bars are made
        self._bars: list[list[Bar] | None] = []
        self._length = 0

    def add_chunk(self, columns: tuple[list, ...]) -> None:
        if len(columns[0]) != CHUNK:  # indexing divides by CHUNK
            raise ValueError(f"a chunk holds {CHUNK} trading days, not {len(columns[0])}")
        self._columns.append(columns)
        self._bars.append(None)
        self._length += len(columns[0])

    def _chunk(self, k: int) -> list[Bar]:
        bars = self._bars[k]
        if bars is None:
            columns = self._columns[k]
            assert columns is not None
            bars = self._bars[k] = list(map(Bar, *columns))
            self._columns[k] = None
        return bars

    def __len__(self) -> int:
        return self._length

    def __getitem__(self, at: int | slice) -> Bar | list[Bar]:
        if isinstance(at, slice):
            start, stop, step = at.indices(self._length)
            if step != 1:
                return [self[i] for i in range(start, stop, step)]
            k, i = divmod(start, CHUNK)
            if stop - start <= CHUNK - i:  # within one chunk (a day's lookback, mostly): one slice
                return self._chunk(k)[i:i + stop - start] if start < stop else []
            out: list[Bar] = []
            while start < stop:
                k, i = divmod(start, CHUNK)
                take = min(stop - start, CHUNK - i)
                out.extend(self._chunk(k)[i:i + take])
                start += take
            return out
        if at < 0:
            at += self._length
        if not 0 <= at < self._length:
            raise IndexError("bar index out of range")
        k, i = divmod(at, CHUNK)
        return self._chunk(k)[i]


class TickerSeries:
    """The daily bars and news drivers of one ticker, built chunk by chunk."""

    def __init__(self, profile: CompanyProfile, seed: int, factor: MarketFactor,
                 index: TradingIndex, style: "StyleRegimes | None" = None) -> None:
        self.profile = profile
        self.style = style                        # the ``regimes`` profile's style chain, else None
        self.seed = seed
        self.key = ticker_key(profile.ticker)
        self.factor = factor
        self.index = index
        self.bars = _ChunkedBars()                # Bar objects made per chunk when first read
        self.closes: list[float] = []             # every built day's close (what fundamentals read)
        self.dates: list[dt.date] = []
        self.log_close: list[np.ndarray] = []     # unanchored cumulative log price
        self.news_count: list[np.ndarray] = []
        self.info: list[np.ndarray] = []          # news information (0 on quiet days)
        self.recent: list[np.ndarray] = []        # recent standardized idiosyncratic move
        self.item_noise: list[np.ndarray] = []
        idio = math.sqrt(max(profile.vol ** 2 - (profile.beta * MARKET_VOL) ** 2, 0.12 ** 2))
        self.idio_daily = idio / math.sqrt(252) / IDIO_RMS
        self.alpha = profile.drift / 252 - profile.beta * MARKET_MEAN
        self._carry_info = np.zeros(3)
        self._carry_z = np.zeros(2)
        self._carry_log = 0.0
        self._carry_ar = np.zeros(AR_WINDOW)
        self._prev_close: float | None = None
        self._pending: dict[int, tuple[np.ndarray, np.ndarray]] = {}  # OHLC noise until bars are built
        self._anchor_log: float | None = None
        self._covered = ORIGIN - calendar.ONE_DAY  # every trading day up to this one has its bar

    @property
    def n_chunks(self) -> int:
        return len(self.bars) // CHUNK

    def ensure(self, day: dt.date) -> None:
        """Generate chunks until ``day`` (and the anchor date) are covered."""
        if day <= self._covered:  # the usual case: a day asked for many times a day
            return
        day = min(day, MAX_DATE)
        needed = max(self.index.chunks_through(day), self.index.chunks_through(ANCHOR))
        if needed <= len(self.log_close):
            return
        self.factor.ensure(needed)
        first_new = len(self.log_close)
        for k in range(first_new, needed):
            self._draw_chunk(k)
        if self._anchor_log is None:
            at = bisect_right(self.index.days, ANCHOR) - 1
            self._anchor_log = float(self.log_close[at // CHUNK][at % CHUNK])
        for k in range(first_new, needed):
            self._build_bars(k)
        self._covered_through()

    def _covered_through(self) -> None:
        # Chunks hold whole trading days: the calendar days up to the day
        # before the first trading day not built yet are all covered.
        days = self.index.days
        built = len(self.bars)
        self._covered = days[built] - calendar.ONE_DAY if built < len(days) else days[built - 1]

    def _draw_chunk(self, k: int) -> None:
        rng = np.random.default_rng([self.seed, self.key, 2, k])
        z = rng.standard_normal(CHUNK)
        count = np.minimum(rng.poisson(NEWS_RATE, CHUNK), MAX_ITEMS)
        info = rng.standard_normal(CHUNK) * (count > 0)
        self.item_noise.append(rng.standard_normal((CHUNK, MAX_ITEMS)))
        ohlc_noise = rng.standard_normal((4, CHUNK))
        # News information pushes the next three sessions' idiosyncratic returns.
        padded = np.concatenate([self._carry_info, info])
        push = sum(w * padded[3 - j:3 - j + CHUNK] for j, w in enumerate(NEWS_WEIGHTS, start=1))
        if self.style is None:
            idio_z = z + NEWS_KAPPA * push
        else:
            self.style.ensure(k + 1)
            idio_z, self._carry_ar = styled_idiosyncratic(z, push, self.style.states[k], self._carry_ar)
        zs = np.concatenate([self._carry_z, idio_z])
        self.recent.append((zs[2:] + zs[1:-1] + zs[:-2]) / math.sqrt(3))
        scale = IDIO_SCALE[self.factor.regimes[k]]
        ret = self.alpha + self.profile.beta * self.factor.returns[k] + self.idio_daily * scale * idio_z
        if k == 0:
            ret[0] = 0.0                    # the origin bar has no previous close
        self.log_close.append(self._carry_log + np.cumsum(ret))
        self._carry_log = float(self.log_close[-1][-1])
        self._carry_info, self._carry_z = info[-3:].copy(), idio_z[-2:].copy()
        self.news_count.append(count)
        self.info.append(info)
        self._pending[k] = (ohlc_noise, scale)

    def _build_bars(self, k: int) -> None:
        p = self.profile
        noise, scale = self._pending.pop(k)
        gap, up, down, vnoise = noise
        sig = np.sqrt((p.beta * self.factor.sigma[k]) ** 2 + (self.idio_daily * scale) ** 2)
        close = round_price(p.anchor_price * np.exp(self.log_close[k] - self._anchor_log))
        prev = np.concatenate([[self._prev_close if self._prev_close is not None else close[0]],
                               close[:-1]])
        opens = round_price(prev * np.exp(0.3 * sig * gap))
        high = round_price(np.maximum(opens, close) * np.exp(0.6 * sig * np.abs(up)))
        low = round_price(np.minimum(opens, close) * np.exp(-0.6 * sig * np.abs(down)))
        ret = close / prev - 1.0
        volume = np.round(p.avg_volume * np.exp(0.3 * vnoise) * (1.0 + 12.0 * np.abs(ret)))
        days = self.index.slice(k)
        self.dates.extend(days)
        closes = close.tolist()
        self.closes.extend(closes)
        self.bars.add_chunk((days, opens.tolist(), high.tolist(), low.tolist(), closes, volume.tolist(),
                             ret.tolist()))
        self._prev_close = float(close[-1])

    def upto(self, day: dt.date) -> int:
        """Number of bars dated on or before ``day`` (after extending to it)."""
        self.ensure(day)
        return bisect_right(self.dates, day)
