"""Every market answer is a pure function of (seed, ticker, date), whatever was asked before.

For each provider, hypothesis draws a batch of queries over every public
method (bars, bar, price_on, fundamentals, news, trading_days, ...) and asks
them in a drawn order -- on a fresh instance and on one long-lived instance
that has answered every earlier example -- and the answers must equal those
of a fresh instance asked in date order. The dates lean on the places where
a lazily built market can go wrong: quarter ends, each ticker's publication
days and the days around them, the generator's chunk boundaries, holidays,
weekends, the origin and far horizons.
"""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path
from typing import Any, Callable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from backend.market import calendar
from backend.market.base import MarketDataError
from backend.market.csv_market import CsvMarket, write_bars
from backend.market.synthetic import SyntheticMarket
from backend.market.synthetic_fundamentals import _quarter_ends
from backend.market.synthetic_prices import CHUNK, ORIGIN, TradingIndex
from backend.market.synthetic_profiles import ticker_key
from backend.paths import SAMPLE_DATA_DIR

D = dt.date
SYN_TICKERS = ["TSLA", "AAPL", "NVDA", "ZZZZ", "BRK.B"]
SYN_SEEDS = [0, 7, 2024]
SAMPLE_TICKERS = ["AAPL", "MSFT", "NVDA"]
Query = tuple[Any, ...]


def _interesting_dates() -> list[dt.date]:
    out = {ORIGIN, ORIGIN - dt.timedelta(days=1), D(2014, 12, 31), D(2099, 6, 30), D(2100, 12, 31)}
    for end in _quarter_ends(D(2027, 1, 1)):
        if end.year >= 2023:
            out.update({end, calendar.next_trading_day(end), end - dt.timedelta(days=1)})
    for ticker in SYN_TICKERS:           # publication lags are 25..39 days per ticker
        lag = 25 + ticker_key(ticker) % 15
        for end in _quarter_ends(D(2026, 12, 31)):
            if end.year >= 2024:
                pub = end + dt.timedelta(days=lag)
                out.update(pub + dt.timedelta(days=k) for k in (-2, -1, 0, 1, 2, 3))
    index = TradingIndex()
    index.chunks_through(D(2027, 6, 30))
    for k in range(1, len(index.days) // CHUNK):
        first = index.days[k * CHUNK]
        out.update({first, index.days[k * CHUNK - 1], first + dt.timedelta(days=1)})
    out.update({D(2025, 1, 9), D(2025, 4, 18), D(2025, 7, 4), D(2025, 1, 4), D(2025, 12, 25)})
    return sorted(out)


INTERESTING = _interesting_dates()


def dates_between(lo: dt.date, hi: dt.date) -> st.SearchStrategy[dt.date]:
    picks = [d for d in INTERESTING if lo <= d <= hi]
    return st.one_of(st.sampled_from(picks), st.dates(lo, hi)) if picks else st.dates(lo, hi)


def queries(tickers: list[str], lo: dt.date, hi: dt.date) -> st.SearchStrategy[Query]:
    ticker, day = st.sampled_from(tickers), dates_between(lo, hi)
    span = st.integers(min_value=0, max_value=45).map(lambda n: dt.timedelta(days=n))
    return st.one_of(
        st.tuples(st.just("bars"), ticker, day, st.sampled_from([0, 1, 5, 61, 252, 400])),
        st.tuples(st.just("bar"), ticker, day),
        st.tuples(st.just("price_on"), ticker, day),
        st.tuples(st.just("fundamentals"), ticker, day),
        st.tuples(st.just("news"), ticker, day, span),
        st.tuples(st.just("trading_days"), day, span),
        st.tuples(st.just("has_ticker"), ticker),
    )


def ask(market: Any, query: Query) -> Any:
    """One query's answer; a MarketDataError is an answer too (its message)."""
    name, *args = query
    try:
        if name == "news":
            ticker, start, span = args
            return market.news(ticker, start, start + span)
        if name == "trading_days":
            start, span = args
            return market.trading_days(start, start + span)
        return getattr(market, name)(*args)
    except MarketDataError as err:
        return ("MarketDataError", str(err))


def when(query: Query) -> dt.date:
    """The latest date a query looks at (date order sorts by it)."""
    dates = [a for a in query if isinstance(a, dt.date)]
    spans = [a for a in query if isinstance(a, dt.timedelta)]
    return (dates[0] + sum(spans, dt.timedelta())) if dates else dt.date.min


def check_pure(make: Callable[[], Any], reused: Any, batch: list[Query], order: list[int]) -> None:
    in_date_order = sorted(range(len(batch)), key=lambda i: (when(batch[i]), i))
    reference_market = make()
    expected = {i: ask(reference_market, batch[i]) for i in in_date_order}
    fresh = make()
    shuffled = {i: ask(fresh, batch[i]) for i in order}
    again = {i: ask(reused, batch[i]) for i in order}
    for i in range(len(batch)):
        assert shuffled[i] == expected[i], f"fresh instance, drawn order: {batch[i]}"
        assert again[i] == expected[i], f"reused instance: {batch[i]}"


def batch_and_order(tickers: list[str], lo: dt.date, hi: dt.date):
    return st.lists(queries(tickers, lo, hi), min_size=1, max_size=14).flatmap(
        lambda batch: st.tuples(st.just(batch), st.permutations(range(len(batch)))))


# -- the synthetic market --------------------------------------------------------
REUSED_SYNTHETIC = {seed: SyntheticMarket(seed) for seed in SYN_SEEDS}


@settings(max_examples=60, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.sampled_from(SYN_SEEDS), drawn=batch_and_order(SYN_TICKERS, D(2014, 10, 1), D(2027, 6, 30)))
def test_synthetic_answers_do_not_depend_on_what_was_asked_before(seed, drawn):
    batch, order = drawn
    check_pure(lambda: SyntheticMarket(seed), REUSED_SYNTHETIC[seed], batch, order)


@settings(max_examples=6, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(drawn=batch_and_order(["TSLA", "ZZZZ"], D(2098, 1, 1), D(2101, 2, 1)))
def test_synthetic_answers_are_pure_at_the_far_horizon(drawn):
    batch, order = drawn
    check_pure(lambda: SyntheticMarket(7), REUSED_SYNTHETIC[7], batch, order)


def test_a_report_published_later_appears_whatever_was_asked_first():
    # The reproduction of issue 10, defect 1: a book first built in February
    # must still gain the Q1 reports published in April and May.
    early, far = SyntheticMarket(7), SyntheticMarket(7)
    early.fundamentals("TSLA", D(2025, 2, 3))
    far.fundamentals("TSLA", D(2026, 12, 31))
    for day in calendar.trading_days(D(2025, 3, 25), D(2025, 5, 30)):
        assert early.fundamentals("TSLA", day) == far.fundamentals("TSLA", day), day
    assert early.fundamentals("TSLA", D(2025, 5, 30)).revenue != early.fundamentals("TSLA", D(2025, 3, 31)).revenue


# -- the CSV market ----------------------------------------------------------------
@pytest.fixture(scope="module")
def generated_csv_dir(tmp_path_factory) -> Path:
    """A larger CSV market (two years, gaps, a news.csv) written from the synthetic one."""
    folder = tmp_path_factory.mktemp("csv_market")
    source = SyntheticMarket(11)
    for i, ticker in enumerate(["AAPL", "TSLA", "ZZZZ"]):
        bars = [b for b in source.bars(ticker, D(2025, 12, 31), 600) if b.date >= D(2024, 1, 2)]
        if i == 2:                       # a ticker with missing days: trading_days intersects
            bars = [b for j, b in enumerate(bars) if j % 17 != 5]
            bars = [b.__class__(b.date, b.open, b.high, b.low, b.close, b.volume,
                                b.close / prev.close - 1.0) for prev, b in zip(bars, bars[1:])]
        write_bars(folder / f"{ticker}.csv", bars)
    with open(folder / "news.csv", "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["date", "ticker", "headline", "sentiment", "source", "id"])
        for ticker in ["TSLA", "AAPL"]:  # not in date order: the loader sorts
            for item in source.news(ticker, D(2024, 1, 2), D(2025, 12, 31)):
                writer.writerow([item.date, ticker, item.headline, repr(item.sentiment), "synthetic", item.id])
    return folder


REUSED_CSV: dict[str, CsvMarket] = {}


@settings(max_examples=30, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(drawn=batch_and_order(SAMPLE_TICKERS + ["GOOGL"], D(2024, 12, 1), D(2025, 5, 15)))
def test_csv_sample_answers_do_not_depend_on_what_was_asked_before(drawn):
    batch, order = drawn
    folder = SAMPLE_DATA_DIR / "ret_data"
    reused = REUSED_CSV.setdefault("sample", CsvMarket(folder, SAMPLE_TICKERS))
    check_pure(lambda: CsvMarket(folder, SAMPLE_TICKERS), reused, batch, order)


@settings(max_examples=30, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(drawn=batch_and_order(["AAPL", "TSLA", "ZZZZ"], D(2023, 12, 1), D(2026, 2, 1)))
def test_generated_csv_answers_do_not_depend_on_what_was_asked_before(generated_csv_dir, drawn):
    batch, order = drawn
    tickers = ["AAPL", "TSLA", "ZZZZ"]
    reused = REUSED_CSV.setdefault(str(generated_csv_dir), CsvMarket(generated_csv_dir, tickers))
    check_pure(lambda: CsvMarket(generated_csv_dir, tickers), reused, batch, order)


def test_the_generated_csv_market_has_news_and_gaps(generated_csv_dir):
    # Guards the test above against a fixture that answers nothing interesting.
    market = CsvMarket(generated_csv_dir, ["AAPL", "TSLA", "ZZZZ"])
    assert len(market.news("AAPL", D(2024, 1, 1), D(2024, 3, 1))) > 10
    full = calendar.trading_days(D(2024, 1, 2), D(2025, 12, 31))
    assert 0 < len(full) - len(market.trading_days(D(2024, 1, 1), D(2025, 12, 31))) < len(full) // 10
