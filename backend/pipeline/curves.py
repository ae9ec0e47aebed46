"""A run's curves: the whole of each, plus a bounded view kept up to date point by point.

A client that did not ask for incremental curves replaces its chart with
whatever each ``team_summary`` carries (the EvoTraders web dashboard does),
so it gets :class:`BoundedCurve`'s view: at most ``limit`` points, evenly
spaced by index, the first and the newest always among them. Adding a point
is O(1) amortised: when the kept points reach the limit every other one is
dropped and the spacing doubles, so no day rebuilds the view from the whole
curve.
"""

from __future__ import annotations

from collections.abc import Iterable

from backend.schema.state import CurvePoint


class BoundedCurve:
    """The points at indices 0, s, 2s, ... of a growing curve (s doubles as needed), plus its newest point.

    Args:
        limit: the most points :meth:`points` returns (at least 3).
    """

    __slots__ = ("limit", "stride", "kept", "count", "newest")

    def __init__(self, limit: int) -> None:
        if limit < 3:
            raise ValueError(f"a bounded curve needs limit >= 3, got {limit}")
        self.limit = limit
        self.stride = 1
        self.kept: list[CurvePoint] = []
        self.count = 0
        self.newest: CurvePoint | None = None

    def add(self, point: CurvePoint) -> None:
        if self.count % self.stride == 0:
            self.kept.append(point)
            if len(self.kept) >= self.limit:  # one slot stays free for the newest point
                self.kept = self.kept[::2]
                self.stride *= 2
        self.count += 1
        self.newest = point

    def extend(self, points: Iterable[CurvePoint]) -> None:
        for point in points:
            self.add(point)

    def points(self) -> list[CurvePoint]:
        """A new list: the kept points, then the newest if it is not one of them."""
        if self.count and (self.count - 1) % self.stride:
            return [*self.kept, self.newest]  # type: ignore[list-item]
        return list(self.kept)
