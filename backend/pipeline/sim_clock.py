"""Simulated timestamps of a trading day (backtest events carry market time)."""

from __future__ import annotations

import datetime as dt

from backend.market import calendar

_EPOCH_ORDINAL = dt.date(1970, 1, 1).toordinal()
_DAY_S = 86400
# Every stage time of the timetable (and the noon of an unscheduled stage) lies in
# [FIRST_HOUR, 24h) New York time, where no clock change happens (US clocks
# change at 02:00): one UTC offset holds for all of them on a given day.
_FIRST_HOUR = 3


def _ms(moment: dt.datetime) -> int:
    return int(moment.timestamp() * 1000)


def _seconds_into_day(time: dt.time) -> int:
    return time.hour * 3600 + time.minute * 60 + time.second


class _Day:
    """One day's New York clock: when its window [03:00, 24:00) starts and ends in epoch
    seconds, and its UTC offset there, read from zoneinfo once a day instead of at every
    timestamp. ``uniform`` is False on a day whose window does not keep one offset (none
    in New York; the callers then take zoneinfo's answer moment by moment)."""

    __slots__ = ("start_s", "end_s", "offset_s", "iso_date", "iso_offset", "uniform")

    def __init__(self, date: dt.date) -> None:
        first = calendar.at(date, dt.time(_FIRST_HOUR))
        last = calendar.at(date, dt.time(23, 59, 59))
        offset = first.utcoffset()
        assert offset is not None
        self.offset_s = int(offset.total_seconds())
        local_midnight_s = (date.toordinal() - _EPOCH_ORDINAL) * _DAY_S   # midnight as if it were UTC
        self.start_s = local_midnight_s + _FIRST_HOUR * 3600 - self.offset_s
        self.end_s = local_midnight_s + _DAY_S - self.offset_s
        text = first.isoformat(timespec="seconds")            # 2016-01-04T03:00:00-05:00
        self.iso_date, self.iso_offset = text[:11], text[19:]  # "2016-01-04T", "-05:00"
        self.uniform = (last.utcoffset() == offset and self.offset_s % 60 == 0
                        and int(last.timestamp()) == self.end_s - 1)

    def epoch_s(self, time: dt.time) -> int | None:
        """``time`` that day in epoch seconds, when it lies in the window (else None)."""
        seconds = _seconds_into_day(time)
        if not self.uniform or time.microsecond or seconds < _FIRST_HOUR * 3600:
            return None
        return self.start_s + seconds - _FIRST_HOUR * 3600

    def iso(self, second: int) -> str | None:
        """An epoch second of the window as ISO-8601 New York time (else None)."""
        if not self.uniform or not self.start_s <= second < self.end_s:
            return None
        local = second - self.start_s + _FIRST_HOUR * 3600
        hours, rest = divmod(local, 3600)
        return f"{self.iso_date}{hours:02d}:{rest // 60:02d}:{rest % 60:02d}{self.iso_offset}"


class SimClock:
    """Monotonic epoch-ms timestamps at the stage times of one day (``calendar.STAGE_TIMES``).

    Each call to :meth:`ts` returns at least one millisecond more than the
    previous one, so events keep their order when sorted by ``ts``.
    """

    def __init__(self) -> None:
        self._last = 0
        self._date = dt.date(1970, 1, 1)
        self._day: _Day | None = None  # the day's offset, read on first use
        self._stage_ms: dict[str, int] = {}  # the day's stage times (a day asks ~50 times)
        self._iso: dict[int, str] = {}  # the day's ISO timestamps by whole second

    def set_day(self, date: dt.date) -> None:
        self._date = date
        self._day = None
        self._stage_ms = {}
        self._iso = {}

    def _today(self) -> _Day:
        day = self._day
        if day is None:
            day = self._day = _Day(self._date)
        return day

    def stage_ms(self, stage: str) -> int:
        ms = self._stage_ms.get(stage)
        if ms is None:
            ms = self._stage_ms[stage] = self._stage_ms_of(stage)
        return ms

    def _stage_ms_of(self, stage: str) -> int:
        # The same integer as ``_ms(calendar.stage_at(date, stage))``: whole seconds in a
        # window of one UTC offset (tests/pipeline/test_sim_clock.py compares them).
        time = calendar.STAGE_TIMES.get(stage, calendar.UNSCHEDULED_STAGE_TIME)
        second = self._today().epoch_s(time)
        if second is None:
            return _ms(calendar.stage_at(self._date, stage))
        return second * 1000

    def ts(self, stage: str) -> int:
        self._last = max(self._last + 1, self.stage_ms(stage))
        return self._last

    def iso(self, ms: int) -> str:
        """``ms`` as ISO-8601 New York time, to the second (the same for every ms of a second)."""
        second = ms // 1000
        text = self._iso.get(second)
        if text is None:
            text = self._iso[second] = self._iso_of(second)
        return text

    def _iso_of(self, second: int) -> str:
        # The day's window is formatted from its offset, the same text as zoneinfo's
        # (tests/pipeline/test_sim_clock.py); any other moment asks zoneinfo.
        text = self._today().iso(second)
        if text is None:
            text = dt.datetime.fromtimestamp(second, tz=calendar.NEW_YORK).isoformat(timespec="seconds")
        return text

    def close_ms(self, date: dt.date) -> int:
        return _ms(calendar.close_at(date))
