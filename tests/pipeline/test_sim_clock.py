"""SimClock reads a day's New York offset once and computes its stage times and ISO texts from
it (issue 13): they must be exactly what zoneinfo gives moment by moment, on every day,
clock-change days included."""

from __future__ import annotations

import datetime as dt

from hypothesis import given, settings, strategies as st

from backend.market import calendar
from backend.pipeline.sim_clock import SimClock, _ms

STAGES = tuple(calendar.STAGE_TIMES) + ("not_a_stage",)
DATES = st.dates(min_value=dt.date(1900, 1, 1), max_value=dt.date(2100, 12, 31))


def slow_iso(second: int) -> str:
    return dt.datetime.fromtimestamp(second, tz=calendar.NEW_YORK).isoformat(timespec="seconds")


def test_every_stage_time_of_every_day_from_1970_to_2100() -> None:
    day = dt.date(1970, 1, 1)
    clock = SimClock()
    while day <= dt.date(2100, 12, 31):
        clock.set_day(day)
        for stage in STAGES:
            ms = _ms(calendar.stage_at(day, stage))
            assert clock.stage_ms(stage) == ms, (day, stage)
            assert clock.iso(ms + 999) == slow_iso(ms // 1000), (day, stage)
        day += dt.timedelta(days=1)


@settings(max_examples=400, deadline=None)
@given(DATES, st.integers(min_value=-2 * 86400, max_value=3 * 86400))
def test_any_second_near_the_day_is_zoneinfos_text(day: dt.date, shift: int) -> None:
    # Seconds around the day (the night before, the clock change at 02:00, the next day).
    clock = SimClock()
    clock.set_day(day)
    second = int(calendar.at(day, dt.time(0)).timestamp()) + shift
    assert clock.iso(second * 1000) == slow_iso(second)


@given(DATES, st.sampled_from(STAGES))
def test_ts_is_monotonic_and_starts_at_the_stage_time(day: dt.date, stage: str) -> None:
    clock = SimClock()
    clock.set_day(day)
    assert clock.stage_ms(stage) == _ms(calendar.stage_at(day, stage))
    if day.year >= 1970:  # an epoch ms before 1970 is negative: ts starts at 1 then
        first = clock.ts(stage)
        assert first == _ms(calendar.stage_at(day, stage))
        assert clock.ts(stage) == first + 1


def test_clock_change_days_of_new_york() -> None:
    clock = SimClock()
    for day in (dt.date(2016, 3, 13), dt.date(2016, 11, 6), dt.date(2024, 3, 10), dt.date(2024, 11, 3)):
        clock.set_day(day)
        for hour in range(24):
            for minute in (0, 30, 59):
                second = int(dt.datetime.combine(day, dt.time(hour, minute), tzinfo=calendar.NEW_YORK).timestamp())
                assert clock.iso(second * 1000) == slow_iso(second), (day, hour, minute)
