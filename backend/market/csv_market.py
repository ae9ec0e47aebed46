"""CsvMarket: daily bars read from one CSV per ticker (EvoTraders ``ret_data``).

Each ``<TICKER>.csv`` starts with the header ``time,open,high,low,close,volume,ret``
(``time`` is YYYY-MM-DD, ``ret`` the close-to-close return as a fraction; it
may be empty on the first row). Every file is validated completely on load and
the first bad value raises ``MarketDataError`` naming file, line and column.

An optional ``news.csv`` in the same directory (header
``date,ticker,headline,sentiment`` plus optional ``source,id``) supplies
headlines; without it ``news`` answers ``[]``. Fundamentals are not available
from CSV (``None``).
"""

from __future__ import annotations

import csv
import datetime as dt
import math
import os
import re
from bisect import bisect_left, bisect_right
from pathlib import Path

from backend.market.base import Bar, Fundamentals, MarketDataError, NewsItem

HEADER = ["time", "open", "high", "low", "close", "volume", "ret"]
NEWS_HEADER = ["date", "ticker", "headline", "sentiment"]
DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
PRICE_SLACK = 1e-6       # relative rounding slack when checking open/close inside [low, high]


def _number(text: str, where: str, column: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise MarketDataError(f"{where}, column {column}: {text!r} is not a number")
    return value


def _date(text: str, where: str, column: str) -> dt.date:
    stripped = text.strip()
    if DATE_RE.match(stripped):
        try:
            return dt.date.fromisoformat(stripped)
        except ValueError:
            pass                                      # e.g. 2025-02-30
    raise MarketDataError(f"{where}, column {column}: {text!r} is not a date (YYYY-MM-DD)")


def _parse_row(row: list[str], where: str, prev: Bar | None, first_line: dict[dt.date, int]) -> Bar:
    if len(row) != len(HEADER):
        raise MarketDataError(f"{where}: expected {len(HEADER)} columns ({','.join(HEADER)}), got {len(row)}")
    day = _date(row[0], where, "time")
    if day in first_line:
        raise MarketDataError(f"{where}, column time: {day} repeats line {first_line[day]}")
    if prev is not None and day < prev.date:
        raise MarketDataError(f"{where}, column time: {day} is earlier than the previous row's {prev.date}")
    prices = {}
    for column, text in zip(HEADER[1:5], row[1:5]):
        value = _number(text, where, column)
        if value <= 0:
            raise MarketDataError(f"{where}, column {column}: {text.strip()} is not a positive price")
        prices[column] = value
    o, h, l, c = prices["open"], prices["high"], prices["low"], prices["close"]
    if h < l:
        raise MarketDataError(f"{where}, column high: {h:g} is below low {l:g}")
    for column, value in (("open", o), ("close", c)):
        if value < l * (1 - PRICE_SLACK) or value > h * (1 + PRICE_SLACK):
            raise MarketDataError(f"{where}, column {column}: {value:g} is outside [low {l:g}, high {h:g}]")
    volume = _number(row[5], where, "volume")
    if volume < 0:
        raise MarketDataError(f"{where}, column volume: {row[5].strip()} is negative")
    if prev is None and not row[6].strip():
        ret = 0.0
    else:
        ret = _number(row[6], where, "ret")
        if prev is not None:
            # Catches percent-vs-fraction mix-ups and misaligned rows; tolerant of price rounding.
            expected = c / prev.close - 1.0
            if abs(ret - expected) > 0.005 + 0.05 * abs(expected):
                raise MarketDataError(
                    f"{where}, column ret: {ret:g} does not match close-to-close return "
                    f"{expected:.6f} (ret must be a fraction)")
    return Bar(day, o, h, l, c, volume, ret)


def load_bars(path: Path) -> list[Bar]:
    """Read and validate one ticker file; MarketDataError names file, line and column."""
    name = path.name
    try:
        with path.open(newline="", encoding="utf-8-sig") as fh:
            rows = list(csv.reader(fh))
    except OSError as err:
        raise MarketDataError(f"cannot read {path}: {err.strerror or err}") from None
    except UnicodeDecodeError:
        raise MarketDataError(f"{name}: not a UTF-8 text file") from None
    if not rows or [c.strip().lower() for c in rows[0]] != HEADER:
        got = ",".join(rows[0]) if rows else "an empty file"
        raise MarketDataError(f"{name} line 1: header must be {','.join(HEADER)} (got {got})")
    bars: list[Bar] = []
    first_line: dict[dt.date, int] = {}
    for line, row in enumerate(rows[1:], start=2):
        if not row or all(not c.strip() for c in row):
            continue                                  # blank lines are harmless
        bar = _parse_row(row, f"{name} line {line}", bars[-1] if bars else None, first_line)
        first_line[bar.date] = line
        bars.append(bar)
    if not bars:
        raise MarketDataError(f"{name}: no data rows after the header")
    return bars


def write_bars(path: Path, bars: list[Bar]) -> None:
    """Write bars in the ``ret_data`` layout, atomically (temp file, then rename)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    with tmp.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(HEADER)
        for b in bars:
            writer.writerow([b.date.isoformat(), *(repr(round(v, 4)) for v in (b.open, b.high, b.low, b.close)),
                             f"{b.volume:.0f}", repr(round(b.ret, 8))])
    os.replace(tmp, path)


def load_news(path: Path) -> dict[str, list[NewsItem]]:
    """Read an optional ``news.csv``; rows sorted by date per ticker."""
    out: dict[str, list[NewsItem]] = {}
    with path.open(newline="", encoding="utf-8-sig") as fh:
        reader = csv.reader(fh)
        header = [c.strip().lower() for c in next(reader, [])]
        if header[:4] != NEWS_HEADER:
            raise MarketDataError(f"news.csv line 1: header must start with {','.join(NEWS_HEADER)}")
        for line, row in enumerate(reader, start=2):
            if not row or all(not c.strip() for c in row):
                continue
            where = f"news.csv line {line}"
            fields = dict(zip(header, row))
            if len(row) < 4:
                raise MarketDataError(f"{where}: expected at least 4 columns, got {len(row)}")
            score = _number(fields["sentiment"], where, "sentiment")
            if not -1.0 <= score <= 1.0:
                raise MarketDataError(f"{where}, column sentiment: {score:g} is outside [-1, 1]")
            ticker = fields["ticker"].strip().upper()
            day = _date(fields["date"], where, "date")
            out.setdefault(ticker, []).append(NewsItem(
                ticker=ticker, date=day, headline=fields["headline"].strip(), sentiment=score,
                source=fields.get("source", "").strip() or "csv",
                id=fields.get("id", "").strip() or f"csv-{ticker}-{day:%Y%m%d}-{line}"))
    for items in out.values():
        items.sort(key=lambda item: item.date)
    return out


class CsvMarket:
    """Daily bars from ``<csv_dir>/<TICKER>.csv`` files, validated on load.

    Args:
        csv_dir: the directory holding one CSV per ticker (and optionally news.csv).
        tickers: the universe; each must have its file, else MarketDataError.
    """

    def __init__(self, csv_dir: Path, tickers: list[str]) -> None:
        self.csv_dir = Path(csv_dir)
        if not self.csv_dir.is_dir():
            raise MarketDataError(f"CSV market directory {self.csv_dir} does not exist")
        self.tickers = list(tickers)
        self._bars: dict[str, list[Bar]] = {}
        self._dates: dict[str, list[dt.date]] = {}
        for ticker in self.tickers:
            self._load(ticker)
        news_path = self.csv_dir / "news.csv"
        self._news = load_news(news_path) if news_path.is_file() else {}

    def has_ticker(self, ticker: str) -> bool:
        """True when ``<ticker>.csv`` exists in the directory."""
        return ticker in self._bars or (self.csv_dir / f"{ticker}.csv").is_file()

    def _load(self, ticker: str) -> list[Bar]:
        if ticker not in self._bars:
            path = self.csv_dir / f"{ticker}.csv"
            if not path.is_file():
                raise MarketDataError(f"unknown ticker {ticker}: no {ticker}.csv in {self.csv_dir}")
            bars = load_bars(path)
            self._bars[ticker] = bars
            self._dates[ticker] = [b.date for b in bars]
        return self._bars[ticker]

    def trading_days(self, start: dt.date, end: dt.date) -> list[dt.date]:
        """Dates in [start, end] present in every ticker's file, ascending."""
        common: set[dt.date] | None = None
        for ticker in self.tickers:
            dates = self._dates[ticker]
            window = set(dates[bisect_left(dates, start):bisect_right(dates, end)])
            common = window if common is None else common & window
        return sorted(common or ())

    def bars(self, ticker: str, until: dt.date, lookback: int = 252) -> list[Bar]:
        bars = self._load(ticker)
        end = bisect_right(self._dates[ticker], until)
        return bars[max(end - max(lookback, 0), 0):end]

    def bar(self, ticker: str, date: dt.date) -> Bar:
        bars = self._load(ticker)
        i = bisect_left(self._dates[ticker], date)
        if i == len(bars) or bars[i].date != date:
            raise MarketDataError(f"no {ticker} bar on {date.isoformat()} in {ticker}.csv")
        return bars[i]

    def price_on(self, ticker: str, date: dt.date) -> float:
        """Close on ``date``, or on the last date before it in the file."""
        bars = self.bars(ticker, date, 1)
        if not bars:
            raise MarketDataError(f"no {ticker} price on or before {date.isoformat()} in {ticker}.csv")
        return bars[-1].close

    def fundamentals(self, ticker: str, as_of: dt.date) -> Fundamentals | None:
        self._load(ticker)
        return None

    def news(self, ticker: str, start: dt.date, end: dt.date) -> list[NewsItem]:
        self._load(ticker)
        return [n for n in self._news.get(ticker, []) if start <= n.date <= end]
