"""Mock mode: the virtual clock's market status and the intraday price paths."""

import datetime as dt

import pytest

from backend.market.base import MarketDataError
from backend.market.calendar import NEW_YORK as EASTERN
from backend.market.calendar import market_status_at
from backend.market.mock_clock import IntradayTicks, MockClock
from backend.market.synthetic import SyntheticMarket

D = dt.date


def et(*args):
    return dt.datetime(*args, tzinfo=EASTERN)


@pytest.mark.parametrize("when,status,trading", [
    (et(2025, 3, 3, 3, 59), "closed", True),
    (et(2025, 3, 3, 4, 0), "premarket", True),
    (et(2025, 3, 3, 9, 29, 59), "premarket", True),
    (et(2025, 3, 3, 9, 30), "open", True),
    (et(2025, 3, 3, 15, 59, 59), "open", True),
    (et(2025, 3, 3, 16, 0), "afterhours", True),
    (et(2025, 3, 3, 19, 59), "afterhours", True),
    (et(2025, 3, 3, 20, 0), "closed", True),
    (et(2025, 3, 8, 11, 0), "closed", False),                        # Saturday
    (et(2025, 12, 25, 11, 0), "closed", False),                      # Christmas
    (dt.datetime(2025, 7, 7, 14, 0, tzinfo=dt.timezone.utc), "open", True),   # 10:00 EDT
    (dt.datetime(2025, 1, 6, 14, 0, tzinfo=dt.timezone.utc), "premarket", True),  # 09:00 EST
])
def test_market_status(when, status, trading):
    info = market_status_at(when)
    assert info["status"] == status
    assert info["is_trading_day"] is trading
    assert info["market_open"] == "09:30" and info["market_close"] == "16:00"
    assert info["status_text"]
    assert dt.datetime.fromisoformat(info["current_time"]) == when


def test_closed_day_texts():
    assert market_status_at(et(2025, 3, 8, 11, 0))["status_text"] == "Market closed (weekend)"
    assert market_status_at(et(2025, 4, 18, 11, 0))["status_text"] == "Market closed (holiday)"


class FakeMonotonic:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def test_clock_runs_at_its_speed_and_fast_forwards():
    real = FakeMonotonic()
    clock = MockClock(et(2025, 3, 3, 9, 0), speed=60.0, monotonic=real)
    assert clock.now() == et(2025, 3, 3, 9, 0)
    assert clock.market_status()["status"] == "premarket"
    real.now += 30                                     # 30 real seconds = 30 virtual minutes
    assert clock.now() == et(2025, 3, 3, 9, 30)
    assert clock.market_status()["status"] == "open"
    assert clock.fast_forward(6 * 60 + 30) == et(2025, 3, 3, 16, 0)
    assert clock.market_status()["status"] == "afterhours"
    clock.fast_forward(24 * 60 * 5)                    # into the weekend
    assert clock.now() == et(2025, 3, 8, 16, 0)
    assert clock.market_status()["is_trading_day"] is False
    with pytest.raises(ValueError, match="negative"):
        clock.fast_forward(-1)


def test_frozen_clock_and_naive_start():
    clock = MockClock(dt.datetime(2025, 1, 6, 9, 30), speed=0.0)   # naive = US/Eastern
    assert clock.now() == et(2025, 1, 6, 9, 30)
    assert clock.now().tzinfo is not None
    with pytest.raises(ValueError, match="speed"):
        MockClock(et(2025, 1, 6, 9, 30), speed=-1)


@pytest.mark.parametrize("start,beijing", [
    (et(2025, 1, 6, 9, 30), "2025-01-06 22:30:00"),   # EST = UTC-5
    (et(2025, 7, 7, 9, 30), "2025-07-07 21:30:00"),   # EDT = UTC-4
    (et(2025, 7, 7, 23, 0), "2025-07-08 11:00:00"),
])
def test_beijing_time(start, beijing):
    assert MockClock(start, speed=0).beijing_time_str() == beijing


@pytest.fixture(scope="module")
def market():
    return SyntheticMarket(seed=7)


@pytest.mark.parametrize("ticker,day", [("AAPL", D(2025, 3, 3)), ("TSLA", D(2025, 3, 4)),
                                        ("NVDA", D(2024, 8, 5)), ("ZZZZ", D(2025, 1, 2))])
def test_intraday_path_stays_in_the_bar_and_ends_at_the_close(market, ticker, day):
    ticks = IntradayTicks(market, seed=3)
    bar = market.bar(ticker, day)
    prices = [ticks.tick(ticker, et(day.year, day.month, day.day, 9, 30) + dt.timedelta(minutes=m)).price
              for m in range(391)]
    assert prices[0] == bar.open
    assert prices[-1] == bar.close
    assert all(bar.low <= p <= bar.high for p in prices)
    assert max(prices) == bar.high and min(prices) == bar.low      # the path realizes the day's range
    assert len(set(prices)) > 50                                    # it moves, minute by minute


def test_ticks_outside_the_session(market):
    ticks = IntradayTicks(market, seed=3)
    day, prev = market.bar("AAPL", D(2025, 3, 4)), market.bar("AAPL", D(2025, 3, 3))
    early = ticks.tick("AAPL", et(2025, 3, 4, 8, 0))
    assert (early.price, early.prev_close) == (prev.close, prev.close)
    late = ticks.tick("AAPL", et(2025, 3, 4, 18, 30))
    assert (late.price, late.open, late.prev_close) == (day.close, day.open, prev.close)
    friday = market.bar("AAPL", D(2025, 3, 7))
    weekend = ticks.tick("AAPL", et(2025, 3, 8, 12, 0))
    assert (weekend.price, weekend.open) == (friday.close, friday.open)
    with pytest.raises(MarketDataError, match="before 2015-01-02"):
        ticks.tick("AAPL", et(2014, 6, 2, 12, 0))


def test_ticks_are_deterministic_per_seed_ticker_and_minute(market):
    when = et(2025, 3, 3, 11, 17, 5)
    a = IntradayTicks(market, seed=3).tick("MSFT", when)
    b = IntradayTicks(SyntheticMarket(seed=7), seed=3).tick("MSFT", when)
    assert a == b
    assert IntradayTicks(market, seed=3).tick("MSFT", when.replace(second=55)).price == a.price
    other = IntradayTicks(market, seed=4)
    path3 = [IntradayTicks(market, seed=3).tick("MSFT", when + dt.timedelta(minutes=m)).price for m in range(60)]
    path4 = [other.tick("MSFT", when + dt.timedelta(minutes=m)).price for m in range(60)]
    assert path3 != path4
    # A tick given in another time zone is the same instant.
    assert IntradayTicks(market, seed=3).tick("MSFT", when.astimezone(dt.timezone.utc)).price == a.price
