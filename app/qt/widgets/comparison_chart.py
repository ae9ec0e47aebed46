"""ComparisonChart: several runs' equity on one pyqtgraph chart, as percent return from their start."""

from __future__ import annotations

from typing import Any

import pyqtgraph as pg
from PySide6.QtWidgets import QWidget

from app.models.history_model import Comparison
from app.qt import theme
from app.qt.chart_axes import TradingDateAxis


def run_color(index: int) -> str:
    return theme.SERIES[index % len(theme.SERIES)]


class ComparisonChart(pg.PlotWidget):
    """One curve per run (x = date, y = return %), a legend naming each run.

    :attr:`curves` maps run id -> its ``PlotDataItem``; :attr:`colors` run id -> colour.
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent, axisItems={"bottom": TradingDateAxis()})  # New York trading dates, never crowded
        self.setObjectName("comparison_chart")
        colors = theme.chart_colors()
        self.setBackground(colors["background"])
        self.plot_item = self.getPlotItem()
        self.plot_item.setTitle("Return since start (%)")
        self.plot_item.showGrid(x=True, y=True, alpha=0.2)
        self.plot_item.setMenuEnabled(False)
        self.legend = self.plot_item.addLegend(offset=(8, 8))
        self.zero = pg.InfiniteLine(0, angle=0, pen=pg.mkPen(colors["grid"], width=1))
        self.plot_item.addItem(self.zero)
        self.curves: dict[str, Any] = {}
        self.colors: dict[str, str] = {}

    def set_comparison(self, comparison: Comparison) -> None:
        for item in self.curves.values():
            self.plot_item.removeItem(item)
            self.legend.removeItem(item)
        self.curves, self.colors = {}, {}
        for index, (run_id, points) in enumerate(comparison.curves.items()):
            returns = Comparison.as_return(points)
            color = run_color(index)
            xs = [t / 1000.0 for t, _ in returns]  # the date axis reads epoch seconds
            ys = [v for _, v in returns]
            self.curves[run_id] = self.plot_item.plot(xs, ys, name=run_id, pen=pg.mkPen(color, width=2))
            self.colors[run_id] = color
        self.plot_item.enableAutoRange()
