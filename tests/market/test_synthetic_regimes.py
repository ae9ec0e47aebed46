"""The synthetic market's ``regimes`` profile: pure, distinct, and its styles do what they say.

Purity is the same property as tests/market/test_market_purity.py's, over the
regimes profile: answers drawn in any order, from fresh and long-lived
instances, equal those of a fresh instance asked in date order.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from backend.market.base import MarketDataError
from backend.market.factory import make_market
from backend.market.synthetic import SyntheticMarket
from backend.market.synthetic_regimes import AR_WINDOW, STYLES
from backend.schema.bootstrap import BootstrapConfig
from tests.market.test_market_purity import SYN_SEEDS, SYN_TICKERS, batch_and_order, check_pure

D = dt.date
REUSED = {seed: SyntheticMarket(seed, profile="regimes") for seed in SYN_SEEDS}


@settings(max_examples=40, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.sampled_from(SYN_SEEDS), drawn=batch_and_order(SYN_TICKERS, D(2014, 10, 1), D(2027, 6, 30)))
def test_regimes_answers_do_not_depend_on_what_was_asked_before(seed, drawn):
    batch, order = drawn
    check_pure(lambda: SyntheticMarket(seed, profile="regimes"), REUSED[seed], batch, order)


@settings(max_examples=25, deadline=None, database=None)
@given(seed=st.sampled_from(SYN_SEEDS), day=st.dates(D(2015, 1, 2), D(2027, 6, 30)))
def test_the_style_of_a_day_does_not_depend_on_what_was_asked_before(seed, day):
    fresh, reused = SyntheticMarket(seed, profile="regimes"), REUSED[seed]
    try:
        expected = fresh.style_on(day)
    except MarketDataError:
        with pytest.raises(MarketDataError, match="not a trading day"):
            reused.style_on(day)
        return
    assert expected in STYLES and reused.style_on(day) == expected


def test_the_default_profile_is_the_market_as_it_was():
    # Absent, "default" and the factory's default config are one market; the
    # regimes profile is another one over the same calendar.
    day = D(2025, 3, 14)
    plain, named = SyntheticMarket(7), SyntheticMarket(7, profile="default")
    built = make_market(BootstrapConfig())
    assert plain.bar("NVDA", day) == named.bar("NVDA", day) == built.bar("NVDA", day)
    assert plain.style_on(day) is None
    regimes = make_market(BootstrapConfig.model_validate({"market": {"profile": "regimes"}}))
    assert regimes.bar("NVDA", day) != plain.bar("NVDA", day)
    assert regimes.trading_days(D(2025, 1, 1), D(2025, 12, 31)) == plain.trading_days(D(2025, 1, 1), D(2025, 12, 31))


def test_an_unknown_profile_is_refused_by_name():
    with pytest.raises(MarketDataError, match="unknown synthetic market profile 'wavy'"):
        SyntheticMarket(7, profile="wavy")
    with pytest.raises(ValueError, match="profile"):
        BootstrapConfig.model_validate({"market": {"profile": "wavy"}})


def test_styles_switch_and_each_one_lasts_weeks():
    market = SyntheticMarket(7, profile="regimes")
    days = market.trading_days(D(2015, 1, 2), D(2024, 12, 31))
    styles = [market.style_on(d) for d in days]
    assert set(styles) == set(STYLES)
    spells = 1 + sum(a != b for a, b in zip(styles, styles[1:]))
    assert 20 <= len(days) / spells <= 200   # a mean spell of about 67 trading days


def _past_and_next(market: SyntheticMarket, tickers: list[str], days: list[dt.date]):
    """Per style: (mean return of the last AR_WINDOW days, next day's return) over tickers."""
    out: dict[str, list[tuple[float, float]]] = {s: [] for s in STYLES}
    for ticker in tickers:
        bars = market.bars(ticker, days[-1], len(days) + AR_WINDOW + 1)
        rets = np.array([b.ret for b in bars])
        for i in range(AR_WINDOW + 1, len(bars)):
            out[market.style_on(bars[i].date)].append((rets[i - AR_WINDOW:i].mean(), rets[i]))
    return out


def test_trend_days_continue_and_reversal_days_revert():
    # What a trader of this market would notice: in a trend spell the last
    # two weeks' move carries on, in a reversal spell it turns back.
    market = SyntheticMarket(3, profile="regimes")
    days = market.trading_days(D(2016, 1, 4), D(2024, 12, 31))
    pairs = _past_and_next(market, ["AAPL", "MSFT", "TSLA", "ZZZZ", "QQQA", "QQQB"], days)
    corr = {s: float(np.corrcoef(np.array(p).T)[0, 1]) for s, p in pairs.items() if len(p) > 200}
    assert corr["trend"] > 0.05 and corr["reversal"] < -0.05, corr
    assert corr["trend"] - corr["news"] > 0.05 and corr["news"] - corr["reversal"] > 0.05, corr
