"""Bounded chart data for the Live pipeline model: series that never grow without bound.

:class:`BoundedSeries` keeps at most ``maxlen`` points: when full, the older
half is thinned to every other point, so recent data stays at full resolution
and older data gets progressively coarser (a run of any length costs the
same memory). :class:`RateCounter` counts events per type per second over a
sliding window.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Iterable


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

