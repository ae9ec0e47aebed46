"""Data the Live charts derive from the model, kept incrementally (Qt-free).

:class:`Drawdown`: the equity curve's drawdown, in percent from its running
peak, extended by O(1) per new point; a curve that was replaced (its last
known point no longer where it was) is recomputed once. :func:`nearest` and
:func:`at_or_before` find a series' point for the crosshair (bisection).
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Sequence


class Drawdown:
    """``xs``/``pcts`` (<= 0): the drawdown of a curve at each of its points; ``peak`` its running peak."""

    __slots__ = ("xs", "pcts", "peak", "_last", "recomputes")

    def __init__(self) -> None:
        self.xs: list[float] = []
        self.pcts: list[float] = []
        self.peak = float("-inf")
        self._last: tuple[float, float] | None = None  # the last point taken in, to notice a replaced curve
        self.recomputes = 0  # times the whole curve was taken in again (tests)

    def update(self, xs: Sequence[float], ys: Sequence[float]) -> None:
        """Follow the curve ``xs``/``ys``: only its new points are taken in while its start stays the same."""
        n = len(self.xs)
        if n and (len(xs) < n or (xs[n - 1], ys[n - 1]) != self._last):
            self.xs, self.pcts, self.peak, n = [], [], float("-inf"), 0
            self.recomputes += 1
        for i in range(n, len(xs)):
            y = ys[i]
            if y > self.peak:
                self.peak = y
            self.xs.append(xs[i])
            self.pcts.append((y / self.peak - 1.0) * 100.0 if self.peak > 0 else 0.0)
        if self.xs:
            self._last = (xs[len(self.xs) - 1], ys[len(self.xs) - 1])

    @property
    def worst(self) -> float:
        return min(self.pcts, default=0.0)


def nearest(xs: Sequence[float], x: float) -> int | None:
    """Index of the point of ``xs`` (ascending) nearest to ``x``; None when empty."""
    if not xs:
        return None
    i = bisect_left(xs, x)
    if i == 0:
        return 0
    if i == len(xs):
        return len(xs) - 1
    return i if xs[i] - x < x - xs[i - 1] else i - 1


def at_or_before(xs: Sequence[float], x: float) -> int | None:
    """Index of the last point of ``xs`` (ascending) at or before ``x``; None when there is none."""
    i = bisect_right(xs, x)
    return i - 1 if i else None
