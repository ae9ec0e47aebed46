"""The Live pipeline panel's pyqtgraph charts, each fed from :class:`app.models.live_model.LiveModel`.

Each chart has its own view, so an update repaints that chart only. Each chart's ``update(model)`` only moves data
into existing items (``setData`` / ``setOpts``): nothing is created per
refresh, so a 30 Hz refresh stays cheap. The model bounds how many points exist
(a few hundred a curve), so the equity and price curves are PlotCurveItems fed
the points as they are (a PlotDataItem's clipping and downsampling pass cost
2/3 of each update and changed nothing drawn at that size).

The view ranges are sticky (:class:`StickyRange`), not auto-ranged: a range
moves only when the data leave it (with headroom ahead of a growing time
axis) or shrink well inside it. Between such moves the axes keep their ticks
and redraw from their cached pixmaps; axes re-laid out and their text drawn
again on every update were most of a chart's paint under a flood of events.

What a trader reads (``chart_axes``, ``chart_crosshair``, ``chart_data``):
the time axes are New York trading dates whose step fits the width; legends
sit in their own row under the plot (never over a curve) and a click on an
entry hides or shows its curve; every chart has a crosshair reading the date
and each visible series' value at the cursor (work done on mouse moves only,
rate-limited); the team's trades are markers on the price chart (a triangle
up for a buy, down for a sell, in the ticker's colour), appended as they
arrive; the equity chart has its drawdown from the running peak under it
(extended O(1) a point); the stage chart's bars are each day's total on a
log scale (a 10 s approval wait and a 5 ms day both read), coloured by each
stage's share of the day.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import pyqtgraph as pg
from PySide6.QtCore import QEvent, QObject
from PySide6.QtWidgets import QGraphicsItem, QGridLayout, QWidget

from app.models.live_model import CURVES, STAGE_LABELS, LiveModel
from app.qt import theme
from app.qt.chart_axes import DayIndexAxis, DurationAxis, TradingDateAxis, format_date, format_instant, format_ms
from app.qt.chart_crosshair import Crosshair, ToggleLegend
from app.qt.chart_data import Drawdown, at_or_before, nearest

pg.setConfigOptions(antialias=False, useOpenGL=False, foreground=theme.chart_colors()["foreground"])

STAGE_ORDER = tuple(STAGE_LABELS)
MAX_STAGE_DAYS = 40  # days shown in the stage timeline (older ones stay in the model)
MAX_RATE_TYPES = 6   # busiest event types drawn
MAX_MARKERS = 3000   # trade markers kept on the price chart (the model keeps fewer trades)
AXIS_WIDTH = 64      # pixels of the left axes (fits "100,000.0")
MIN_STAGE_SLOTS = 10  # bar slots shown before that many days have run
MAX_LABEL_TRADES = 5  # trades the price crosshair lists for a day
TITLE_SIZE = "10pt"
PRICE_LEGEND_ROOM = 8  # tickers the price chart's legend makes room for (more grow it once)
INTRADAY_S = 43_200  # points closer than this on average: the crosshair also says the time


# The legend's and the crosshair's names of the curves (CURVE_LABELS in full are too wide for a legend row).
SHORT_LABELS = {"equity": "Team equity", "baseline": "Equal-wt B&H", "baseline_vw": "Value-wt B&H",
                "momentum": "Momentum"}
DRAWDOWN_LABEL = "Drawdown %"


def _pen(index: int, width: float = 1.0) -> Any:
    # Width 1 (cosmetic) lines take pyqtgraph's fast path; wider ones cost ~30 % more per paint.
    return pg.mkPen(theme.SERIES[index % len(theme.SERIES)], width=width)


def ticker_color(index: int) -> str:
    """The colour of the ``index``-th ticker's price line (the ticker bar uses it as the legend)."""
    return theme.SERIES[index % len(theme.SERIES)]


def _cache(item: Any) -> None:
    # Repainted from a pixmap unless it changed: text is the costliest part of a paint.
    item.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)


def _plot(layout: pg.GraphicsLayoutWidget, row: int, col: int, title: str | None, *,
          bottom: pg.AxisItem | None = None, left: pg.AxisItem | None = None) -> pg.PlotItem:
    axes = {k: v for k, v in (("bottom", bottom), ("left", left)) if v is not None}
    plot = layout.addPlot(row=row, col=col, axisItems=axes or None)
    if title:
        plot.setTitle(title, size=TITLE_SIZE)  # short titles in 10 pt: a plot still fits a 1366 px screen's dock
    plot.showGrid(x=True, y=True, alpha=0.2)
    plot.setClipToView(True)
    plot.setDownsampling(auto=True, mode="peak")
    plot.setMenuEnabled(False)
    _cache(plot.titleLabel)  # the title never changes
    for name in ("left", "bottom"):
        _cache(plot.getAxis(name))
    # A fixed width: longer tick labels must not re-layout (and so repaint) all four plots.
    plot.getAxis("left").setWidth(AXIS_WIDTH)
    plot.getAxis("left").enableAutoSIPrefix(False)  # values as they are, never "(x0.001)"
    return plot


def _curve(plot: pg.PlotItem, pen: Any, **opts: Any) -> pg.PlotCurveItem:
    """A curve drawn straight from its points: a PlotCurveItem, not a PlotDataItem (whose setData is ~3x
    the cost: its clipping and downsampling pass decide nothing for the few hundred points a live curve holds)."""
    curve = pg.PlotCurveItem(pen=pen, **opts)
    plot.addItem(curve)
    return curve


def _legend(layout: pg.GraphicsLayoutWidget, row: int, capacity: int,
            on_toggle: Callable[[Any], None]) -> ToggleLegend:
    """A legend in its own layout row under the plot, room made for ``capacity`` entries: it never covers a curve."""
    legend = ToggleLegend(capacity=capacity, on_toggle=on_toggle)
    legend.place(layout.ci, row)
    _cache(legend)
    return legend


DD_FLOORS = (0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0)


def _nice_floor(worst_pct: float) -> float:
    """The drawdown plot's bottom for a worst drawdown: a round step below it, so the range seldom moves."""
    return -next((f for f in DD_FLOORS if -worst_pct * 1.1 <= f), DD_FLOORS[-1])


def _swatch(color: str, name: str) -> str:
    return f"<span style='color:{color}'>&#9632;</span> {name}"


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
    """Team equity against the three baselines (x = date), its drawdown from peak under it (linked x)."""

    def __init__(self, view: pg.GraphicsLayoutWidget) -> None:
        self.plot = _plot(view, 0, 0, "Equity vs baselines", bottom=TradingDateAxis())
        self.plot.getAxis("bottom").setStyle(showValues=False)  # the drawdown plot under it shows the dates
        self.legend = _legend(view, 2, len(CURVES) + 1, self._toggled)
        self.curves = {}
        self.colors: dict[str, str] = {}
        for i, name in enumerate(CURVES):
            self.curves[name] = _curve(self.plot, _pen(i, 2.0 if i == 0 else 1.0))
            self.colors[name] = theme.SERIES[i % len(theme.SERIES)]
            self.legend.addItem(self.curves[name], SHORT_LABELS[name])
        self.dd_plot = _plot(view, 1, 0, None, bottom=TradingDateAxis())
        self.dd_plot.setXLink(self.plot)
        self.dd_curve = _curve(self.dd_plot, pg.mkPen(theme.DRAWDOWN), fillLevel=0.0,
                               brush=pg.mkBrush(theme.DRAWDOWN + "55"))
        self.legend.addItem(self.dd_curve, DRAWDOWN_LABEL)
        layout = view.ci.layout
        layout.setRowStretchFactor(0, 3)
        layout.setRowStretchFactor(1, 1)
        self.drawdown = Drawdown()
        self.range = StickyRange(self.plot)
        self.dd_range = StickyRange(self.dd_plot, x_ahead=None, y_pad=0.0, shrink=0.0)
        self._model: LiveModel | None = None
        self.crosshair = Crosshair(view, self.plot, self.describe, linked=(self.dd_plot,))
        # No values on the two short y axes before the first point: an empty 0..1 range crowds them.
        self.values_shown = False
        for plot in (self.plot, self.dd_plot):
            plot.getAxis("left").setStyle(showValues=False)

    def _toggled(self, _item: Any) -> None:
        self.range.x = self.range.y = None  # refit to what is shown
        if self._model is not None:
            self.update(self._model)

    def update(self, model: LiveModel) -> None:
        self._model = model
        xb, yb = [], []
        for name, item in self.curves.items():
            series = model.curves[name]
            item.setData(series.xs, series.ys)
            if series.xs and item.isVisible():
                xb.append((series.xs[0], series.xs[-1]))  # points are kept in x order
                yb.append(_bounds(series.ys))
        self.range.fit(_join(*xb), _join(*yb))
        if xb and not self.values_shown:
            self.values_shown = True
            for plot in (self.plot, self.dd_plot):
                plot.getAxis("left").setStyle(showValues=True)
        equity = model.curves["equity"]
        self.drawdown.update(equity.xs, equity.ys)
        self.dd_curve.setData(self.drawdown.xs, self.drawdown.pcts)
        if self.drawdown.pcts:
            self.dd_range.fit(None, (_nice_floor(self.drawdown.worst), 0.0))

    def describe(self, x: float) -> tuple[float, str] | None:
        """The crosshair's label at ``x``: the nearest day's date, each shown curve's value, the drawdown."""
        if self._model is None:
            return None
        equity = self._model.curves["equity"]
        ref = equity if equity.xs else next((self._model.curves[n] for n in CURVES if self._model.curves[n].xs), None)
        i = nearest(ref.xs, x) if ref is not None else None
        if ref is None or i is None:
            return None
        at = ref.xs[i]
        lines = [f"<b>{format_instant(at, False)}</b>"]
        for name, item in self.curves.items():
            series = self._model.curves[name]
            j = nearest(series.xs, at)
            if item.isVisible() and j is not None and series.xs[j] == at:
                lines.append(f"{_swatch(self.colors[name], SHORT_LABELS[name])} {series.ys[j]:,.2f}")
        k = nearest(self.drawdown.xs, at)
        if k is not None and self.drawdown.xs[k] == at:
            lines.append(f"{_swatch(theme.DRAWDOWN, 'Drawdown')} {self.drawdown.pcts[k]:.2f} %")
        return at, "<br>".join(lines)


class StageChart:
    """Stage timings per day: one bar per day, its height the day's total time on a log scale
    (so a 10 s approval wait and a 5 ms day both read), split in colours by each stage's share."""

    def __init__(self, view: pg.GraphicsLayoutWidget) -> None:
        self.axis = DayIndexAxis()
        self.plot = _plot(view, 0, 0, "Stage time per day (log)", bottom=self.axis,
                          left=DurationAxis("left"))
        self.legend = _legend(view, 1, len(STAGE_ORDER), self._toggled)
        self.bars = {}
        for i, stage in enumerate(STAGE_ORDER):
            bar = pg.BarGraphItem(x=[], height=[], y0=[], width=0.8, brush=theme.SERIES[i % len(theme.SERIES)],
                                  pen=None)
            self.plot.addItem(bar)
            self.legend.addItem(bar, STAGE_LABELS[stage])
            self.bars[stage] = bar
        self.dates: list[str] = []
        self.floor = -1.0  # log10(ms) of the bars' foot
        self.range = StickyRange(self.plot, x_ahead=None, y_pad=0.04)
        # x: a slot per shown day (at least MIN_STAGE_SLOTS), moved only while the days grow to MAX_STAGE_DAYS.
        self.slots = 0
        self._slots(0)
        self._model: LiveModel | None = None
        self.crosshair = Crosshair(view, self.plot, self.describe)

    def _toggled(self, _item: Any) -> None:
        if self._model is not None:
            self.update(self._model)

    def _slots(self, days: int) -> None:
        slots = min(MAX_STAGE_DAYS, max(MIN_STAGE_SLOTS, days))
        if slots != self.slots:
            self.slots = slots
            self.plot.getViewBox().setRange(xRange=(-1.0, slots - 0.2), padding=0)  # room for the first label

    def shown_stages(self) -> list[str]:
        return [stage for stage, bar in self.bars.items() if bar.isVisible()]

    def update(self, model: LiveModel) -> None:
        self._model = model
        self.dates = list(model.stages)[-MAX_STAGE_DAYS:]
        self.axis.set_dates(self.dates)
        self._slots(len(self.dates))
        shown = self.shown_stages()
        days = [model.stages[d] for d in self.dates]
        totals = [sum(day.get(s, 0.0) for s in shown) for day in days]
        positive = [t for t in totals if t > 0]
        if positive:
            self.floor = math.floor(math.log10(min(positive))) - 1.0
        tops = [math.log10(t) - self.floor if t > 0 else 0.0 for t in totals]
        xs = list(range(len(self.dates)))
        base = [self.floor] * len(xs)
        for stage, bar in self.bars.items():
            if stage not in shown:
                continue
            heights = [top * day.get(stage, 0.0) / total if total > 0 else 0.0
                       for top, day, total in zip(tops, days, totals)]
            bar.setOpts(x=xs, height=heights, y0=list(base), width=0.8)
            base = [b + h for b, h in zip(base, heights)]
        if positive:
            self.range.fit(None, (self.floor, math.log10(max(positive))))

    def describe(self, x: float) -> tuple[float, str] | None:
        """The crosshair's label at slot ``x``: the day, its total and each stage's time."""
        i = int(round(x))
        if self._model is None or not 0 <= i < len(self.dates):
            return None
        day = self._model.stages.get(self.dates[i], {})
        shown = self.shown_stages()
        total = sum(day.get(s, 0.0) for s in shown)
        lines = [f"<b>{self.dates[i]}</b> total {format_ms(total)}"]
        for k, stage in enumerate(STAGE_ORDER):
            if stage in shown and day.get(stage):
                lines.append(f"{_swatch(theme.SERIES[k % len(theme.SERIES)], STAGE_LABELS[stage])} "
                             f"{format_ms(day[stage])}")
        return float(i), "<br>".join(lines)


class RateChart:
    """Events per second by type over the last two minutes."""

    def __init__(self, view: pg.GraphicsLayoutWidget) -> None:
        self.plot = _plot(view, 0, 0, "Events per second")
        self.plot.setLabel("bottom", "seconds ago")
        self.legend = _legend(view, 1, MAX_RATE_TYPES, lambda _item: None)
        self.range = StickyRange(self.plot, x_ahead=None, y_pad=0.15)
        self.plot.setXRange(-120, 0, padding=0)  # a fixed window: the x axis never needs redrawing
        self.lines: dict[str, Any] = {}
        self.colors: dict[str, str] = {}
        self._series: dict[str, tuple[list[float], list[float]]] = {}
        self.crosshair = Crosshair(view, self.plot, self.describe)

    def update(self, model: LiveModel, now: float | None = None) -> None:
        now = now if now is not None else model.clock()
        rates = model.rates
        series = {kind: rates.series(kind, now) for kind in rates.types}  # each type's once a refresh
        totals = {kind: sum(ys) for kind, (_xs, ys) in series.items()}
        shown = [k for k, v in sorted(totals.items(), key=lambda kv: -kv[1]) if v > 0][:MAX_RATE_TYPES]
        top = 0.0
        for kind in list(self.lines):
            if kind not in shown:
                self.plot.removeItem(self.lines.pop(kind))
                self.legend.removeItem(kind)
                self._series.pop(kind, None)
        for kind in shown:
            xs, ys = series[kind]
            line = self.lines.get(kind)
            if line is None:
                index = next(i for i in range(len(theme.SERIES) + MAX_RATE_TYPES)
                             if ticker_color(i) not in {self.colors.get(k) for k in self.lines})
                self.colors[kind] = ticker_color(index)
                line = self.lines[kind] = _curve(self.plot, pg.mkPen(self.colors[kind]))
                self.legend.addItem(line, kind)
            line.setData(xs, ys)
            self._series[kind] = (xs, ys)
            if line.isVisible():
                top = max(top, max(ys, default=0.0))
        self.range.fit(None, (0.0, top) if shown else None)

    def describe(self, x: float) -> tuple[float, str] | None:
        """The crosshair's label at ``x`` seconds ago: each shown type's events in that second."""
        lines = []
        at = None
        for kind, (xs, ys) in self._series.items():
            j = nearest(xs, x)
            if j is None or not self.lines[kind].isVisible():
                continue
            at = xs[j]
            lines.append(f"{_swatch(self.colors[kind], kind)} {ys[j]:g}/s")
        if at is None:
            return None
        return at, "<br>".join([f"<b>{-at:.0f} s ago</b>", *lines])


class PriceChart:
    """Prices per ticker (x = market time) and the team's trades as markers (a triangle up for a
    buy, down for a sell, in the ticker's colour). The legend, under the plot, toggles a ticker
    (its line and its trades); the ticker bar shows each ticker in its line's colour (:meth:`color_of`)."""

    def __init__(self, view: pg.GraphicsLayoutWidget) -> None:
        self.plot = _plot(view, 0, 0, "Prices (\u25b2 buy \u25bc sell)", bottom=TradingDateAxis())
        self.legend = _legend(view, 1, PRICE_LEGEND_ROOM, self._toggled)
        self.lines: dict[str, Any] = {}
        self.markers: dict[str, pg.ScatterPlotItem] = {}  # the ticker's trades
        self.colors: dict[str, str] = {}
        self.trade_ids: set[str] = set()
        self.trades_on: dict[str, list[str]] = {}  # trading date -> "BUY 23 NVDA @ 139.95" lines
        self.marker_count = 0
        self._pens = {True: pg.mkPen(theme.BUY, width=1.5), False: pg.mkPen(theme.SELL, width=1.5)}
        self._brushes: dict[str, Any] = {}
        self._trade_bounds: tuple[float, float, float, float] | None = None  # x lo, x hi, price lo, price hi
        self.range = StickyRange(self.plot)
        self._model: LiveModel | None = None
        self.crosshair = Crosshair(view, self.plot, self.describe)

    def color_of(self, ticker: str) -> str:
        if ticker not in self.colors:
            self.colors[ticker] = ticker_color(len(self.colors))
        return self.colors[ticker]

    def _toggled(self, line: Any) -> None:
        for ticker, item in self.lines.items():
            if item is line and ticker in self.markers:
                self.markers[ticker].setVisible(line.isVisible())
        self.range.x = self.range.y = None
        if self._model is not None:
            self.update(self._model)

    def _line(self, ticker: str) -> Any:
        line = self.lines.get(ticker)
        if line is None:
            line = self.lines[ticker] = _curve(self.plot, pg.mkPen(self.color_of(ticker)))
            self.legend.addItem(line, ticker)
        return line

    def _marker(self, ticker: str) -> pg.ScatterPlotItem:
        scatter = self.markers.get(ticker)
        if scatter is None:
            scatter = self.markers[ticker] = pg.ScatterPlotItem(size=10, pxMode=True)
            scatter.setZValue(10)
            self.plot.addItem(scatter)
            scatter.setVisible(self._line(ticker).isVisible())
        return scatter

    def _clear_markers(self) -> None:
        for scatter in self.markers.values():
            scatter.clear()
        self.trade_ids, self.trades_on, self.marker_count, self._trade_bounds = set(), {}, 0, None

    def update_trades(self, model: LiveModel) -> None:
        """Append the markers of trades not drawn yet (the model keeps trades newest first)."""
        trades = model.trades
        fresh = []
        for trade in trades:
            if trade.id in self.trade_ids:
                break
            fresh.append(trade)
        replaced = bool(self.trade_ids) and len(fresh) == len(trades)  # none of the drawn ones is left
        if (replaced or not trades or self.marker_count + len(fresh) > MAX_MARKERS) and self.marker_count:
            self._clear_markers()  # a new run, a replaced list, or too many: drawn again from the model
            fresh = list(trades)
        by_ticker: dict[str, list[Any]] = {}
        for trade in reversed(fresh):  # oldest first
            by_ticker.setdefault(trade.ticker, []).append(trade)
            self.trade_ids.add(trade.id)
            buy = trade.side == "LONG"
            self.trades_on.setdefault(trade.trading_date, []).append(
                f"{'BUY' if buy else 'SELL'} {trade.quantity:,} {trade.ticker} @ {trade.price:,.2f}")
            x, y = trade.timestamp / 1000.0, trade.price
            x0, x1, y0, y1 = self._trade_bounds or (x, x, y, y)
            self._trade_bounds = (min(x0, x), max(x1, x), min(y0, y), max(y1, y))
        for ticker, rows in by_ticker.items():
            brush = self._brushes.get(ticker)
            if brush is None:
                brush = self._brushes[ticker] = pg.mkBrush(self.color_of(ticker))
            # The same pen and brush objects each time: the symbol atlas renders each style once.
            self._marker(ticker).addPoints(
                x=[t.timestamp / 1000.0 for t in rows], y=[t.price for t in rows],
                symbol=["t1" if t.side == "LONG" else "t" for t in rows], brush=brush,
                pen=[self._pens[t.side == "LONG"] for t in rows])
            self.marker_count += len(rows)

    def update(self, model: LiveModel) -> None:
        self._model = model
        xb, yb = [], []
        for ticker in sorted(model.prices):
            series = model.prices[ticker]
            line = self._line(ticker)
            line.setData(series.xs, series.ys)
            if series.xs and line.isVisible():
                xb.append((series.xs[0], series.xs[-1]))
                yb.append(_bounds(series.ys))
        self.update_trades(model)
        if self._trade_bounds is not None and yb:  # the markers in view too (a day's trades precede its close)
            xb.append(self._trade_bounds[:2])
            yb.append(self._trade_bounds[2:])
        self.range.fit(_join(*xb), _join(*yb))
        for ticker in [t for t in self.lines if t not in model.prices and not self.markers.get(t)]:
            self.legend.removeItem(self.lines[ticker])
            self.plot.removeItem(self.lines.pop(ticker))

    def describe(self, x: float) -> tuple[float, str] | None:
        """The crosshair's label at ``x``: the date (and time, intraday), each shown ticker's price
        there and the team's trades of that day."""
        if self._model is None:
            return None
        shown = [(t, s) for t, s in sorted(self._model.prices.items()) if s.xs and self.lines.get(t) is not None
                 and self.lines[t].isVisible()]
        if not shown:
            return None
        best = min((s.xs[i] for _, s in shown if (i := nearest(s.xs, x)) is not None), key=lambda v: abs(v - x))
        intraday = any(len(s.xs) > 1 and (s.xs[-1] - s.xs[0]) / (len(s.xs) - 1) < INTRADAY_S for _, s in shown)
        lines = [f"<b>{format_instant(best, intraday)}</b>"]
        for ticker, series in shown:
            j = at_or_before(series.xs, best)
            if j is not None:
                lines.append(f"{_swatch(self.color_of(ticker), ticker)} {series.ys[j]:,.2f}")
        lines += self.trades_on.get(format_date(best), [])[:MAX_LABEL_TRADES]
        return best, "<br>".join(lines)


class _ResizeFilter(QObject):
    def __init__(self, on_resize: Callable[[Any], None], parent: QObject) -> None:
        super().__init__(parent)
        self.on_resize = on_resize

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt naming
        if event.type() == QEvent.Type.Resize:
            self.on_resize(watched)
        return False


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
        self.equity = EquityChart(self.views[0])
        self.stages = StageChart(self.views[1])
        self.rates = RateChart(self.views[2])
        self.prices = PriceChart(self.views[3])
        # The view each section draws into (prices and trades: both the price chart).
        self.view_of = {"equity": self.views[0], "stages": self.views[1], "rates": self.views[2],
                        "prices": self.views[3], "trades": self.views[3]}
        self._legends = {self.views[0]: self.equity.legend, self.views[1]: self.stages.legend,
                         self.views[2]: self.rates.legend, self.views[3]: self.prices.legend}
        self._resized = _ResizeFilter(self._fold_legends, self)
        for view in self.views:
            view.installEventFilter(self._resized)

    def _fold_legends(self, view: Any) -> None:
        """A legend takes as many columns as the chart's width allows, or folds away in a short chart."""
        legend = self._legends.get(view)
        if legend is not None:
            legend.fit(view.width() - AXIS_WIDTH // 2, view.height())

    def recolor(self) -> None:
        for view in self.views:
            view.setBackground(theme.chart_colors()["background"])
        for name in ("equity", "stages", "rates", "prices"):
            chart = getattr(self, name, None)  # None while the charts are being built
            if chart is not None:
                chart.crosshair.recolor()

    def update_sections(self, model: LiveModel, dirty: set[str]) -> None:
        if "equity" in dirty:
            self.equity.update(model)
        if "stages" in dirty:
            self.stages.update(model)
        if "rates" in dirty:
            self.rates.update(model)
        if "prices" in dirty:
            self.prices.update(model)
        elif "trades" in dirty:
            self.prices.update_trades(model)  # new trades' markers without waiting for the next price
