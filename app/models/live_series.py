"""Chart data for the Live pipeline model.

:class:`CurveSeries` is one of the run's curves, whole (a point per trading
day: twenty years are ~5,000 points), applied from the Gateway's incremental
``team_summary`` points or replaced by a whole (or bounded) curve.
:class:`BoundedSeries` keeps at most ``maxlen`` points: when full, the older
half is thinned to every other point, so recent data stays at full resolution
and older data gets progressively coarser (intraday prices of a run of any
length cost the same memory). :class:`RateCounter` counts events per type per
second over a sliding window.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Iterable

from backend.schema.state import CurvePoint


class CurveSeries:
    """A curve as the run has it: ``ms`` (epoch ms), ``xs`` (epoch s, for charts) and ``ys``, by index."""

    __slots__ = ("ms", "xs", "ys")

    def __init__(self) -> None:
        self.ms: list[int] = []
        self.xs: list[float] = []
        self.ys: list[float] = []

    def __len__(self) -> int:
        return len(self.ms)

    def replace(self, points: Iterable[CurvePoint]) -> None:
        """Every point replaced (a whole curve from ``initial_state`` or a replacing ``team_summary``)."""
        self.ms, self.xs, self.ys = [], [], []
        self._extend(points)

    def splice(self, index: int, points: Iterable[CurvePoint]) -> bool:
        """The points from ``index`` on replaced by ``points`` (an incremental ``team_summary``).

        ``index`` below the length drops what follows it first (the days of a
        resumed run that are run again); above it, the points in between were
        never received: they are still added, and False says the curve has a gap.
        """
        whole = index <= len(self.ms)
        if index < len(self.ms):
            del self.ms[index:], self.xs[index:], self.ys[index:]
        self._extend(points)
        return whole

    def points(self) -> list[CurvePoint]:
        return [{"t": t, "v": v} for t, v in zip(self.ms, self.ys)]

    def last(self) -> tuple[float, float] | None:
        return (self.xs[-1], self.ys[-1]) if self.xs else None

    def _extend(self, points: Iterable[CurvePoint]) -> None:
        for p in points:
            self.ms.append(p["t"])
            self.xs.append(p["t"] / 1000.0)
            self.ys.append(p["v"])


class BoundedSeries:
    """(x, y) points in x order, at most ``maxlen`` of them (older points decimated).

    Args:
        maxlen: the most points held (at least 8).
    """

    __slots__ = ("maxlen", "xs", "ys", "decimations")

    def __init__(self, maxlen: int = 2000) -> None:
        if maxlen < 8:
            raise ValueError(f"a bounded series needs maxlen >= 8, got {maxlen}")
        self.maxlen = maxlen
        self.xs: list[float] = []
        self.ys: list[float] = []
        self.decimations = 0  # how many times the older half was thinned

    def __len__(self) -> int:
        return len(self.xs)

    def append(self, x: float, y: float) -> None:
        if self.xs and x < self.xs[-1]:
            return  # late point (reconnect overlap): the chart is x-ordered
        if self.xs and x == self.xs[-1]:
            self.ys[-1] = y  # same instant: latest value wins
            return
        self.xs.append(x)
        self.ys.append(y)
        if len(self.xs) > self.maxlen:
            self._decimate()

    def replace(self, points: Iterable[tuple[float, float]]) -> None:
        """Replace every point (a full curve from the server), then bound it."""
        self.xs, self.ys = [], []
        for x, y in points:
            self.append(x, y)

    def clear(self) -> None:
        self.xs, self.ys = [], []

    def last(self) -> tuple[float, float] | None:
        return (self.xs[-1], self.ys[-1]) if self.xs else None

    def _decimate(self) -> None:
        half = len(self.xs) // 2
        # Keep every other point of the older half, always keeping the first point.
        self.xs = self.xs[:half:2] + self.xs[half:]
        self.ys = self.ys[:half:2] + self.ys[half:]
        self.decimations += 1


class RateCounter:
    """Events per type per whole second, for the last ``window`` seconds.

    Args:
        window: seconds kept.
    """

    def __init__(self, window: int = 120) -> None:
        self.window = window
        self._buckets: deque[tuple[int, Counter[str]]] = deque()
        self.types: set[str] = set()

    def add(self, kind: str, now: float) -> None:
        second = int(now)
        if not self._buckets or self._buckets[-1][0] < second:
            self._buckets.append((second, Counter()))
            while self._buckets and self._buckets[0][0] <= second - self.window:
                self._buckets.popleft()
        self._buckets[-1][1][kind] += 1
        self.types.add(kind)

    def series(self, kind: str, now: float) -> tuple[list[float], list[float]]:
        """(seconds ago as negative x, counts) for complete seconds of the window, gaps as 0."""
        last = int(now) - 1  # the current second is still filling
        counts = {second: c.get(kind, 0) for second, c in self._buckets}
        first = last - self.window + 1
        xs = [float(s - last - 1) for s in range(first, last + 1)]
        return xs, [float(counts.get(s, 0)) for s in range(first, last + 1)]

    def latest(self, now: float) -> dict[str, int]:
        """Counts per type in the last complete second."""
        target = int(now) - 1
        for second, counts in reversed(self._buckets):
            if second == target:
                return dict(counts)
            if second < target:
                break
        return {}

    def total_rate(self, now: float, seconds: int = 5) -> float:
        """Mean events per second over the last ``seconds`` complete seconds."""
        last = int(now) - 1
        total = sum(sum(c.values()) for s, c in self._buckets if last - seconds < s <= last)
        return total / max(1, seconds)

