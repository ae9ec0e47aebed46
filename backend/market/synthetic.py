"""SyntheticMarket: the embedded, deterministic default market.

Prices follow a one-factor geometric Brownian motion (a regime-switching
market factor seeded by ``seed`` alone, plus per-ticker idiosyncratic noise
seeded by ``seed`` and crc32 of the symbol) on the NYSE calendar from
2015-01-02. Each path is scaled to pass through a realistic close on
2025-01-02 for the known tickers (AAPL, MSFT, GOOGL, NVDA, TSLA, META, AMZN);
any other uppercase symbol gets plausible parameters of its own. The
``regimes`` profile adds a slow style regime deciding which signals pay
(``synthetic_regimes``); the default profile is the market as it always was. Quarterly
fundamentals and dated headlines come with it (see ``synthetic_fundamentals``
and ``synthetic_news``).
"""

from __future__ import annotations

import bisect
import datetime as dt
import re

from backend.market import calendar
from backend.market.base import Bar, Fundamentals, MarketDataError, NewsItem
from backend.market.synthetic_fundamentals import FundamentalsBook
from backend.market.synthetic_news import NewsBook
from backend.market.synthetic_prices import (
    CHUNK, MAX_DATE, ORIGIN, MarketFactor, TickerSeries, TradingIndex,
)
from backend.market.synthetic_profiles import profile_for
from backend.market.synthetic_regimes import StyleRegimes

PROFILES = ("default", "regimes")
DEFAULT_TICKERS = ["AAPL", "MSFT", "GOOGL", "NVDA", "TSLA", "META"]
SYMBOL_RE = re.compile(r"^[A-Z][A-Z0-9.\-]{0,9}$")


class SyntheticMarket:
    """A deterministic synthetic market implementing ``MarketData``.

    The bar of ticker T on date D depends only on (seed, T, D): not on the
    other tickers, nor on the dates asked for. Series are generated lazily one
    year-sized chunk at a time and cached; ``bars`` slices a prebuilt list.

    Args:
        seed: the market seed; the same seed always gives the same market.
        tickers: the universe (default AAPL, MSFT, GOOGL, NVDA, TSLA, META).
            Any symbol matching ``[A-Z][A-Z0-9.-]{0,9}`` can be queried.
    """

    origin = ORIGIN

    def __init__(self, seed: int = 7, tickers: list[str] | None = None, profile: str | None = None) -> None:
        self.seed = int(seed)
        self.profile = profile or "default"
        if self.profile not in PROFILES:
            raise MarketDataError(f"unknown synthetic market profile {profile!r}: expected one of "
                                  + ", ".join(PROFILES))
        self.tickers = list(tickers) if tickers is not None else list(DEFAULT_TICKERS)
        for t in self.tickers:
            self._check_symbol(t)
        self._index = TradingIndex()
        self._factor = MarketFactor(self.seed)
        self._style = StyleRegimes(self.seed, CHUNK) if self.profile == "regimes" else None
        self._series: dict[str, TickerSeries] = {}
        self._fundamentals: dict[str, FundamentalsBook] = {}
        self._news: dict[str, NewsBook] = {}

    # -- helpers -----------------------------------------------------------
    @staticmethod
    def _check_symbol(ticker: str) -> None:
        if not isinstance(ticker, str) or not SYMBOL_RE.match(ticker):
            raise MarketDataError(f"invalid ticker symbol {ticker!r}: expected uppercase like AAPL")

    def has_ticker(self, ticker: str) -> bool:
        """Every well-formed symbol exists in the synthetic market."""
        return isinstance(ticker, str) and bool(SYMBOL_RE.match(ticker))

    def _get(self, ticker: str, through: dt.date) -> TickerSeries:
        series = self._series.get(ticker)
        if series is None:
            self._check_symbol(ticker)
            series = TickerSeries(profile_for(ticker, self.seed), self.seed, self._factor, self._index,
                                  self._style)
            self._series[ticker] = series
        series.ensure(min(through, MAX_DATE))
        return series

    def company_name(self, ticker: str) -> str:
        """The company's display name (made up for unknown symbols)."""
        self._check_symbol(ticker)
        return profile_for(ticker, self.seed).name

    def style_on(self, date: dt.date) -> str | None:
        """The ``regimes`` profile's style on a trading day (None in the default profile)."""
        if self._style is None:
            return None
        self._index.chunks_through(date)
        at = bisect.bisect_right(self._index.days, date) - 1
        if at < 0 or self._index.days[at] != date:
            raise MarketDataError(f"no style on {date.isoformat()}: not a trading day of the synthetic market")
        return self._style.style_on(at // CHUNK, at % CHUNK)

    # -- MarketData ---------------------------------------------------------
    def trading_days(self, start: dt.date, end: dt.date) -> list[dt.date]:
        """NYSE trading days in [start, end] on which the market has bars."""
        return calendar.trading_days(max(start, ORIGIN), min(end, MAX_DATE))

    def bars(self, ticker: str, until: dt.date, lookback: int = 252) -> list[Bar]:
        """Up to ``lookback`` bars dated on or before ``until``, oldest first."""
        series = self._get(ticker, until)
        end = series.upto(until)
        return series.bars[max(end - max(lookback, 0), 0):end]

    def bar(self, ticker: str, date: dt.date) -> Bar:
        """The bar of one trading day; MarketDataError on holidays, weekends, before the origin."""
        series = self._get(ticker, date)
        end = series.upto(date)
        if end == 0 or series.dates[end - 1] != date:
            why = "before the synthetic origin " + ORIGIN.isoformat() if date < ORIGIN else "not a trading day"
            raise MarketDataError(f"no {ticker} bar on {date.isoformat()} ({why})")
        return series.bars[end - 1]

    def price_on(self, ticker: str, date: dt.date) -> float:
        """Close on ``date``, or on the last trading day before it."""
        return self._close_on(ticker, self._get(ticker, date), date)

    @staticmethod
    def _close_on(ticker: str, series: TickerSeries, date: dt.date) -> float:
        end = series.upto(date)
        if end == 0:
            raise MarketDataError(f"no {ticker} price on {date.isoformat()} (before {ORIGIN.isoformat()})")
        return series.closes[end - 1]  # the close of bars[end - 1] (one list makes both)

    def fundamentals(self, ticker: str, as_of: dt.date) -> Fundamentals | None:
        """TTM fundamentals of the latest quarter published by ``as_of``; P/E at that day's close."""
        series = self._get(ticker, as_of)
        if as_of < ORIGIN:
            return None
        book = self._fundamentals.get(ticker)
        if book is None:
            book = self._fundamentals[ticker] = FundamentalsBook(series)
        return book.fundamentals(ticker, as_of, self._close_on(ticker, series, as_of))

    def news(self, ticker: str, start: dt.date, end: dt.date) -> list[NewsItem]:
        """Synthetic headlines dated in [start, end], oldest first."""
        series = self._get(ticker, end)
        book = self._news.get(ticker)
        if book is None:
            book = self._news[ticker] = NewsBook(series)
        return book.between(start, min(end, MAX_DATE))
