"""Simulated timestamps of a trading day (backtest events carry market time)."""

from __future__ import annotations

import datetime as dt

from backend.market import calendar


def _ms(moment: dt.datetime) -> int:
    return int(moment.timestamp() * 1000)


class SimClock:
    """Monotonic epoch-ms timestamps at the stage times of one day (``calendar.STAGE_TIMES``).

    Each call to :meth:`ts` returns at least one millisecond more than the
    previous one, so events keep their order when sorted by ``ts``.
    """

    def __init__(self) -> None:
        self._last = 0
        self._date = dt.date(1970, 1, 1)
        self._stage_ms: dict[str, int] = {}  # the day's stage times (a day asks ~50 times)

    def set_day(self, date: dt.date) -> None:
        self._date = date
        self._stage_ms = {}

    def stage_ms(self, stage: str) -> int:
        ms = self._stage_ms.get(stage)
        if ms is None:
            ms = self._stage_ms[stage] = _ms(calendar.stage_at(self._date, stage))
        return ms

    def ts(self, stage: str) -> int:
        self._last = max(self._last + 1, self.stage_ms(stage))
        return self._last

    def iso(self, ms: int) -> str:
        return dt.datetime.fromtimestamp(ms / 1000, tz=calendar.NEW_YORK).isoformat(timespec="seconds")

    def close_ms(self, date: dt.date) -> int:
        return _ms(calendar.close_at(date))
