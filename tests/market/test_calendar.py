"""NYSE calendar facts checked against published exchange calendars."""

import datetime as dt

import pytest

from backend.market import calendar
from backend.market.calendar import (
    easter_sunday, is_trading_day, next_trading_day, previous_trading_day, trading_days,
)

D = dt.date

# Session counts published by NYSE (they include the one-off closures).
KNOWN_COUNTS = {2015: 252, 2016: 252, 2017: 251, 2018: 251, 2019: 252, 2020: 253,
                2021: 252, 2022: 251, 2023: 250, 2024: 252, 2025: 250}


@pytest.mark.parametrize("year,count", sorted(KNOWN_COUNTS.items()))
def test_sessions_per_year(year, count):
    assert len(trading_days(D(year, 1, 1), D(year, 12, 31))) == count


@pytest.mark.parametrize("day", [
    D(2025, 1, 1), D(2025, 1, 20), D(2025, 2, 17), D(2025, 4, 18), D(2025, 5, 26),
    D(2025, 6, 19), D(2025, 7, 4), D(2025, 9, 1), D(2025, 11, 27), D(2025, 12, 25),
    D(2022, 6, 20),   # Juneteenth on a Sunday, observed Monday
    D(2021, 12, 24),  # Christmas on a Saturday, observed Friday
    D(2023, 1, 2),    # New Year's Day on a Sunday, observed Monday
    D(2026, 7, 3),    # Independence Day on a Saturday, observed Friday
    D(2025, 1, 9),    # one-off: President Carter's funeral
    D(2018, 12, 5),   # one-off: President G. H. W. Bush's funeral
    D(2025, 1, 4), D(2025, 1, 5),  # weekend
])
def test_closed_days(day):
    assert not is_trading_day(day)


@pytest.mark.parametrize("day", [
    D(2021, 12, 31),  # New Year's Day 2022 fell on a Saturday: no make-up closure
    D(2021, 6, 18),   # Juneteenth was not an exchange holiday before 2022
    D(2024, 11, 29),  # day after Thanksgiving (an early close, still a session)
    D(2025, 12, 24), D(2025, 1, 2), D(2025, 1, 10),
])
def test_open_days(day):
    assert is_trading_day(day)


def test_datetime_is_accepted():
    assert not is_trading_day(dt.datetime(2025, 4, 18, 12, 0))


@pytest.mark.parametrize("year,easter", [(2019, D(2019, 4, 21)), (2024, D(2024, 3, 31)),
                                         (2025, D(2025, 4, 20)), (2038, D(2038, 4, 25))])
def test_easter(year, easter):
    assert easter_sunday(year) == easter


def test_next_and_previous():
    assert next_trading_day(D(2025, 4, 17)) == D(2025, 4, 21)    # over Good Friday and a weekend
    assert next_trading_day(D(2024, 12, 31)) == D(2025, 1, 2)
    assert previous_trading_day(D(2025, 1, 2)) == D(2024, 12, 31)
    assert previous_trading_day(D(2025, 1, 10)) == D(2025, 1, 8)  # skips the Carter closure
    assert previous_trading_day(D(2025, 1, 6)) == D(2025, 1, 3)


def test_trading_days_range_is_inclusive_and_spans_years():
    days = trading_days(D(2024, 12, 30), D(2025, 1, 3))
    assert days == [D(2024, 12, 30), D(2024, 12, 31), D(2025, 1, 2), D(2025, 1, 3)]
    assert trading_days(D(2025, 1, 3), D(2025, 1, 2)) == []
    assert days == sorted(days) and all(is_trading_day(d) for d in days)


def test_special_closures_are_weekdays():
    assert all(d.weekday() < 5 for d in calendar.SPECIAL_CLOSURES)


# -- hours ----------------------------------------------------------------------------
def test_the_day_stages_sit_on_market_hours():
    times = calendar.STAGE_TIMES
    assert times["execution"] == calendar.MARKET_OPEN == dt.time(9, 30)
    assert times["settlement"] == calendar.MARKET_CLOSE == dt.time(16, 0)
    assert calendar.PREMARKET_OPEN < times["analysis"] < calendar.MARKET_OPEN   # the morning meeting is pre-market
    assert calendar.MARKET_CLOSE < times["reflection"] < calendar.AFTER_HOURS_CLOSE
    assert calendar.SESSION_MINUTES == 390
    assert calendar.hours() == {"market_open": "09:30", "market_close": "16:00"}


@pytest.mark.parametrize("day,utc_hour", [(D(2025, 3, 7), 21), (D(2025, 3, 10), 20),    # EST, then EDT
                                          (D(2025, 10, 31), 20), (D(2025, 11, 3), 21)])
def test_the_close_is_four_pm_new_york_across_daylight_saving(day, utc_hour):
    close = calendar.close_at(day).astimezone(dt.timezone.utc)
    assert (close.date(), close.hour, close.minute) == (day, utc_hour, 0)


def test_a_stage_off_the_timetable_is_at_noon():
    assert calendar.stage_at(D(2025, 3, 3), "something_new").time() == dt.time(12, 0)


@pytest.mark.parametrize("when,session", [
    (dt.datetime(2025, 3, 3, 3, 59), "closed"), (dt.datetime(2025, 3, 3, 4, 0), "premarket"),
    (dt.datetime(2025, 3, 3, 9, 30), "open"), (dt.datetime(2025, 3, 3, 16, 0), "afterhours"),
    (dt.datetime(2025, 3, 3, 20, 0), "closed"), (dt.datetime(2025, 3, 8, 11, 0), "closed"),   # Saturday
    (dt.datetime(2025, 4, 18, 11, 0), "closed"),                                              # Good Friday
])
def test_session_at(when, session):
    assert calendar.session_at(when) == session                       # naive = New York time
    assert calendar.market_status_at(when)["status"] == session
