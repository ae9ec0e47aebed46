"""SyntheticMarket prices: determinism, OHLC sanity, no look-ahead, correlation."""

import datetime as dt
import random

import numpy as np
import pytest

from backend.market import calendar
from backend.market.base import Bar, MarketData, MarketDataError
from backend.market.synthetic import SyntheticMarket
from backend.market.synthetic_prices import ORIGIN, MarketFactor

D = dt.date
TEN_YEARS = D(2025, 1, 2)


@pytest.fixture(scope="module")
def market():
    m = SyntheticMarket(seed=7)
    for t in m.tickers:
        m.bars(t, D(2025, 12, 31))
    return m


def test_implements_protocol(market):
    assert isinstance(market, MarketData)
    assert market.tickers == ["AAPL", "MSFT", "GOOGL", "NVDA", "TSLA", "META"]


def test_same_seed_gives_identical_bars():
    a, b = SyntheticMarket(seed=11), SyntheticMarket(seed=11)
    for t in a.tickers:
        assert a.bars(t, D(2025, 6, 30), 3000) == b.bars(t, D(2025, 6, 30), 3000)


def test_bars_do_not_depend_on_other_tickers_or_requested_range():
    alone = SyntheticMarket(seed=7, tickers=["AAPL"])
    reference = alone.bars("AAPL", D(2025, 6, 30), 5000)
    crowd = SyntheticMarket(seed=7, tickers=["ZZZ", "TSLA", "AAPL", "MSFT"])
    crowd.bars("ZZZ", D(2031, 3, 3))        # extends the shared calendar and factor far ahead first
    crowd.bars("TSLA", D(2020, 1, 2))
    far = crowd.bars("AAPL", D(2030, 12, 31), 10_000)
    assert [b for b in far if b.date <= D(2025, 6, 30)] == reference
    # and asking for a short window later gives the same bars again
    assert crowd.bars("AAPL", D(2025, 6, 30), 20) == reference[-20:]
    # an instance grown step by step matches one built in one go
    stepwise = SyntheticMarket(seed=7, tickers=["AAPL"])
    for year in range(2015, 2031):
        stepwise.bars("AAPL", D(year, 12, 31), 1)
    assert stepwise.bars("AAPL", D(2030, 12, 31), 10_000) == far


def test_different_seeds_differ():
    a, b = SyntheticMarket(seed=7), SyntheticMarket(seed=8)
    closes_a = [x.close for x in a.bars("AAPL", D(2024, 12, 31), 500)]
    closes_b = [x.close for x in b.bars("AAPL", D(2024, 12, 31), 500)]
    assert closes_a != closes_b


def test_any_uppercase_symbol_works_and_bad_symbols_are_refused():
    m = SyntheticMarket(seed=3, tickers=[f"T{i}X" for i in range(10)])
    for t in m.tickers:
        assert len(m.bars(t, D(2025, 1, 2), 252)) == 252
        assert m.company_name(t).endswith(f"({t})")
    assert SyntheticMarket(seed=3).bars("QQQQ", D(2024, 1, 2)) == m.bars("QQQQ", D(2024, 1, 2))
    with pytest.raises(MarketDataError, match="invalid ticker symbol 'aapl'"):
        m.bars("aapl", D(2024, 1, 2))
    with pytest.raises(MarketDataError, match="invalid ticker symbol"):
        SyntheticMarket(tickers=["AAPL", "bad one"])


def test_ohlc_is_consistent(market):
    for t in market.tickers:
        bars = market.bars(t, D(2025, 12, 31), 10_000)
        assert bars[0].date == ORIGIN and bars[0].ret == 0.0
        for prev, bar in zip(bars, bars[1:]):
            assert 0 < bar.low <= min(bar.open, bar.close) <= max(bar.open, bar.close) <= bar.high, bar
            assert bar.volume > 0
            assert bar.ret == pytest.approx(bar.close / prev.close - 1.0, abs=1e-12)
            assert bar.date > prev.date


def test_bars_never_look_ahead(market):
    rng = random.Random(5)
    for _ in range(200):
        until = ORIGIN + dt.timedelta(days=rng.randrange(0, 4000))
        lookback = rng.choice([1, 5, 60, 252])
        bars = market.bars("NVDA", until, lookback)
        assert 1 <= len(bars) <= lookback
        assert bars[-1].date == (until if calendar.is_trading_day(until) else calendar.previous_trading_day(until))
        assert all(b.date <= until for b in bars)
        assert [b.date for b in bars] == calendar.trading_days(bars[0].date, bars[-1].date)


def test_bar_and_price_on(market):
    friday = market.bar("AAPL", D(2025, 1, 3))
    assert isinstance(friday, Bar) and friday.date == D(2025, 1, 3)
    assert market.price_on("AAPL", D(2025, 1, 5)) == friday.close       # Sunday -> Friday's close
    with pytest.raises(MarketDataError, match=r"no AAPL bar on 2025-01-04 \(not a trading day\)"):
        market.bar("AAPL", D(2025, 1, 4))
    with pytest.raises(MarketDataError, match="before the synthetic origin 2015-01-02"):
        market.bar("AAPL", D(2014, 12, 31))
    assert market.bars("AAPL", D(2014, 12, 31)) == []


def test_known_tickers_have_realistic_prices_and_names(market):
    anchors = {"AAPL": 243.0, "MSFT": 418.0, "GOOGL": 190.0, "NVDA": 138.0, "TSLA": 400.0, "META": 600.0}
    for t, price in anchors.items():
        assert market.price_on(t, TEN_YEARS) == price
    assert market.company_name("NVDA") == "NVIDIA Corporation"


def test_trading_days_follow_the_calendar(market):
    assert market.trading_days(D(2025, 1, 1), D(2025, 12, 31)) == calendar.trading_days(D(2025, 1, 1), D(2025, 12, 31))
    assert market.trading_days(D(2014, 12, 1), D(2015, 1, 6)) == [D(2015, 1, 2), D(2015, 1, 5), D(2015, 1, 6)]


def test_returns_are_positively_correlated_with_plausible_volatility(market):
    rets = np.array([[b.ret for b in market.bars(t, TEN_YEARS, 10_000)[1:]] for t in market.tickers])
    corr = np.corrcoef(rets)
    pairs = corr[np.triu_indices(len(corr), k=1)]
    assert pairs.mean() > 0.25
    assert (pairs > 0).all()
    vols = rets.std(axis=1) * np.sqrt(252)
    assert ((vols > 0.18) & (vols < 0.65)).all(), vols


def test_market_factor_visits_every_regime():
    factor = MarketFactor(seed=7)
    factor.ensure(10)
    visited = np.bincount(np.concatenate(factor.regimes), minlength=3)
    assert (visited > 50).all(), visited
    sigmas = np.concatenate(factor.sigma)
    regimes = np.concatenate(factor.regimes)
    assert sigmas[regimes == 2].min() > sigmas[regimes == 0].max()  # the high-vol regime is rougher
