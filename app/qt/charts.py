"""The Live pipeline panel's pyqtgraph charts, each fed from :class:`app.models.live_model.LiveModel`.

Each chart has its own view, so an update repaints that chart only. Each chart's ``update(model)`` only moves data
into existing items (``setData`` / ``setOpts``): nothing is created per
refresh, so a 30 Hz refresh stays cheap. Curves are clipped to the view and
downsampled by pyqtgraph; the model already bounds how many points exist.

The view ranges are sticky (:class:`StickyRange`), not auto-ranged: a range
moves only when the data leave it (with headroom ahead of a growing time
axis) or shrink well inside it. Between such moves the axes keep their ticks
and redraw from their cached pixmaps; axes re-laid out and their text drawn
again on every update were most of a chart's paint under a flood of events.
"""

from __future__ import annotations

from typing import Any

import pyqtgraph as pg
from PySide6.QtWidgets import QGraphicsItem, QGridLayout, QWidget

from app.models.live_model import CURVE_LABELS, CURVES, STAGE_LABELS, LiveModel
from app.qt import theme

pg.setConfigOptions(antialias=False, useOpenGL=False, foreground=theme.chart_colors()["foreground"])

STAGE_ORDER = tuple(STAGE_LABELS)
MAX_STAGE_DAYS = 40  # days shown in the stage timeline (older ones stay in the model)
MAX_RATE_TYPES = 6   # busiest event types drawn
AXIS_WIDTH = 64      # pixels of the left axes (fits "100,000.0")


def _pen(index: int, width: float = 1.0) -> Any:
    # Width 1 (cosmetic) lines take pyqtgraph's fast path; wider ones cost ~30 % more per paint.
    return pg.mkPen(theme.SERIES[index % len(theme.SERIES)], width=width)


def ticker_color(index: int) -> str:
    """The colour of the ``index``-th ticker's price line (the ticker bar uses it as the legend)."""
    return theme.SERIES[index % len(theme.SERIES)]


def _plot(layout: pg.GraphicsLayoutWidget, row: int, col: int, title: str, *, dates: bool = False,
          legend: bool = True) -> pg.PlotItem:
    axis = {"bottom": pg.DateAxisItem()} if dates else None
    plot = layout.addPlot(row=row, col=col, title=title, axisItems=axis)
    plot.showGrid(x=True, y=True, alpha=0.2)
    plot.setClipToView(True)
    plot.setDownsampling(auto=True, mode="peak")
    if legend:
        plot.addLegend(offset=(5, 5), labelTextSize="8pt")
    plot.setMenuEnabled(False)
    # The title and legend only change when a series comes or goes: repainted from a pixmap.
    for item in (plot.titleLabel, plot.legend):
        if item is not None:
            item.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
    for name in ("left", "bottom"):
        # Axes redraw as a cached pixmap unless their range changed: text is the costliest part of a paint.
        plot.getAxis(name).setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
    # A fixed width: longer tick labels must not re-layout (and so repaint) all four plots.
    plot.getAxis("left").setWidth(AXIS_WIDTH)
    return plot


def _span(lo: float, hi: float) -> float:
    return hi - lo if hi > lo else max(abs(hi) * 0.01, 1e-9)


class StickyRange:
    """A plot's view range that stays put while the data stay inside it.

    Args:
        plot: the plot whose view box it sets (its auto-range is turned off).
        x_ahead: for a growing x axis, the share of the data's span left free
            ahead of the newest point when the range moves (0: fixed x, not managed).
        y_pad: the share of the data's span added above and below when y moves.
        shrink: the range is refitted when the data fill less than this share of it.
    """

    def __init__(self, plot: pg.PlotItem, *, x_ahead: float | None = 0.5, y_pad: float = 0.08,
                 shrink: float = 0.4) -> None:
        self.plot = plot
        self.x_ahead = x_ahead
        self.y_pad = y_pad
        self.shrink = shrink
        self.x: tuple[float, float] | None = None
        self.y: tuple[float, float] | None = None
        self.moves = 0  # how often the range moved (tests, benchmarks)
        plot.disableAutoRange()

    def _needs(self, current: tuple[float, float] | None, lo: float, hi: float) -> bool:
        if current is None:
            return True
        c0, c1 = current
        return lo < c0 or hi > c1 or (hi - lo) < self.shrink * (c1 - c0)

    def fit(self, x: tuple[float, float] | None, y: tuple[float, float] | None) -> None:
        """Make sure ``x = (lo, hi)`` and ``y = (lo, hi)`` (None: no data / not managed) are in view."""
        ranges: dict[str, tuple[float, float]] = {}
        if x is not None and self.x_ahead is not None and self._needs(self.x, *x):
            span = _span(*x)
            self.x = (x[0] - span * 0.02, x[1] + span * self.x_ahead)
            ranges["xRange"] = self.x
        if y is not None and self._needs(self.y, *y):
            span = _span(*y)
            self.y = (y[0] - span * self.y_pad, y[1] + span * self.y_pad)
            ranges["yRange"] = self.y
        if ranges:
            self.moves += 1
            self.plot.getViewBox().setRange(**ranges, padding=0)


def _bounds(values: list[float] | tuple[float, ...]) -> tuple[float, float] | None:
    return (min(values), max(values)) if values else None


def _join(*bounds: tuple[float, float] | None) -> tuple[float, float] | None:
    known = [b for b in bounds if b is not None]
    return (min(b[0] for b in known), max(b[1] for b in known)) if known else None


class EquityChart:
    """Team equity against the three baselines (x = date)."""

    def __init__(self, layout: pg.GraphicsLayoutWidget, row: int, col: int) -> None:
        self.plot = _plot(layout, row, col, "Equity vs baselines", dates=True)
        self.curves = {name: self.plot.plot([], [], name=CURVE_LABELS[name], pen=_pen(i, 2.0 if i == 0 else 1.0))
                       for i, name in enumerate(CURVES)}
        self.range = StickyRange(self.plot)

    def update(self, model: LiveModel) -> None:
        xb, yb = [], []
        for name, item in self.curves.items():
            series = model.curves[name]
            item.setData(series.xs, series.ys)
            if series.xs:
                xb.append((series.xs[0], series.xs[-1]))  # points are kept in x order
                yb.append(_bounds(series.ys))
        self.range.fit(_join(*xb), _join(*yb))


class StageChart:
    """Stage timings per day: one stacked bar per day, a colour per stage (ms)."""

    def __init__(self, layout: pg.GraphicsLayoutWidget, row: int, col: int) -> None:
        self.plot = _plot(layout, row, col, "Stage timings per day (ms)")
        self.bars = {}
        for i, stage in enumerate(STAGE_ORDER):
            bar = pg.BarGraphItem(x=[], height=[], y0=[], width=0.8, brush=theme.SERIES[i % len(theme.SERIES)],
                                  pen=None, name=STAGE_LABELS[stage])
            self.plot.addItem(bar)  # named, so the plot's legend lists it (once)
            self.bars[stage] = bar
        self.plot.legend.setColumnCount(3)  # nine stages: three short rows, not a column over the bars
        self.dates: list[str] = []
        self._ticks: list[tuple[int, str]] = []
        self.range = StickyRange(self.plot, x_ahead=None)
        # x: one slot per shown day, fixed; y: sticky, from 0.
        self.plot.getViewBox().setRange(xRange=(-0.6, MAX_STAGE_DAYS - 0.4), padding=0)

    def update(self, model: LiveModel) -> None:
        self.dates = list(model.stages)[-MAX_STAGE_DAYS:]
        xs = list(range(len(self.dates)))
        base = [0.0] * len(xs)
        for stage, bar in self.bars.items():
            heights = [model.stages[d].get(stage, 0.0) for d in self.dates]
            bar.setOpts(x=xs, height=heights, y0=list(base), width=0.8)
            base = [b + h for b, h in zip(base, heights)]
        self.range.fit(None, (0.0, max(base)) if base else None)
        step = max(1, len(self.dates) // 6)
        ticks = [(i, d[5:]) for i, d in enumerate(self.dates) if i % step == 0]
        if ticks != self._ticks:  # new ticks redraw the axis: only when the labels change
            self._ticks = ticks
            self.plot.getAxis("bottom").setTicks([ticks])


class RateChart:
    """Events per second by type over the last two minutes."""

    def __init__(self, layout: pg.GraphicsLayoutWidget, row: int, col: int) -> None:
        self.plot = _plot(layout, row, col, "Events per second by type")
        self.plot.setLabel("bottom", "seconds ago")
        self.range = StickyRange(self.plot, x_ahead=None, y_pad=0.15)
        self.plot.setXRange(-120, 0, padding=0)  # a fixed window: the x axis never needs redrawing
        self.lines: dict[str, Any] = {}

    def update(self, model: LiveModel, now: float | None = None) -> None:
        now = now if now is not None else model.clock()
        rates = model.rates
        totals = {kind: sum(rates.series(kind, now)[1]) for kind in rates.types}
        shown = [k for k, v in sorted(totals.items(), key=lambda kv: -kv[1]) if v > 0][:MAX_RATE_TYPES]
        top = 0.0
        for kind in list(self.lines):
            if kind not in shown:
                self.plot.removeItem(self.lines.pop(kind))
                self.plot.legend.removeItem(kind)
        for i, kind in enumerate(shown):
            xs, ys = rates.series(kind, now)
            line = self.lines.get(kind)
            if line is None:
                line = self.lines[kind] = self.plot.plot([], [], name=kind, pen=_pen(len(self.lines)))
            line.setData(xs, ys)
            top = max(top, max(ys, default=0.0))
        self.range.fit(None, (0.0, top) if shown else None)


class PriceChart:
    """Prices per ticker (x = market time). No legend (it is the costliest item to repaint):
    the ticker bar shows each ticker in its line's colour (:meth:`color_of`)."""

    def __init__(self, layout: pg.GraphicsLayoutWidget, row: int, col: int) -> None:
        self.plot = _plot(layout, row, col, "Prices per ticker", dates=True, legend=False)
        self.lines: dict[str, Any] = {}
        self.colors: dict[str, str] = {}
        self.range = StickyRange(self.plot)

    def color_of(self, ticker: str) -> str:
        if ticker not in self.colors:
            self.colors[ticker] = ticker_color(len(self.colors))
        return self.colors[ticker]

    def update(self, model: LiveModel) -> None:
        xb, yb = [], []
        for ticker in sorted(model.prices):
            series = model.prices[ticker]
            line = self.lines.get(ticker)
            if line is None:
                line = self.lines[ticker] = self.plot.plot([], [], name=ticker, pen=pg.mkPen(self.color_of(ticker)))
            line.setData(series.xs, series.ys)
            if series.xs:
                xb.append((series.xs[0], series.xs[-1]))
                yb.append(_bounds(series.ys))
        self.range.fit(_join(*xb), _join(*yb))
        for ticker in [t for t in self.lines if t not in model.prices]:
            self.plot.removeItem(self.lines.pop(ticker))


class LiveCharts(QWidget):
    """The four charts of the Live panel, each in its own view.

    Separate views keep a repaint local: a new price repaints the price chart
    only, not the whole 2x2 grid (which is what one shared view did, costing
    up to a frame per update under a flood).
    """

    def __init__(self) -> None:
        super().__init__()
        self.setObjectName("live_charts")
        grid = QGridLayout(self)
        grid.setContentsMargins(0, 0, 0, 0)
        grid.setSpacing(2)
        self.views: list[pg.GraphicsLayoutWidget] = []
        for row, col in ((0, 0), (0, 1), (1, 0), (1, 1)):
            view = pg.GraphicsLayoutWidget()
            self.views.append(view)
            grid.addWidget(view, row, col)
        self.recolor()
        self.equity = EquityChart(self.views[0], 0, 0)
        self.stages = StageChart(self.views[1], 0, 0)
        self.rates = RateChart(self.views[2], 0, 0)
        self.prices = PriceChart(self.views[3], 0, 0)

    def recolor(self) -> None:
        for view in self.views:
            view.setBackground(theme.chart_colors()["background"])

    def update_sections(self, model: LiveModel, dirty: set[str]) -> None:
        if "equity" in dirty:
            self.equity.update(model)
        if "stages" in dirty:
            self.stages.update(model)
        if "rates" in dirty:
            self.rates.update(model)
        if "prices" in dirty:
            self.prices.update(model)
