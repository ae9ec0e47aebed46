"""Dated synthetic headlines whose sentiment carries a little real information.

The price series draws, per ticker and trading day, a number of headlines and
a hidden "information" value that nudges the next three sessions'
idiosyncratic returns (see ``synthetic_prices``). A headline's sentiment mixes
that information, the ticker's recent idiosyncratic move and per-headline
noise, squashed into [-1, 1]: it mostly echoes what already happened and
weakly anticipates what comes next, which gives a sentiment analyst a modest
real edge. The text comes from templates picked by the sentiment's sign.
"""

from __future__ import annotations

import datetime as dt
import math
from bisect import bisect_left, bisect_right

import numpy as np

from backend.market.base import NewsItem
from backend.market.synthetic_prices import CHUNK, MAX_ITEMS, TickerSeries

W_RECENT, W_INFO, W_NOISE, GAIN = 0.55, 0.55, 0.6, 0.9

PRODUCTS = {
    "AAPL": "iPhone", "MSFT": "Azure cloud", "GOOGL": "search advertising", "NVDA": "data-center GPU",
    "TSLA": "electric vehicle", "META": "advertising", "AMZN": "AWS",
}

POSITIVE = (
    "{name} beats quarterly estimates as {product} demand accelerates",
    "{name} raises full-year guidance on strong {product} sales",
    "Analysts upgrade {ticker}, citing margin expansion",
    "{name} unveils new {product} lineup to upbeat early reviews",
    "{name} announces expanded share buyback",
    "{name} wins multi-year {product} contract with a major customer",
    "{ticker} rallies as investors cheer {product} momentum",
)
NEGATIVE = (
    "{name} misses revenue expectations as {product} sales slow",
    "Regulators open an inquiry into {name}'s {product} business",
    "{name} trims outlook amid softer {product} demand",
    "Analysts downgrade {ticker} on valuation concerns",
    "{name} flags supply-chain disruption affecting {product}",
    "Senior executive departs {name} unexpectedly",
    "{ticker} slides after a competitor undercuts {product} pricing",
)
NEUTRAL = (
    "{name} to present at an industry technology conference",
    "{name} schedules its next earnings call",
    "{ticker} trades in line with the market as investors await data",
    "{name} files its quarterly report with the SEC",
    "{name} names a new board member",
    "What to watch in {name}'s {product} roadmap this quarter",
)


def sentiment_of(recent: float, info: float, noise: float) -> float:
    """Squash the headline's drivers into a score in [-1, 1] (rounded to 3 decimals)."""
    return round(math.tanh(GAIN * (W_RECENT * recent + W_INFO * info + W_NOISE * noise)), 3)


class NewsBook:
    """The headlines of one ticker, generated per chunk on first use."""

    def __init__(self, series: TickerSeries) -> None:
        self.series = series
        self._chunks: dict[int, list[NewsItem]] = {}
        self._dates: dict[int, list[dt.date]] = {}  # each chunk's item dates (ascending), for bisection

    def chunk(self, k: int) -> list[NewsItem]:
        if k not in self._chunks:
            self._chunks[k] = items = self._generate(k)
            self._dates[k] = [item.date for item in items]
        return self._chunks[k]

    def _generate(self, k: int) -> list[NewsItem]:
        s, p = self.series, self.series.profile
        rng = np.random.default_rng([s.seed, s.key, 4, k])
        picks = rng.random((CHUNK, MAX_ITEMS)).tolist()
        fields = {"name": p.name, "ticker": p.ticker, "product": PRODUCTS.get(p.ticker, "core product")}
        counts, info, recent = s.news_count[k].tolist(), s.info[k].tolist(), s.recent[k].tolist()
        noise = s.item_noise[k].tolist()
        items = []
        for i, day in enumerate(s.dates[k * CHUNK:(k + 1) * CHUNK]):
            for j in range(counts[i]):
                score = sentiment_of(recent[i], info[i], noise[i][j])
                pool = POSITIVE if score > 0.25 else NEGATIVE if score < -0.25 else NEUTRAL
                items.append(NewsItem(
                    ticker=p.ticker, date=day, sentiment=score,
                    headline=pool[int(picks[i][j] * len(pool))].format(**fields),
                    source="synthetic", id=f"syn-{p.ticker}-{day:%Y%m%d}-{j}",
                ))
        return items

    def between(self, start: dt.date, end: dt.date) -> list[NewsItem]:
        """Headlines dated in [start, end], oldest first (series must cover ``end``)."""
        s = self.series
        if end < start or not s.dates or start > s.dates[-1]:
            return []
        lo, hi = bisect_left(s.dates, start), bisect_right(s.dates, end)
        if hi <= lo:
            return []
        out = []
        for k in range(lo // CHUNK, (hi - 1) // CHUNK + 1):
            items, dates = self.chunk(k), self._dates[k]  # a chunk's items are in date order
            out.extend(items[bisect_left(dates, start):bisect_right(dates, end)])
        return out
