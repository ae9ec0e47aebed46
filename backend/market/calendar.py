"""NYSE calendar and hours: which days trade, and when in the day.

Hours (New York time, the one definition every mode uses): pre-market
04:00-09:30, the regular session 09:30-16:00, after hours 16:00-20:00,
otherwise closed. ``STAGE_TIMES`` places each pipeline stage on that day
(execution at the open, settlement at the close, reflection after it);
``market_status_at`` says where a moment falls.

Days: weekends and full-day exchange holidays.

Rules (NYSE Rule 7.2): New Year's Day, Martin Luther King Jr. Day, Washington's
Birthday, Good Friday, Memorial Day, Juneteenth (from 2022), Independence Day,
Labor Day, Thanksgiving and Christmas. A holiday on a Saturday is observed the
Friday before, on a Sunday the Monday after -- except New Year's Day on a
Saturday, which is not made up (the exchange stays open on Dec 31 so a year
never loses its closing session).

One-off closures since 2001 (national days of mourning, 9/11, Hurricane Sandy)
are listed in ``SPECIAL_CLOSURES``. Early closes (13:00 sessions) are not
modelled: the calendar answers whole days only.
"""

from __future__ import annotations

import datetime as dt
from bisect import bisect_left, bisect_right
from functools import lru_cache
from typing import Literal
from zoneinfo import ZoneInfo

ONE_DAY = dt.timedelta(days=1)
NEW_YORK = ZoneInfo("America/New_York")

# -- hours (New York time) ------------------------------------------------------
PREMARKET_OPEN = dt.time(4, 0)
MARKET_OPEN = dt.time(9, 30)
MARKET_CLOSE = dt.time(16, 0)
AFTER_HOURS_CLOSE = dt.time(20, 0)
SESSION_MINUTES = (MARKET_CLOSE.hour * 60 + MARKET_CLOSE.minute) - (MARKET_OPEN.hour * 60 + MARKET_OPEN.minute)

# When each stage of a trading day happens (the simulated timestamps of its
# events; a mode's clock runs a day once its close has passed).
STAGE_TIMES: dict[str, dt.time] = {
    "day_start": dt.time(8, 0), "analysis": dt.time(8, 0), "risk": dt.time(8, 30),
    "conference": dt.time(8, 45), "predictions": dt.time(9, 0), "decision": dt.time(9, 10),
    "approval": dt.time(9, 15), "execution": MARKET_OPEN, "settlement": MARKET_CLOSE,
    "reflection": dt.time(16, 30), "day_complete": dt.time(17, 0),
}
UNSCHEDULED_STAGE_TIME = dt.time(12, 0)   # a stage not in the timetable

Session = Literal["premarket", "open", "afterhours", "closed"]

# Unscheduled whole-day closures; a calendar built from rules alone misses them.
SPECIAL_CLOSURES: frozenset[dt.date] = frozenset({
    dt.date(2001, 9, 11), dt.date(2001, 9, 12), dt.date(2001, 9, 13), dt.date(2001, 9, 14),
    dt.date(2004, 6, 11),   # President Reagan's funeral
    dt.date(2007, 1, 2),    # President Ford's funeral
    dt.date(2012, 10, 29), dt.date(2012, 10, 30),  # Hurricane Sandy
    dt.date(2018, 12, 5),   # President G. H. W. Bush's funeral
    dt.date(2025, 1, 9),    # President Carter's funeral
})


def easter_sunday(year: int) -> dt.date:
    """Gregorian Easter Sunday (anonymous Gregorian / Meeus algorithm)."""
    a = year % 19
    b, c = divmod(year, 100)
    d, e = divmod(b, 4)
    f = (b + 8) // 25
    g = (b - f + 1) // 3
    h = (19 * a + b - d - g + 15) % 30
    i, k = divmod(c, 4)
    l = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 22 * l) // 451
    month, day = divmod(h + l - 7 * m + 114, 31)
    return dt.date(year, month, day + 1)


def _nth_weekday(year: int, month: int, weekday: int, n: int) -> dt.date:
    """The n-th ``weekday`` (Mon=0) of a month; n=-1 is the last one."""
    if n > 0:
        first = dt.date(year, month, 1)
        return first + dt.timedelta(days=(weekday - first.weekday()) % 7 + 7 * (n - 1))
    last = dt.date(year + (month == 12), month % 12 + 1, 1) - ONE_DAY
    return last - dt.timedelta(days=(last.weekday() - weekday) % 7)


def _observed(day: dt.date) -> dt.date:
    if day.weekday() == 5:
        return day - ONE_DAY
    if day.weekday() == 6:
        return day + ONE_DAY
    return day


@lru_cache(maxsize=512)
def holidays(year: int) -> frozenset[dt.date]:
    """Rule-based NYSE full-day holidays falling in ``year`` (as observed)."""
    days = {
        _nth_weekday(year, 1, 0, 3),                  # Martin Luther King Jr. Day
        _nth_weekday(year, 2, 0, 3),                  # Washington's Birthday
        easter_sunday(year) - 2 * ONE_DAY,            # Good Friday
        _nth_weekday(year, 5, 0, -1),                 # Memorial Day
        _observed(dt.date(year, 7, 4)),               # Independence Day
        _nth_weekday(year, 9, 0, 1),                  # Labor Day
        _nth_weekday(year, 11, 3, 4),                 # Thanksgiving
        _observed(dt.date(year, 12, 25)),             # Christmas
    }
    new_year = dt.date(year, 1, 1)
    if new_year.weekday() != 5:                       # Saturday: not made up on Dec 31
        days.add(_observed(new_year))
    if year >= 2022:
        days.add(_observed(dt.date(year, 6, 19)))     # Juneteenth
    return frozenset(days)


def is_trading_day(day: dt.date) -> bool:
    """True when the NYSE holds a regular session on ``day``."""
    if isinstance(day, dt.datetime):
        day = day.date()
    return day.weekday() < 5 and day not in holidays(day.year) and day not in SPECIAL_CLOSURES


@lru_cache(maxsize=256)
def _year_days(year: int) -> tuple[dt.date, ...]:
    day, out = dt.date(year, 1, 1), []
    while day.year == year:
        if is_trading_day(day):
            out.append(day)
        day += ONE_DAY
    return tuple(out)


def trading_days(start: dt.date, end: dt.date) -> list[dt.date]:
    """Trading days in [start, end], ascending (empty when end < start)."""
    out: list[dt.date] = []
    for year in range(start.year, end.year + 1):
        days = _year_days(year)
        out.extend(days[bisect_left(days, start):bisect_right(days, end)])
    return out


def next_trading_day(day: dt.date) -> dt.date:
    """The first trading day strictly after ``day``."""
    day += ONE_DAY
    while not is_trading_day(day):
        day += ONE_DAY
    return day


def previous_trading_day(day: dt.date) -> dt.date:
    """The last trading day strictly before ``day``."""
    day -= ONE_DAY
    while not is_trading_day(day):
        day -= ONE_DAY
    return day


# -- moments of the day -------------------------------------------------------------
def to_new_york(when: dt.datetime) -> dt.datetime:
    """``when`` in New York time; a naive datetime is taken to be New York time already."""
    return when.replace(tzinfo=NEW_YORK) if when.tzinfo is None else when.astimezone(NEW_YORK)


def at(day: dt.date, time: dt.time) -> dt.datetime:
    """``time`` (New York) on ``day``, as an aware datetime."""
    return dt.datetime.combine(day, time, tzinfo=NEW_YORK)


def close_at(day: dt.date) -> dt.datetime:
    """The end of ``day``'s regular session."""
    return at(day, MARKET_CLOSE)


def stage_at(day: dt.date, stage: str) -> dt.datetime:
    """When ``stage`` happens on ``day`` (``STAGE_TIMES``; noon for a stage not listed)."""
    return at(day, STAGE_TIMES.get(stage, UNSCHEDULED_STAGE_TIME))


def session_at(when: dt.datetime) -> Session:
    """Which part of the NYSE day ``when`` falls in (``closed`` all day when the exchange is)."""
    now = to_new_york(when)
    if not is_trading_day(now.date()):
        return "closed"
    clock = now.time()
    if MARKET_OPEN <= clock < MARKET_CLOSE:
        return "open"
    if PREMARKET_OPEN <= clock < MARKET_OPEN:
        return "premarket"
    if MARKET_CLOSE <= clock < AFTER_HOURS_CLOSE:
        return "afterhours"
    return "closed"


_SESSION_TEXT = {"open": "Market open", "premarket": "Pre-market", "afterhours": "After hours",
                 "closed": "Market closed"}


def hours() -> dict[str, str]:
    """The regular session as the ``market_status`` payload states it (``HH:MM``)."""
    return {"market_open": MARKET_OPEN.strftime("%H:%M"), "market_close": MARKET_CLOSE.strftime("%H:%M")}


BACKTEST_OPEN_STATES = ("starting", "running", "paused")


def backtest_market_status(run_status: str, current_date: str | None) -> dict[str, object]:
    """A backtest's ``market_status`` payload: ``open`` while the run is starting, running or
    paused, ``closed`` once it completed, stopped or failed; ``status_text`` names the run's state."""
    status = "open" if run_status in BACKTEST_OPEN_STATES else "closed"
    return {"status": status, "status_text": f"Backtest {run_status}", "is_trading_day": True, **hours(),
            "current_time": current_date}


def market_status_at(when: dt.datetime) -> dict[str, object]:
    """The NYSE session state at ``when`` (the ``market_status`` payload of mock and live mode)."""
    now = to_new_york(when)
    trading = is_trading_day(now.date())
    status = session_at(now)
    if not trading:
        text = "Market closed (weekend)" if now.weekday() >= 5 else "Market closed (holiday)"
    else:
        text = _SESSION_TEXT[status]
    return {"status": status, "status_text": text, "is_trading_day": trading, **hours(),
            "current_time": now.isoformat(timespec="seconds")}
