"""make_market: the market data provider a run's BOOTSTRAP.md asks for.

- ``synthetic``: ``SyntheticMarket(config.market.seed, config.tickers, config.market.profile)``.
- ``csv``: ``CsvMarket`` over ``config.market.csv_dir`` (relative paths are
  taken from the project root); every ticker's file is loaded and validated.
- ``live``: needs ``FINNHUB_API_KEY``. History (bars, fundamentals, news for
  the analysts) still comes from the synthetic market -- there is no live
  daily-history source yet -- and ``LiveMarket.quotes`` polls real intraday
  prices for the price ticker.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING, Any

from backend.market.base import Bar, Fundamentals, MarketData, MarketDataError, NewsItem
from backend.market.csv_market import CsvMarket
from backend.market.synthetic import SyntheticMarket
from backend.paths import PROJECT_ROOT
from backend.schema.bootstrap import BootstrapConfig

if TYPE_CHECKING:  # httpx is imported only when live mode is chosen
    from backend.config import Settings
    from backend.market.live_quotes import LiveQuotes


class LiveMarket:
    """Daily history from a synthetic market plus live quotes for the same tickers.

    Args:
        history: answers every ``MarketData`` call.
        quotes: polls current prices (``await market.quotes.poll()``).
    """

    def __init__(self, history: SyntheticMarket, quotes: "LiveQuotes") -> None:
        self.history = history
        self.quotes = quotes
        self.tickers = history.tickers
        # The day's bar built from live quotes: ticker -> (date, open, high, low, last, prev_close).
        self._live: dict[str, tuple[dt.date, float, float, float, float, float]] = {}

    def record(self, ticks: dict[str, Any], day: dt.date) -> None:
        """Fold polled quotes into today's live bars (the pipeline executes and settles on them)."""
        for ticker, tick in ticks.items():
            seen = self._live.get(ticker)
            high = max(tick.price, seen[2]) if seen and seen[0] == day else tick.price
            low = min(tick.price, seen[3]) if seen and seen[0] == day else tick.price
            self._live[ticker] = (day, tick.open or tick.price, high, low, tick.price, tick.prev_close)

    def has_ticker(self, ticker: str) -> bool:
        return self.history.has_ticker(ticker)

    def trading_days(self, start: dt.date, end: dt.date) -> list[dt.date]:
        return self.history.trading_days(start, end)

    def bars(self, ticker: str, until: dt.date, lookback: int = 252) -> list[Bar]:
        return self.history.bars(ticker, until, lookback)

    def bar(self, ticker: str, date: dt.date) -> Bar:
        live = self._live.get(ticker)
        if live is not None and live[0] == date:
            _, open_, high, low, last, prev = live
            return Bar(date=date, open=open_, high=max(high, open_), low=min(low, open_), close=last, volume=0.0,
                       ret=(last / prev - 1.0) if prev else 0.0)
        return self.history.bar(ticker, date)

    def price_on(self, ticker: str, date: dt.date) -> float:
        return self.history.price_on(ticker, date)

    def fundamentals(self, ticker: str, as_of: dt.date) -> Fundamentals | None:
        return self.history.fundamentals(ticker, as_of)

    def news(self, ticker: str, start: dt.date, end: dt.date) -> list[NewsItem]:
        return self.history.news(ticker, start, end)


def resolve_csv_dir(csv_dir: str | None) -> Path:
    """``csv_dir`` as an absolute path (relative ones start at the project root)."""
    if not csv_dir:
        raise MarketDataError("market.kind csv needs market.csv_dir (a directory of <TICKER>.csv files)")
    path = Path(csv_dir).expanduser()
    return path if path.is_absolute() else PROJECT_ROOT / path


def make_market(config: BootstrapConfig, settings: Settings | None = None) -> MarketData:
    """Build the provider named by ``config.market.kind``; MarketDataError names what is wrong."""
    # Live mode always trades on live quotes (history from the synthetic market).
    kind = "live" if config.mode == "live" else config.market.kind
    if kind == "synthetic":
        market: Any = SyntheticMarket(seed=config.market.seed, tickers=list(config.tickers),
                                      profile=config.market.profile)
    elif kind == "csv":
        # CsvMarket loads every ticker up front and names the first missing one.
        market = CsvMarket(resolve_csv_dir(config.market.csv_dir), list(config.tickers))
    elif kind == "live":
        if settings is None:
            from backend.config import get_settings
            settings = get_settings()
        from backend.market.live_quotes import LiveQuotes, require_live_config

        key = require_live_config(settings)
        base_url = getattr(settings, "finnhub_base_url", None) or "https://finnhub.io/api/v1"
        market = LiveMarket(SyntheticMarket(seed=config.market.seed, tickers=list(config.tickers)),
                            LiveQuotes(key, list(config.tickers), base_url=base_url))
    else:  # pragma: no cover - the schema's Literal rules this out
        raise MarketDataError(f"unknown market kind {kind!r}: expected synthetic, csv or live")
    for ticker in config.tickers:
        if not market.has_ticker(ticker):
            raise MarketDataError(f"unknown ticker {ticker}: the {kind} market has no data for it")
    return market
