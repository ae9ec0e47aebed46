"""What every market data provider offers the pipeline.

A provider answers by date and never looks ahead: ``bars(ticker, until)``
returns history up to and including ``until``. Prices are per share in USD.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable


class MarketDataError(ValueError):
    """Bad market input (unknown ticker, bad CSV row, no data for a date)."""


@dataclass(frozen=True, slots=True)
class Bar:
    """One daily OHLCV bar; ``ret`` is the close-to-close return as a fraction."""

    date: dt.date
    open: float
    high: float
    low: float
    close: float
    volume: float
    ret: float


@dataclass(frozen=True, slots=True)
class Fundamentals:
    """Trailing-twelve-month fundamentals as known on ``as_of``."""

    ticker: str
    as_of: dt.date
    revenue: float            # USD
    revenue_growth: float     # year over year, fraction
    gross_margin: float       # fraction
    operating_margin: float   # fraction
    net_income: float         # USD
    free_cash_flow: float     # USD
    shares_outstanding: float
    pe_ratio: float
    debt_to_equity: float


@dataclass(frozen=True, slots=True)
class NewsItem:
    """A dated headline with a sentiment score in [-1, 1]."""

    ticker: str
    date: dt.date
    headline: str
    sentiment: float
    source: str = "synthetic"
    id: str = ""


@dataclass(frozen=True, slots=True)
class Tick:
    """An intraday price (mock and live modes)."""

    ticker: str
    time: dt.datetime
    price: float
    open: float
    prev_close: float


@runtime_checkable
class MarketData(Protocol):
    """The daily data the pipeline reads."""

    tickers: list[str]

    def trading_days(self, start: dt.date, end: dt.date) -> list[dt.date]:
        """Trading days in [start, end], ascending."""

    def bars(self, ticker: str, until: dt.date, lookback: int = 252) -> list[Bar]:
        """Up to ``lookback`` bars ending at ``until`` (inclusive), oldest first."""

    def bar(self, ticker: str, date: dt.date) -> Bar:
        """The bar of one trading day; MarketDataError if there is none."""

    def fundamentals(self, ticker: str, as_of: dt.date) -> Fundamentals | None:
        """Latest fundamentals published on or before ``as_of`` (None if unknown)."""

    def news(self, ticker: str, start: dt.date, end: dt.date) -> list[NewsItem]:
        """Headlines dated in [start, end], oldest first."""


@dataclass
class MarketSnapshot:
    """Everything the analysts see for one day, gathered once per day."""

    date: dt.date
    bars: dict[str, list[Bar]] = field(default_factory=dict)
    fundamentals: dict[str, Fundamentals | None] = field(default_factory=dict)
    news: dict[str, list[NewsItem]] = field(default_factory=dict)
