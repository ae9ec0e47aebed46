"""Axes of the Live panel's time charts: trading dates, day slots and durations.

:class:`TradingDateAxis` labels an x axis of epoch seconds with New York
dates ("Jan 06", "Feb 2025", "2025", or "10:30" within a day); the step is
the smallest one whose labels fit the axis's width with a gap, so ticks
never crowd, whatever the window size. Day ticks sit on trading days (the
NYSE calendar of :mod:`backend.market.calendar`), at the close, where the
run's daily points are. :class:`DayIndexAxis` does the same for a chart
whose x is a slot per day (the stage timings), :class:`DurationAxis` labels
a log10(ms) y axis "1 ms", "10 ms", ..., "10 s".

Tick values are computed only when the axis is redrawn (a range or size
change): the charts keep their ranges sticky, so that is seldom.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence

import pyqtgraph as pg
from PySide6.QtGui import QFontMetrics

from backend.market.calendar import MARKET_CLOSE, NEW_YORK, trading_days

LABEL_GAP_PX = 18  # free pixels between two tick labels
EDGE_PX = 24       # how far the first and last labels may reach past the axis's ends (else they are hidden)
DAY_S = 86_400.0

# (kind, n): every n-th hour / trading day / week / month / year, finest first.
STEPS: tuple[tuple[str, int], ...] = (
    ("hour", 1), ("hour", 2), ("hour", 3), ("hour", 6), ("day", 1), ("day", 2), ("week", 1), ("week", 2),
    ("month", 1), ("month", 2), ("month", 3), ("month", 6), ("year", 1), ("year", 2), ("year", 5), ("year", 10),
)
# The least time between two ticks of a step (a step fits when its closest labels do): trading days can be
# one day apart, Mondays/Wednesdays/Fridays two, a week's first trading days six (Tuesday after a holiday).
MIN_S = {"hour": 3600.0, "day": DAY_S, "week": 6 * DAY_S, "month": 28 * DAY_S, "year": 365 * DAY_S}
SAMPLE = {"hour": "Jan 06 10:00", "day": "Sep 30", "week": "Sep 30", "month": "Sep 2025", "year": "2025"}


def ny_date(epoch_s: float) -> dt.date:
    """The New York calendar date of an instant."""
    return dt.datetime.fromtimestamp(epoch_s, NEW_YORK).date()


def close_s(day: dt.date) -> float:
    """Epoch seconds of ``day``'s close in New York (where a run's daily points are)."""
    return dt.datetime.combine(day, MARKET_CLOSE, NEW_YORK).timestamp()


def format_date(epoch_s: float) -> str:
    """``2025-01-06`` (New York)."""
    return ny_date(epoch_s).isoformat()


def format_instant(epoch_s: float, intraday: bool) -> str:
    """``Mon 2025-01-06`` or, for intraday data, ``Mon 2025-01-06 10:30`` (New York)."""
    when = dt.datetime.fromtimestamp(epoch_s, NEW_YORK)
    return when.strftime("%a %Y-%m-%d %H:%M" if intraday else "%a %Y-%m-%d")


def _label_width(axis: pg.AxisItem, text: str) -> int:
    font = axis.style.get("tickFont") or axis.font()
    return QFontMetrics(font).horizontalAdvance(text) + LABEL_GAP_PX


def pick_step(span_s: float, size_px: float, width_of: dict[str, int]) -> tuple[str, int]:
    """The finest step whose labels (``width_of[kind]`` px each) fit ``size_px`` over ``span_s`` seconds."""
    for kind, n in STEPS:
        if kind == "hour" and span_s > 3 * DAY_S:
            continue
        least = MIN_S[kind] * n  # ("day", 2): Mondays, Wednesdays, Fridays: two days apart at least
        if span_s / least * width_of[kind] <= size_px:
            return kind, n
    return STEPS[-1]


def date_ticks(lo: float, hi: float, kind: str, n: int) -> list[tuple[float, str]]:
    """Tick (value, label) pairs between epoch seconds ``lo`` and ``hi`` for a step of ``kind``/``n``."""
    if hi <= lo:
        return []
    first, last = ny_date(lo), ny_date(hi)
    ticks: list[tuple[float, str]] = []
    if kind == "hour":
        start = dt.datetime.fromtimestamp(lo, NEW_YORK).replace(minute=0, second=0, microsecond=0)
        when, previous = start, None
        while when.timestamp() <= hi and len(ticks) < 500:
            if when.timestamp() >= lo and when.hour % n == 0:
                label = when.strftime("%H:%M") if previous == when.date() else when.strftime("%b %d %H:%M")
                ticks.append((when.timestamp(), label))
                previous = when.date()
            when = (when + dt.timedelta(hours=1)).astimezone(NEW_YORK)
        return ticks
    if kind in ("day", "week"):
        days = trading_days(first, last)
        if kind == "day":
            # Every other day: Mondays, Wednesdays, Fridays (the same days keep their ticks as the range moves).
            chosen = [d for d in days if d.weekday() in (0, 2, 4)] if n > 1 else days
        else:
            chosen, seen = [], set()
            for d in days:  # the week's first trading day (Monday, or Tuesday after a holiday); every n-th week
                week = d.isocalendar()[:2]
                if week not in seen:
                    seen.add(week)
                    if d.weekday() <= 1 and ((d.toordinal() - 1) // 7) % n == 0:  # ordinal 1 is a Monday
                        chosen.append(d)
        for d in chosen:
            t = close_s(d)
            if lo <= t <= hi:
                ticks.append((t, d.strftime("%b %d")))
        # A new year's first tick says the year (no wider than a date: the step still fits).
        for i in range(1, len(ticks)):
            year = ny_date(ticks[i][0]).year
            if year != ny_date(ticks[i - 1][0]).year:
                ticks[i] = (ticks[i][0], str(year))
        return ticks
    months = (last.year - first.year) * 12 + last.month - first.month + 1
    if kind == "month":
        for k in range(months + 1):
            y, m = divmod(first.month - 1 + k, 12)
            year, month = first.year + y, m + 1
            if (year * 12 + month - 1) % n:
                continue
            t = close_s(dt.date(year, month, 1))
            if lo <= t <= hi:
                ticks.append((t, dt.date(year, month, 1).strftime("%b %Y" if month == 1 or not ticks else "%b")))
        return ticks
    for year in range(first.year, last.year + 2):
        if year % n == 0:
            t = close_s(dt.date(year, 1, 1))
            if lo <= t <= hi:
                ticks.append((t, str(year)))
    return ticks


class _EdgeLabels:
    """The first and last labels may reach ``EDGE_PX`` past the axis's ends: a gridded axis's bounding
    rect is the plot's, so pyqtgraph would hide a date label centred near an end."""

    def boundingRect(self):  # noqa: N802,ANN201 - Qt naming
        rect = super().boundingRect()  # type: ignore[misc]
        return rect.adjusted(-EDGE_PX, 0, EDGE_PX, 0)


class TradingDateAxis(_EdgeLabels, pg.AxisItem):
    """A bottom axis of epoch seconds labelled with New York trading dates (see the module docstring)."""

    def __init__(self, orientation: str = "bottom", **kwargs: object) -> None:
        super().__init__(orientation, **kwargs)
        self._labels: dict[float, str] = {}
        self._widths: dict[str, int] | None = None

    def _width_of(self) -> dict[str, int]:
        if self._widths is None:
            self._widths = {kind: _label_width(self, sample) for kind, sample in SAMPLE.items()}
        return self._widths

    def setStyle(self, **kwargs: object) -> None:  # noqa: N802 - Qt naming
        super().setStyle(**kwargs)
        self._widths = None

    def tick_labels(self, lo: float, hi: float, size_px: float) -> list[tuple[float, str]]:
        """The (value, label) ticks this axis draws for the range ``lo..hi`` over ``size_px`` pixels."""
        if not (math.isfinite(lo) and math.isfinite(hi)) or hi <= lo or size_px <= 0:
            return []
        lo, hi = max(lo, 0.0), min(hi, 4.1e9)  # dates Python can place
        if hi <= lo:
            return []
        kind, n = pick_step(hi - lo, size_px, self._width_of())
        return date_ticks(lo, hi, kind, n)

    def tickValues(self, minVal: float, maxVal: float, size: float) -> list[tuple[float, list[float]]]:  # noqa: N802,N803
        ticks = self.tick_labels(minVal, maxVal, size)
        self._labels = dict(ticks)
        spacing = (ticks[1][0] - ticks[0][0]) if len(ticks) > 1 else max(maxVal - minVal, 1.0)
        return [(spacing, [t for t, _ in ticks])]

    def tickStrings(self, values: Sequence[float], scale: float, spacing: float) -> list[str]:  # noqa: N802
        return [self._labels.get(v) or format_date(v) for v in values]


class DayIndexAxis(_EdgeLabels, pg.AxisItem):
    """A bottom axis whose x is a slot per day: slot ``i`` is labelled with ``dates[i]`` (``YYYY-MM-DD``)."""

    STEPS = (1, 2, 5, 10, 20, 50, 100)

    def __init__(self, orientation: str = "bottom", **kwargs: object) -> None:
        super().__init__(orientation, **kwargs)
        self.dates: list[str] = []

    def set_dates(self, dates: list[str]) -> None:
        if dates != self.dates:
            self.dates = list(dates)
            self.picture = None  # the labels changed: redraw
            self.update()

    def tick_labels(self, lo: float, hi: float, size_px: float) -> list[tuple[int, str]]:
        shown = [i for i in range(max(0, math.ceil(lo)), min(len(self.dates) - 1, math.floor(hi)) + 1)]
        if not shown or size_px <= 0:
            return []
        width = _label_width(self, "Sep 30")
        slots = max(hi - lo, 1.0)
        step = next((s for s in self.STEPS if slots / s * width <= size_px), self.STEPS[-1])
        return [(i, _short(self.dates[i])) for i in shown if i % step == 0]

    def tickValues(self, minVal: float, maxVal: float, size: float) -> list[tuple[float, list[float]]]:  # noqa: N802,N803
        ticks = self.tick_labels(minVal, maxVal, size)
        spacing = float(ticks[1][0] - ticks[0][0]) if len(ticks) > 1 else 1.0
        return [(spacing, [float(i) for i, _ in ticks])]

    def tickStrings(self, values: Sequence[float], scale: float, spacing: float) -> list[str]:  # noqa: N802
        out = []
        for v in values:
            i = int(round(v))
            out.append(_short(self.dates[i]) if 0 <= i < len(self.dates) else "")
        return out


def _short(date: str) -> str:
    try:
        return dt.date.fromisoformat(date).strftime("%b %d")
    except ValueError:
        return date


def format_ms(ms: float) -> str:
    """A duration a person reads: ``0.35 ms``, ``6.4 ms``, ``120 ms``, ``10.0 s``, ``2.5 min``."""
    if ms >= 60_000:
        return f"{ms / 60_000:.1f} min"
    if ms >= 1000:
        return f"{ms / 1000:.1f} s"
    if ms >= 100:
        return f"{ms:.0f} ms"
    if ms >= 10:
        return f"{ms:.1f} ms"
    return f"{ms:.2f} ms"


def _decade_label(exponent: int) -> str:
    ms = 10.0 ** exponent
    if ms >= 60_000:
        return f"{ms / 60_000:g} min"
    if ms >= 1000:
        return f"{ms / 1000:g} s"
    return f"{ms:g} ms"


class DurationAxis(pg.AxisItem):
    """A left axis of log10(milliseconds): a tick per decade, "0.1 ms" ... "10 s"."""

    def tickValues(self, minVal: float, maxVal: float, size: float) -> list[tuple[float, list[float]]]:  # noqa: N802,N803
        if not (math.isfinite(minVal) and math.isfinite(maxVal)) or maxVal <= minVal:
            return []
        lo, hi = math.ceil(minVal), math.floor(maxVal)
        decades = list(range(lo, hi + 1))
        step = 1
        while step < len(decades) and len(decades[::step]) * 16 > max(size, 1):  # at least 16 px per label
            step += 1
        return [(float(step), [float(d) for d in decades[::step]])]

    def tickStrings(self, values: Sequence[float], scale: float, spacing: float) -> list[str]:  # noqa: N802
        return [_decade_label(int(round(v))) for v in values]
