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
        self._iso: dict[int, str] = {}  # the day's ISO timestamps by whole second

    def set_day(self, date: dt.date) -> None:
        self._date = date
        self._stage_ms = {}
        self._iso = {}

    def stage_ms(self, stage: str) -> int:
        ms = self._stage_ms.get(stage)
        if ms is None:
            ms = self._stage_ms[stage] = _ms(calendar.stage_at(self._date, stage))
        return ms

    def ts(self, stage: str) -> int:
        self._last = max(self._last + 1, self.stage_ms(stage))
        return self._last

    def iso(self, ms: int) -> str:
        """``ms`` as ISO-8601 New York time, to the second (the same for every ms of a second)."""
        second = ms // 1000
        text = self._iso.get(second)
        if text is None:
            text = self._iso[second] = dt.datetime.fromtimestamp(second, tz=calendar.NEW_YORK).isoformat(
                timespec="seconds")
        return text

    def close_ms(self, date: dt.date) -> int:
        return _ms(calendar.close_at(date))
