"""A crosshair that reads a time chart's values at the cursor, and legends whose entries toggle their curve.

:class:`Crosshair`: a vertical line and a label (the date and each visible
series' value there), driven by the scene's ``sigMouseMoved`` through a
``pg.SignalProxy`` (at most 30 updates a second); the work happens only when
the mouse moves over the plot, never on a data refresh. The chart supplies
``describe(x) -> (snapped x, html) | None``.

:class:`ToggleLegend`: a legend laid out outside the plot (in its own row of
the chart's layout); clicking an entry's swatch or its name hides or shows
its curve, and calls ``on_toggle``. On a resize it takes as many columns as
the width allows, or folds away when the chart is too short for it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pyqtgraph as pg
from PySide6.QtCore import QEvent, QObject, QPointF, Qt
from PySide6.QtGui import QFont, QFontMetrics

from app.qt import theme

Describe = Callable[[float], "tuple[float, str] | None"]
RATE_LIMIT_HZ = 30


class _LeaveFilter(QObject):
    def __init__(self, on_leave: Callable[[], None], parent: QObject) -> None:
        super().__init__(parent)
        self.on_leave = on_leave

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt naming
        if event.type() == QEvent.Type.Leave:
            self.on_leave()
        return False


class Crosshair:
    """The crosshair of ``plot`` (and of ``linked`` plots sharing its x), in ``view``.

    Args:
        view: the chart's ``GraphicsLayoutWidget``.
        plot: the plot whose x the cursor reads and where the label is drawn.
        describe: ``x -> (x of the nearest point, label html)`` or None (nothing there).
        linked: plots under the same x (a line is drawn in each; hovering them reads too).
    """

    def __init__(self, view: pg.GraphicsLayoutWidget, plot: pg.PlotItem, describe: Describe,
                 linked: Sequence[pg.PlotItem] = ()) -> None:
        self.plot = plot
        self.describe = describe
        self.plots = (plot, *linked)
        self.lines = []
        for p in self.plots:
            line = pg.InfiniteLine(angle=90, movable=False, pen=self._pen())
            line.setZValue(20)
            line.hide()
            p.addItem(line, ignoreBounds=True)
            self.lines.append(line)
        self.label = pg.TextItem(anchor=(0, 0), fill=pg.mkBrush(0, 0, 0, 170), border=pg.mkPen("#888888"))
        self.label.setZValue(30)
        self.label.hide()
        plot.addItem(self.label, ignoreBounds=True)
        self.text = ""  # the label's html as last shown (tests)
        self.x: float | None = None  # where the line is
        self.moves = 0  # mouse moves handled (after the rate limit)
        self.proxy = pg.SignalProxy(view.scene().sigMouseMoved, rateLimit=RATE_LIMIT_HZ, slot=self._moved)
        self._leave = _LeaveFilter(self.hide, view)
        view.installEventFilter(self._leave)

    @staticmethod
    def _pen() -> Any:
        return pg.mkPen(theme.chart_colors()["foreground"], width=1, style=Qt.PenStyle.DashLine)

    def recolor(self) -> None:
        """The line in the current theme's foreground."""
        for line in self.lines:
            line.setPen(self._pen())

    def _moved(self, args: tuple[QPointF]) -> None:
        self.moves += 1
        pos = args[0]
        for p in self.plots:
            if p.vb.sceneBoundingRect().contains(pos):
                self.show_at(p.vb.mapSceneToView(pos).x())
                return
        self.hide()

    def show_at(self, x: float) -> bool:
        """Put the crosshair at data ``x`` (what a mouse move there does); False if nothing is there."""
        found = self.describe(x)
        if found is None:
            self.hide()
            return False
        snapped, html = found
        self.x = snapped
        for line in self.lines:
            line.setPos(snapped)
            line.show()
        if html != self.text:
            self.text = html
            self.label.setHtml(f"<div style='color:#f0f0f0; font-size:8pt'>{html}</div>")
        (x0, x1), (_, y1) = self.plot.vb.viewRange()
        # The label in the top corner away from the cursor: it never covers the point read, never clipped.
        right = snapped < (x0 + x1) / 2
        self.label.setAnchor((1, 0) if right else (0, 0))
        self.label.setPos(x1 if right else x0, y1)
        self.label.show()
        return True

    def hide(self) -> None:
        self.x = None
        for line in self.lines:
            line.hide()
        self.label.hide()


class ToggleLegend(pg.LegendItem):
    """A legend in its own row of a chart's layout (never over a curve); clicking an entry hides or shows it.

    :meth:`fit` (on a resize of the chart, never on a refresh) lays the entries out in as many
    columns as the width takes, and folds the legend away when its rows would take more than
    ``MAX_SHARE`` of the height or leave the plot less than ``MIN_REST_PX`` (the crosshair still
    names each series). Its height is fixed for
    ``capacity`` entries, so entries coming later never re-lay out the chart under a flood.

    Args:
        capacity: the entries expected (the height is reserved for them).
        on_toggle: called with the curve after a click changed its visibility.
    """

    ROW_PX = 15      # one row of entries (8 pt text beside a swatch)
    SAMPLE_PX = 20   # an entry's swatch
    ENTRY_GAP_PX = 12
    MAX_SHARE = 0.3  # of the chart's height, at most
    MIN_REST_PX = 170  # left to the plot (its title, axes and curves), at least

    def __init__(self, capacity: int = 1, on_toggle: Callable[[Any], None] | None = None) -> None:
        super().__init__(offset=None, labelTextSize="8pt", verSpacing=-6, horSpacing=6)
        self.capacity = capacity
        self.columns = 0
        self.rows = 0
        self.folded = False
        self.home: tuple[pg.GraphicsLayout, int] | None = None
        self._size: tuple[int, int] | None = None
        font = QFont()
        font.setPointSizeF(8.0)
        self._metrics = QFontMetrics(font)
        self._entry_px = 0
        self.on_toggle = on_toggle
        self.sigSampleClicked.connect(self._clicked)
        self._layout_for(400)

    def place(self, layout: pg.GraphicsLayout, row: int) -> None:
        """Put the legend in ``row`` of the chart's ``layout`` (and there again when unfolded)."""
        self.home = (layout, row)
        layout.addItem(self, row=row, col=0)

    def _layout_for(self, width: int) -> int:
        """Columns and the fixed height for ``width`` pixels; returns the height."""
        columns = max(1, min(max(self.capacity, len(self.items)), (width - 8) // max(self._entry_px, 60)))
        rows = -(-max(self.capacity, len(self.items)) // columns)
        if columns != self.columns:
            self.columns = columns
            self.setColumnCount(columns)
        height = rows * self.ROW_PX + 6
        if rows != self.rows:
            self.rows = rows
            self.setMinimumHeight(height)
            self.setMaximumHeight(height)
        self.setMinimumWidth(0)  # the chart's width decides, never the legend's
        return height

    def fit(self, width: int, height: int) -> None:
        """Lay the entries out for a chart of ``width`` x ``height`` pixels, or fold the legend away."""
        self._size = (width, height)
        needed = self._layout_for(width)
        self.fold(needed > height * self.MAX_SHARE or height - needed < self.MIN_REST_PX)

    def fold(self, folded: bool) -> None:
        """Fold the legend away or back; folded, it leaves the layout (a hidden item would keep its row)."""
        if folded == self.folded or self.home is None:
            return
        self.folded = folded
        layout, row = self.home
        if folded:
            layout.removeItem(self)
        else:
            layout.addItem(self, row=row, col=0)
        self.setVisible(not folded)

    def updateSize(self) -> None:  # noqa: N802 - pyqtgraph naming
        pass  # the chart's layout places and sizes the legend (see _layout_for)

    def addItem(self, item: Any, name: str) -> None:  # noqa: N802 - pyqtgraph naming
        super().addItem(item, name)
        sample, label = self.items[-1]
        label.mouseClickEvent = lambda event, s=sample: s.mouseClickEvent(event)  # the name toggles too
        entry = self.SAMPLE_PX + self._metrics.horizontalAdvance(name) + self.ENTRY_GAP_PX
        if entry > self._entry_px or len(self.items) > self.capacity:
            self._entry_px = max(self._entry_px, entry)
            self.capacity = max(self.capacity, len(self.items))
            if self._size is not None:
                self.fit(*self._size)
            else:
                self._layout_for(400)

    def _clicked(self, item: Any) -> None:
        if self.on_toggle is not None:
            self.on_toggle(item)
