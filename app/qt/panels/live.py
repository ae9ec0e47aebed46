"""Live pipeline panel: charts, ticker bar, activity feed, holdings, today's trades, run controls.

Gateway events, parsed by the Gateway client (:func:`backend.schema.events.parse_frame`),
are applied to the Qt-free :class:`LiveModel` as they arrive (cheap, no
widget touched); a :class:`Throttle` redraws only the sections the model
marks dirty, at most 30 times a second. Frames the client refused are
counted by the model and shown next to the run's status line
(``live_refused``: how many, the last one's type and first problem).

Replay: ``await live_panel.replay(path, speed)`` plays a finished run's
``events.jsonl`` through the same model and views (live events are ignored
meanwhile; ``stop_replay()`` returns to the live run).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterable
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDoubleSpinBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QProgressBar,
    QSizePolicy,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from app.models.live_model import LiveModel
from app.panel_api import MutatingControls
from app.qt.async_helpers import spawn
from app.qt.bridge import Throttle
from app.qt.charts import LiveCharts
from app.qt.observe import observe
from app.qt.panels.live_feed import FeedView
from backend.clients.errors import ServiceError
from backend.schema.events import Event, FrameRefused, System

HOLDING_COLUMNS = ("Ticker", "Quantity", "Avg", "Price", "Market value", "Weight")
TRADE_COLUMNS = ("Id", "Ticker", "Side", "Quantity", "Price", "Date")
# Minimum seconds between redraws of a section. Charts cost the most to paint; the rate chart's
# data only changes once a second, the stage chart's once a trading day. Labels and tables are
# cheap, but each redraw repaints them: a few times a second is as fast as anyone reads them.
# The feed and the equity chart: each redraw is a full repaint of the view (~5-10 ms of the GUI
# thread under a flood, whatever the number of new lines or days), so twice a second.
SECTION_INTERVALS = {"rates": 1.0, "prices": 0.5, "equity": 0.5, "stages": 1.0, "feed": 0.5,
                     "tickers": 0.2, "holdings": 0.25, "trades": 0.5, "status": 0.1}
# Sections whose repaint costs several ms: at most one of them is redrawn per refresh
# ("trades" too: new trades put their markers on the price chart).
HEAVY_SECTIONS = frozenset({"rates", "prices", "equity", "stages", "feed", "trades"})
# Costly sections drawn into the same view: when one is drawn, the other is too if it is due.
SHARED_PAINTS = (frozenset({"prices", "trades"}),)

def _fmt(value: Any, digits: int = 2) -> str:
    if isinstance(value, bool) or value is None:
        return "" if value is None else str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return str(value)


NO_RUN_TEXT = "No run yet: start the local stack, or follow a run from Run history"
NO_RUN_REASON = "No run is followed yet: start the local stack, or follow a run from Run history"
RUN_NAMING_EVENTS = frozenset({"hello", "initial_state", "run_status"})


class LivePanel(QWidget):
    """The live view of the watched run.

    Args:
        model: the model to show (default: a fresh :class:`LiveModel`).
        hz: maximum refresh rate of the views.
    """

    panel_id = "live"
    title = "Live pipeline"
    services = ("gateway",)

    def __init__(self, model: LiveModel | None = None, hz: float = 30.0, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("live_panel")
        self.model = model or LiveModel()
        self.session: Any = None
        self.read_only_reason: str | None = None
        self.controls = MutatingControls()
        self._replay_task: asyncio.Task[int] | None = None
        self._replay_mode = False  # True from replay() until stop_replay(): live events are ignored
        self._build()
        self._last_update: dict[str, float] = {}
        self._cheap_waited = False  # the last refresh drew a costly section while cheap ones were due
        self._held: set[QWidget] = set()  # views whose repaint a throttled refresh holds back (_paint_later)
        self.throttle = Throttle(self.refresh, hz=hz, parent=self)
        observe(self.model.changed, self, self._on_model_changed)
        self._clock = QTimer(self)  # the rate chart scrolls even when no event arrives
        self._clock.timeout.connect(self._tick)
        self._clock.start(1000)
        self.refresh()

    # -- construction ---------------------------------------------------------

    def _build(self) -> None:
        self.run_label = QLabel(NO_RUN_TEXT)
        self.run_label.setObjectName("live_run_label")
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setMaximumWidth(200)
        self.pause_button = self.controls.add(QPushButton("Pause"), "Pause the run after the current stage")
        self.resume_button = self.controls.add(QPushButton("Resume"), "Resume the run")
        self.pace = self.controls.add(QDoubleSpinBox(), "Seconds per trading day (0 = as fast as possible)")
        self.pace.setRange(0.0, 3600.0)
        self.pace.setDecimals(1)
        self.pace.setSuffix(" s/day")
        self.pace_button = self.controls.add(QPushButton("Set pace"), "Apply the pace to the running run")
        for name, widget in (("pause", self.pause_button), ("resume", self.resume_button),
                             ("pace", self.pace), ("set_pace", self.pace_button)):
            widget.setObjectName(f"live_{name}")
        self.pause_button.clicked.connect(lambda *_: spawn(self._command("pause")))
        self.resume_button.clicked.connect(lambda *_: spawn(self._command("resume")))
        self.pace_button.clicked.connect(lambda *_: spawn(self._command("set_pace", self.pace.value())))
        self.command_status = QLabel()
        self.command_status.setObjectName("live_command_status")
        self.refused_label = QLabel()  # frames the desk could not parse: never dropped silently
        self.refused_label.setObjectName("live_refused")
        self.refused_label.setStyleSheet("color: #f85149")
        self.refused_label.hide()
        # Two rows: the run's status line over its controls, so neither is clipped in a narrow dock.
        status_row = QHBoxLayout()
        status_row.addWidget(self.run_label, 1)
        status_row.addWidget(self.refused_label)
        status_row.addWidget(self.progress)
        controls_row = QHBoxLayout()
        for widget in (self.pause_button, self.resume_button, self.pace, self.pace_button, self.command_status):
            controls_row.addWidget(widget)
        controls_row.addStretch(1)
        self.ticker_bar = QLabel()
        self.ticker_bar.setObjectName("ticker_bar")
        self.ticker_bar.setTextFormat(Qt.TextFormat.RichText)
        # Fixed heights above the charts: a label growing a line would resize (and fully repaint) them.
        self.ticker_bar.setFixedHeight(self.ticker_bar.fontMetrics().height() + 6)
        # Ignored width: new text never re-lays out the panel (which would repaint everything).
        for label in (self.ticker_bar, self.run_label, self.command_status):
            label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
        self.run_label.setMinimumWidth(200)
        self.command_status.setMinimumWidth(160)
        self.replay_banner = QLabel()
        self.replay_banner.setObjectName("replay_banner")
        self.replay_banner.hide()
        self.stop_replay_button = QPushButton("Stop replay")
        self.stop_replay_button.hide()
        self.stop_replay_button.clicked.connect(lambda *_: self.stop_replay())
        replay_row = QHBoxLayout()
        replay_row.addWidget(self.replay_banner, 1)
        replay_row.addWidget(self.stop_replay_button)

        self.charts = LiveCharts()
        self.feed_view = FeedView(self.model)
        self.feed = self.feed_view.tree  # the tree and filters, reachable from the panel (tests, e2e)
        self.agent_filter = self.feed_view.agent_filter
        self.type_filter = self.feed_view.type_filter
        self.holdings = self._table("live_holdings", HOLDING_COLUMNS)
        self.trades = self._table("live_trades", TRADE_COLUMNS)
        self.tabs = QTabWidget()
        self.tabs.addTab(self.feed_view, "Activity feed")
        self.tabs.addTab(self.holdings, "Holdings")
        self.tabs.addTab(self.trades, "Today's trades")
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(self.charts)
        splitter.addWidget(self.tabs)
        splitter.setSizes([700, 500])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addLayout(status_row)
        layout.addLayout(controls_row)
        layout.addWidget(self.ticker_bar)
        layout.addLayout(replay_row)
        layout.addWidget(splitter, 1)

    @staticmethod
    def _table(name: str, columns: tuple[str, ...]) -> QTableWidget:
        table = QTableWidget(0, len(columns))
        table.setObjectName(name)
        table.setHorizontalHeaderLabels(columns)
        table.verticalHeader().hide()
        table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        return table

    # -- Panel protocol -------------------------------------------------------

    def attach(self, session: Any) -> None:
        self.session = session
        session.gateway_event.connect(self._on_event)
        session.frame_refused.connect(self._on_refused)
        session.changed.connect(self._on_session_event)
        gateway = session.gateway
        if gateway is not None and gateway.initial_state is not None:
            self._on_event(gateway.initial_state)

    def set_read_only(self, reason: str | None) -> None:
        self.read_only_reason = reason
        self._apply_controls()

    def _apply_controls(self) -> None:
        """The run controls: disabled with the role's reason, or because there is no run to act on yet."""
        reason = self.read_only_reason or (None if self.model.run_id else NO_RUN_REASON)
        if reason != self.controls.reason:
            self.controls.set_read_only(reason)

    def on_theme_changed(self, effective: str) -> None:
        self.charts.recolor()

    def detach(self) -> None:
        self._clock.stop()
        self.stop_replay()

    # -- replay ---------------------------------------------------------------

    async def replay(self, source: str | Path | AsyncIterable[bytes], speed: float = 1.0,
                     name: str | None = None) -> int:
        """Play a finished run's events through this panel (see module docstring).

        ``source``: the run's events.jsonl, or its lines streamed from
        runtime_service (a remote profile); ``name`` is the run shown in the
        banner (default: the run folder of the path).
        """
        self.stop_replay()
        self._replay_mode = True
        name = name or (Path(source).parent.parent.name if isinstance(source, (str, Path)) else "the run")
        self.replay_banner.setText(f"Replaying {name} at "
                                   f"{speed:g} days/s" if speed else "Replaying (as fast as possible)")
        self.replay_banner.show()
        self.stop_replay_button.show()
        self.feed_view.rebuild()
        task = asyncio.get_event_loop().create_task(self.model.replay(source, speed))
        self._replay_task = task
        ending = "finished"
        try:
            return await task
        except ServiceError as err:  # a remote stream that broke off: say so, keep what was played
            ending = f"stopped: {err}"
            return self.model.applied
        finally:
            if self._replay_task is task:
                self._replay_task = None
                self.replay_banner.setText(f"Replay of {name} {ending} (Stop replay returns to the live run)")

    def stop_replay(self) -> None:
        task, self._replay_task = self._replay_task, None
        if task is not None and not task.done():
            task.cancel()
        if self._replay_mode:
            self._replay_mode = False
            self.replay_banner.hide()
            self.stop_replay_button.hide()
            self.model.reset()
            self.feed_view.rebuild()
            gateway = getattr(self.session, "gateway", None)
            if gateway is not None and gateway.initial_state is not None:
                self.model.apply(gateway.initial_state)
                spawn(self._resync(gateway))

    @property
    def replaying(self) -> bool:
        return self._replay_mode

    # -- events ---------------------------------------------------------------

    def _on_event(self, event: Event) -> None:
        if self.replaying:
            return  # the replay owns the model until stopped
        self.model.apply(event)

    def _on_refused(self, refusal: FrameRefused) -> None:
        if not self.replaying:
            self.model.refuse(refusal)

    def _on_model_changed(self, kind: str = "", *_: Any) -> None:
        self.throttle.mark()
        if kind in RUN_NAMING_EVENTS:  # a run to act on from now: the controls at once, not at the next refresh
            self._apply_controls()

    def _on_session_event(self, event: Any) -> None:
        if event.kind in ("run", "profile") and not self.replaying:
            self.model.reset()
            self.feed_view.rebuild()
            self.throttle.mark()

    async def _resync(self, gateway: Any) -> None:
        try:
            await gateway.get_state()
        except Exception:  # noqa: BLE001 - best effort: the next events refresh the view anyway
            pass

    async def _command(self, verb: str, *args: Any) -> None:
        gateway = getattr(self.session, "gateway", None)
        if gateway is None:
            self.command_status.setText("No run watched")
            return
        try:
            reply = await getattr(gateway, verb)(*args)
        except Exception as err:  # noqa: BLE001 - shown next to the controls
            self.command_status.setText(f"{verb} failed: {err}")
            return
        self.command_status.setText(reply.content if isinstance(reply, System) else reply.type)

    def _tick(self) -> None:
        self.model.dirty.add("rates")
        self.throttle.mark()

    # -- refresh --------------------------------------------------------------

    def flush(self) -> None:
        """Redraw every changed section now, ignoring the per-section intervals (tests, replay end)."""
        self.throttle.flush()
        self.refresh(force=True)
        for widget in self._held:  # what an earlier throttled refresh held back is painted now too
            widget.setUpdatesEnabled(True)
        self._held.clear()

    def refresh(self, force: bool = False) -> None:
        dirty = self.model.take_dirty()
        if not force:
            dirty = self._due(dirty)
        views = {self.charts.view_of[s] for s in dirty if s in self.charts.view_of}
        if len(views) == 1 and not force:  # its paint in a later loop turn than its update (see _paint_later)
            self._paint_later(views.pop(), lambda: self.charts.update_sections(self.model, dirty))
        else:
            self.charts.update_sections(self.model, dirty)
        if "status" in dirty:
            self._refresh_status()
        if "tickers" in dirty:
            self._refresh_tickers()
        if "feed" in dirty:
            if force:
                self.feed_view.refresh()
            else:  # its paint in a later loop turn than its update (see _paint_later)
                self._paint_later(self.feed, self.feed_view.refresh)
        if "holdings" in dirty:
            self._fill(self.holdings, [(h.ticker, h.quantity, h.avg, h.currentPrice, h.marketValue,
                                        f"{h.weight * 100:.1f}%") for h in self.model.holdings])
        if "trades" in dirty:
            self._fill(self.trades, [(t.id, t.ticker, t.side, t.quantity, t.price, t.trading_date)
                                     for t in self.model.todays_trades()])

    def _paint_later(self, widget: QWidget, update: Any) -> None:
        """Run ``update()`` with ``widget``'s repaints held back, and let them go two loop turns later.

        Qt paints a widget's changes in the loop turn right after the change, before any
        timer is served, and an asyncio task that was due meanwhile needs two turns to run
        (its timer, then its step): a view's update and its paint would make one long wait
        for it. Apart, each is short, and the loop serves what waited in between.
        """
        if not widget.updatesEnabled():  # already held (a refresh in the same turn): let it go with the first
            update()
            return
        widget.setUpdatesEnabled(False)
        self._held.add(widget)
        try:
            update()
        finally:
            QTimer.singleShot(0, widget, lambda: QTimer.singleShot(0, widget, lambda: self._release(widget)))

    def _release(self, widget: QWidget) -> None:
        self._held.discard(widget)
        widget.setUpdatesEnabled(True)

    def _due(self, dirty: set[str]) -> set[str]:
        """The dirty sections whose minimum interval has passed; the others wait for a later refresh.

        A refresh draws either one costly section (a chart, the feed) or the cheap ones
        (labels, tables): each refresh is followed by its paint, and a chart's paint plus
        the window's would make one frame long enough to stall the loop.
        """
        now = time.monotonic()
        due, later = set(), set()
        ready = [s for s in dirty if now - self._last_update.get(s, 0.0) >= SECTION_INTERVALS.get(s, 0.0)]
        later = set(dirty) - set(ready)
        heavy = sorted((s for s in ready if s in HEAVY_SECTIONS), key=lambda name: self._last_update.get(name, 0.0))
        cheap = [s for s in ready if s not in HEAVY_SECTIONS]
        # Alternate: a costly section unless the cheap ones waited through the last refresh.
        if heavy and not (cheap and self._cheap_waited):
            due = {heavy[0]}  # the one drawn longest ago
            for group in SHARED_PAINTS:  # and those ready that paint the same view: one paint for both
                if heavy[0] in group:
                    due |= group & set(heavy)
            later |= (set(heavy) - due) | set(cheap)
            self._cheap_waited = bool(cheap)
        else:
            due = set(cheap)
            later |= set(heavy)
            self._cheap_waited = False
        for section in due:
            self._last_update[section] = now
        if later:
            self.model.dirty |= later
            self.throttle.mark()
        return due

    def _refresh_status(self) -> None:
        m = self.model
        equity = f" - equity {_fmt(float(m.total_value))}" if m.total_value is not None else ""
        skills = f" - skills: {m.sandbox_summary}" if m.sandbox_summary else ""
        if m.run_id:
            self.run_label.setText(f"Run {m.run_id}: {m.status}{' on ' + m.current_date if m.current_date else ''}"
                                   f"{equity}{skills}")
        else:
            self.run_label.setText(NO_RUN_TEXT)
        self._apply_controls()
        self.run_label.setToolTip(m.sandbox.note if m.sandbox is not None else "")
        self.progress.setValue(int(max(0.0, min(1.0, m.progress)) * 1000))
        refused = m.last_refusal
        self.refused_label.setVisible(refused is not None)
        if refused is not None:
            problem = refused.problem if len(refused.problem) <= 60 else refused.problem[:59] + "\u2026"
            self.refused_label.setText(f"{m.refused} refused: {refused.event_type} ({problem})")
            self.refused_label.setToolTip(f"{m.refusal_summary}\nThe Gateway sent frames this desk cannot read "
                                          "(a newer or drifted protocol); they are not shown.")

    def _refresh_tickers(self) -> None:
        parts = []
        for ticker in sorted(self.model.tickers):
            quote = self.model.tickers[ticker]
            ret = quote.ret or 0.0
            color = "#3fb950" if ret >= 0 else "#f85149"
            name = f"<b style='color:{self.charts.prices.color_of(ticker)}'>{ticker}</b>"  # the price chart's legend
            parts.append(f"{name} {quote.price:,.2f} <span style='color:{color}'>{ret:+.2f}%</span>")
        self.ticker_bar.setText(" &nbsp;&nbsp; ".join(parts))

    @staticmethod
    def _fill(table: QTableWidget, rows: list[tuple[Any, ...]]) -> None:
        table.setRowCount(len(rows))
        for r, values in enumerate(rows):
            for c, value in enumerate(values):
                text = _fmt(value)
                item = table.item(r, c)
                if item is None:
                    item = QTableWidgetItem(text)
                    if isinstance(value, (int, float)):
                        item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                    table.setItem(r, c, item)
                elif item.text() != text:
                    item.setText(text)
