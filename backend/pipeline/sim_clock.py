"""Simulated timestamps of a trading day (backtest events carry market time)."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

NEW_YORK = ZoneInfo("America/New_York")

# When each stage happens on the simulated trading day (New York time).
STAGE_TIMES = {
    "day_start": (8, 0), "analysis": (8, 0), "risk": (8, 30), "conference": (8, 45),
    "predictions": (9, 0), "decision": (9, 10), "approval": (9, 15), "execution": (9, 30),
    "settlement": (16, 0), "reflection": (16, 30), "day_complete": (17, 0),
}


class SimClock:
    """Monotonic epoch-ms timestamps at the simulated stage times of one day.

    Each call to :meth:`ts` returns at least one millisecond more than the
    previous one, so events keep their order when sorted by ``ts``.
    """

    def __init__(self) -> None:
        self._last = 0
        self._date = dt.date(1970, 1, 1)

    def set_day(self, date: dt.date) -> None:
        self._date = date

    def stage_ms(self, stage: str) -> int:
        hour, minute = STAGE_TIMES.get(stage, (12, 0))
        moment = dt.datetime(self._date.year, self._date.month, self._date.day, hour, minute, tzinfo=NEW_YORK)
        return int(moment.timestamp() * 1000)

    def ts(self, stage: str) -> int:
        self._last = max(self._last + 1, self.stage_ms(stage))
        return self._last

    def iso(self, ms: int) -> str:
        return dt.datetime.fromtimestamp(ms / 1000, tz=NEW_YORK).isoformat(timespec="seconds")

    def close_ms(self, date: dt.date) -> int:
        moment = dt.datetime(date.year, date.month, date.day, 16, 0, tzinfo=NEW_YORK)
        return int(moment.timestamp() * 1000)
