"""LiveModel: the state of one running (or replayed) run, built from Gateway events (Qt-free).

API:

- ``model.apply(event)``: apply one parsed Gateway event (a model of
  :mod:`backend.schema.events`). Cheap and synchronous; never touches a
  widget. ``initial_state`` resets everything.
- ``model.apply_frame(frame)``: parse one wire frame (text, bytes or a dict)
  with :func:`backend.schema.events.parse_frame` and apply it; a frame that
  does not parse is refused (see :meth:`LiveModel.refuse`), never applied half.
- ``model.refuse(refusal)``: count a frame the desk could not parse
  (``refused``, ``last_refusal``, ``refusal_summary``: the line the panel's
  status shows); the Live panel feeds it the Gateway client's refusals.
- ``model.take_dirty() -> set[str]``: the sections changed since the last
  call, among ``SECTIONS``; views redraw only those, on their own timer.
- ``model.changed``: psygnal signal ``(frame_type, event_or_refusal)`` after
  every applied or refused frame (views just mark a throttle there).
- ``await model.replay(source, speed=1.0)``: reset, then apply a finished run's
  ``logs/events.jsonl`` (a path, or an async iterable of its lines streamed
  from runtime_service); ``speed`` is in trading days per second (the pause
  happens at each ``day_start``), ``0`` means as fast as possible (yielding
  to the loop every few milliseconds). Returns the number of events
  applied; cancel the task to stop it. ``model.replaying`` is True meanwhile.
  The Run history panel calls ``live_panel.model.replay(path, speed)`` (or
  ``LivePanel.replay(path, speed)``, which also shows the panel's replay banner).

Data (bounded, so a long run does not grow memory, except the curves: a point a day):

- ``curves``: ``equity``, ``baseline``, ``baseline_vw``, ``momentum`` -> :class:`CurveSeries` (x = epoch s):
  the whole curves (a point per trading day), equal to the run's state curves. An
  incremental ``team_summary`` (``append``) splices its points in at ``index``; any
  other replaces them (``curve_gaps`` counts increments that arrived past the end)
- ``stages``: ``{date: {stage: duration_ms}}`` of the last ``max_days`` days
- ``rates``: :class:`RateCounter` of events per type per second
- ``prices``: ``{ticker: BoundedSeries}``; ``tickers``: ``{ticker: PriceQuote}``
- ``feed``: newest-last :class:`FeedItem` list (conference blocks group their messages)
- ``holdings`` (:class:`HoldingRow`), ``trades`` (:class:`TradeRow`, newest first), ``stats``
  (:class:`TeamStats` or None), ``total_value``, ``status``, ``progress``, ``current_date``, ``run_id``
- ``sandbox``: where the run's skills run and why (``initial_state``'s ``sandbox``;
  ``sandbox_summary`` is the one line the panel shows)
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
import types
from collections import OrderedDict, deque
from collections.abc import AsyncIterable, AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from app.models.live_series import BoundedSeries, CurveSeries, RateCounter
from app.models.observable import ObservableModel
from backend.schema import events as ev
from backend.schema.sandbox import EffectiveSandbox
from backend.schema.state import CurvePoint, HoldingRow, PriceQuote, TeamStats, TradeRow
from backend.storage.jsonl import JsonlTail

REPLAY_SLICE_S = 0.004  # longest a replay holds the loop between two yields (the stall it may cause)

log = logging.getLogger(__name__)

SECTIONS = ("equity", "stages", "rates", "prices", "tickers", "feed", "holdings", "trades", "status")
CURVES = ("equity", "baseline", "baseline_vw", "momentum")
CURVE_LABELS = {"equity": "Team equity", "baseline": "Equal-weight buy & hold",
                "baseline_vw": "Value-weight buy & hold", "momentum": "Monthly momentum"}
STAGE_LABELS = {"analysis": "analysts", "risk": "risk", "conference": "conference", "predictions": "predictions",
                "decision": "decision", "approval": "approval wait", "execution": "execution",
                "settlement": "settlement", "reflection": "reflection"}
FEED_EVENT_TYPES = frozenset({"system", "agent_message", "day_start", "day_complete", "day_error",
                              "conference_start", "conference_message", "conference_end", "memory",
                              "approval_requested", "approval_resolved", "error"})


@dataclass
class FeedItem:
    """One line of the activity feed; a conference is one item whose ``children`` are its messages."""

    seq: int
    type: str
    agent: str
    text: str
    ts: float | None = None  # epoch seconds when known
    children: list["FeedItem"] = field(default_factory=list)
    open: bool = False  # a conference still in progress
    # True when the event carried no time and ``ts`` is the desk's: the time of the run's last timed
    # feed event before it (the run's clock: simulated in a backtest), or when the desk received it.
    ts_received: bool = False


def _epoch_s(value: int | str | None) -> float | None:
    """Epoch seconds from epoch ms (an integer) or an ISO timestamp."""
    if isinstance(value, int):
        return value / 1000.0 if value > 1e11 else float(value)
    if value:
        try:
            return datetime.fromisoformat(value).timestamp()
        except (ValueError, OverflowError, OSError):  # not ISO, or a date the platform cannot place
            return None
    return None


class LiveModel(ObservableModel):
    """What the Live pipeline panel shows (see the module docstring).

    Args:
        max_price_points: points kept per ticker's price series (intraday ticks can be many).
        max_days: days of stage timings kept.
        max_feed: top-level feed items kept.
        max_trades: trades kept.
        clock: wall clock for events-per-second (injectable for tests).
    """

    def __init__(self, max_days: int = 250, max_feed: int = 500, max_trades: int = 1000,
                 max_price_points: int = 500, clock: Callable[[], float] = time.time) -> None:
        super().__init__()
        self.max_days, self.max_feed, self.max_trades = max_days, max_feed, max_trades
        self.max_price_points = max_price_points
        self.clock = clock
        self.replaying = False
        self.applied = 0  # events applied since creation
        self.reset()

    def reset(self) -> None:
        self.run_id: str | None = None
        self.status = "unknown"
        self.progress = 0.0
        self.current_date: str | None = None
        self.read_only: bool | None = None
        self.curves = {name: CurveSeries() for name in CURVES}
        self.curve_gaps = 0  # incremental team_summary points that arrived past the end of a curve
        self.stages: OrderedDict[str, dict[str, float]] = OrderedDict()
        self.rates = RateCounter()
        self.prices: dict[str, BoundedSeries] = {}
        self.tickers: dict[str, PriceQuote] = {}
        self.feed: deque[FeedItem] = deque(maxlen=self.max_feed)
        self.feed_seq = 0  # sequence number of the newest feed item
        self.feed_touched: set[int] = set()  # conference blocks that changed since take_feed_touched()
        self._conference: FeedItem | None = None
        self._last_feed_ts: float | None = None  # the newest event time the feed saw
        self.holdings: list[HoldingRow] = []
        self.trades: list[TradeRow] = []
        self.stats: TeamStats | None = None
        self.total_value: float | None = None  # the team's equity (team_stats, team_summary)
        self.sandbox: EffectiveSandbox | None = None
        self.refused = 0  # frames that were no valid event (since the last reset)
        self.last_refusal: ev.FrameRefused | None = None
        self.dirty: set[str] = set(SECTIONS)

    # -- observers ------------------------------------------------------------

    def take_dirty(self) -> set[str]:
        dirty, self.dirty = self.dirty, set()
        return dirty

    def take_feed_touched(self) -> set[int]:
        touched, self.feed_touched = self.feed_touched, set()
        return touched

    @property
    def sandbox_summary(self) -> str | None:
        """``process (floor from SKILL_SANDBOX_MODE)``, or None when the Gateway did not say."""
        return self.sandbox.summary() if self.sandbox is not None else None

    @property
    def refusal_summary(self) -> str | None:
        """``2 frames refused (last: refused team_summary frame: equity.0.t: ...)``, or None if none was."""
        if not self.refused or self.last_refusal is None:
            return None
        return f"{self.refused} frame{'s' if self.refused != 1 else ''} refused (last: {self.last_refusal})"

    def todays_trades(self) -> list[TradeRow]:
        day = self.current_date
        return [t for t in self.trades if day and t.trading_date == day]

    def filtered_feed(self, agent: str | None = None, types: set[str] | None = None) -> list[FeedItem]:
        """Feed items (oldest first) of ``agent`` and of ``types`` (None = all).

        A conference block matches the type ``"conference"``, and an agent if one
        of its messages is from that agent.
        """
        return [item for item in self.feed if feed_matches(item, agent, types)]

    def feed_agents(self) -> list[str]:
        agents = {item.agent for item in self.feed if item.agent}
        agents |= {c.agent for item in self.feed for c in item.children if c.agent}
        return sorted(agents)

    # -- applying events -------------------------------------------------------

    def apply_frame(self, frame: str | bytes | dict[str, Any]) -> ev.Event | None:
        """Parse one wire frame and apply it; a frame that does not parse is refused. Returns the event."""
        try:
            event = ev.parse_frame(frame)
        except ev.FrameRefused as refusal:
            self.refuse(refusal)
            return None
        self.apply(event)
        return event

    def refuse(self, refusal: ev.FrameRefused) -> None:
        """Count a frame the desk could not parse; the status line names the last one."""
        self.refused += 1
        self.last_refusal = refusal
        self.dirty.add("status")
        self._emit(refusal.event_type, refusal)

    def apply(self, event: ev.Event) -> None:
        kind = event.type
        self.applied += 1
        self.rates.add(kind, self.clock())
        self.dirty.add("rates")
        handler = _HANDLERS.get(type(event))
        if handler is not None:
            handler(self, event)
        if kind in FEED_EVENT_TYPES:
            self._feed(event)
        self._emit_fast(kind, event)

    def _on_hello(self, e: ev.Hello) -> None:
        self.run_id = e.run_id or self.run_id
        self.read_only = e.read_only
        self.dirty.add("status")

    def _on_initial_state(self, e: ev.InitialState) -> None:
        state = e.state
        run_id, read_only = self.run_id, self.read_only
        refused, last_refusal = self.refused, self.last_refusal
        self.reset()
        self.run_id, self.read_only = state.run_id or run_id, read_only
        self.refused, self.last_refusal = refused, last_refusal
        self.status = state.status or "unknown"
        self.current_date = state.current_date
        total = state.trading_days_total
        self.progress = state.trading_days_completed / total if total else 0.0
        if state.portfolio is not None:
            self._curves({name: state.portfolio.curve(name) for name in CURVES})
        self.holdings = list(state.holdings)
        self.trades = list(state.trades)[: self.max_trades]
        self.stats = state.stats
        self.total_value = state.stats.totalAssetValue if state.stats is not None else None
        self.sandbox = state.sandbox.effective() if state.sandbox is not None else None
        self._tickers(state.realtime_prices)
        for item in reversed(state.feed_history):  # newest first on the wire
            if item.get("type") in FEED_EVENT_TYPES:
                try:
                    self._feed(ev.parse_frame(item))
                except ev.FrameRefused as refusal:
                    self.refused += 1
                    self.last_refusal = refusal
                    log.warning("initial_state.feed_history: %s", refusal)
        self.dirty = set(SECTIONS)

    def _on_run_status(self, e: ev.RunStatus) -> None:
        self.status = e.status
        self.progress = e.progress
        self.current_date = e.current_date or self.current_date
        self.run_id = e.run_id or self.run_id
        self.dirty.add("status")

    def _on_day_start(self, e: ev.DayStart) -> None:
        self.current_date = e.date or self.current_date
        self.progress = e.progress
        self.dirty.update(("status", "trades"))

    def _on_day_complete(self, e: ev.DayComplete) -> None:
        self.progress = e.progress
        self.dirty.add("status")

    def _on_pipeline_stage(self, e: ev.PipelineStage) -> None:
        if e.status != "finished" or e.duration_ms is None:
            return
        day = self.stages.get(e.date)
        if day is None:
            day = self.stages[e.date] = {}
            while len(self.stages) > self.max_days:
                self.stages.popitem(last=False)
        day[e.stage] = day.get(e.stage, 0.0) + e.duration_ms
        self.dirty.add("stages")

    def _on_team_summary(self, e: ev.TeamSummary) -> None:
        if e.append:
            index = e.index or 0
            gaps = [name for name in CURVES if not self.curves[name].splice(index, getattr(e, name))]
            if gaps:
                self.curve_gaps += 1
                log.warning("team_summary points from index %d arrived after %d points of %s: a gap",
                            index, len(self.curves[gaps[0]]) - len(getattr(e, gaps[0])), ", ".join(gaps))
            self.dirty.add("equity")
        else:
            self._curves({name: getattr(e, name) for name in CURVES})
        if e.totalAssetValue is not None:
            self.total_value = e.totalAssetValue
        self.dirty.add("status")

    def _on_team_holdings(self, e: ev.TeamHoldings) -> None:
        self.holdings = list(e.data)
        self.dirty.add("holdings")

    def _on_team_trades(self, e: ev.TeamTrades) -> None:
        if e.mode == "full":
            self.trades = sorted(e.data, key=lambda t: (t.trading_date, t.id), reverse=True)[: self.max_trades]
        else:
            known = {t.id for t in self.trades}
            fresh = [t for t in e.data if t.id not in known]
            self.trades = (list(reversed(fresh)) + self.trades)[: self.max_trades]
        self.dirty.add("trades")

    def _on_team_stats(self, e: ev.TeamStats) -> None:
        self.stats = e.data
        self.total_value = e.data.totalAssetValue
        self.dirty.add("status")

    def _on_price_update(self, e: ev.PriceUpdate) -> None:
        t = _epoch_s(e.timestamp) or self.clock()
        if math.isfinite(e.price):
            series = self.prices.get(e.symbol)
            if series is None:
                series = self.prices[e.symbol] = BoundedSeries(self.max_price_points)
            series.append(t, e.price)
            self.dirty.add("prices")
        self._tickers(e.realtime_prices or {e.symbol: PriceQuote(price=e.price, open=e.open, ret=e.ret)})

    def _curves(self, curves: dict[str, list[CurvePoint]]) -> None:
        for name, points in curves.items():
            self.curves[name].replace(points)
        self.dirty.add("equity")

    def _tickers(self, prices: dict[str, PriceQuote]) -> None:
        for ticker, quote in prices.items():
            if math.isfinite(quote.price):
                self.tickers[ticker] = quote
        if prices:
            self.dirty.add("tickers")

    # -- feed -------------------------------------------------------------------

    def _feed(self, e: ev.Event) -> None:
        block = self._conference
        if isinstance(e, ev.ConferenceStart):
            self._push(FeedItem(0, "conference", "conference", e.title or "Conference", _epoch_s(e.ts), open=True))
            self._conference = self.feed[-1]
        elif isinstance(e, ev.ConferenceMessage):
            item = FeedItem(0, e.type, e.agentName or e.agentId, e.content, _epoch_s(e.ts))
            if block is not None:
                item.seq = len(block.children)
                block.children.append(item)
                self.feed_touched.add(block.seq)
            else:  # a message without its start (joined mid-conference)
                self._push(item)
        elif isinstance(e, ev.ConferenceEnd):
            if block is not None:
                block.open = False
                self._conference = None
                self.feed_touched.add(block.seq)
        else:
            agent, ts = _feed_origin(e)
            self._push(FeedItem(0, e.type, agent, _feed_text(e), ts))
        self.dirty.add("feed")

    def _push(self, item: FeedItem) -> None:
        self.feed_seq += 1
        item.seq = self.feed_seq
        if item.ts is None:  # every row timed
            item.ts = self._last_feed_ts or self.clock()
            item.ts_received = True
        else:
            self._last_feed_ts = item.ts
        self.feed.append(item)

    # -- replay -----------------------------------------------------------------

    async def replay(self, source: str | Path | AsyncIterable[bytes], speed: float = 1.0, *, batch: int = 200,
                     slice_s: float = REPLAY_SLICE_S) -> int:
        """Apply a finished run's events (see the module docstring); returns events applied.

        ``source`` is the path of an ``events.jsonl``, read by
        :class:`backend.storage.jsonl.JsonlTail` a chunk at a time (the torn
        last line of a killed run is no line), or an async iterable of its
        lines (a remote run's, streamed page by page from runtime_service).
        Either way the run is never loaded whole. Lines are parsed like the
        live stream: a line that is no valid event, or no JSON at all, is
        refused (counted and shown). The replay hands the loop back after at
        most ``batch`` events or ``slice_s`` seconds, whichever comes first,
        so an 8-year run keeps the desk's loop stall bounded.
        """
        if speed < 0:
            raise ValueError(f"replay speed must be >= 0 trading days per second, got {speed}")
        if isinstance(source, (str, Path)):
            path = Path(source)
            if not path.is_file():
                raise FileNotFoundError(f"no events file at {path}")
            lines: AsyncIterable[bytes] = _file_lines(path)
        else:
            lines = source
        self.reset()
        self.replaying = True
        applied = read = days = 0
        clock = time.perf_counter
        slice_end = clock() + slice_s
        try:
            async for line in lines:
                read += 1
                if read % batch == 0 or clock() >= slice_end:
                    await _yield_to_loop()
                    slice_end = clock() + slice_s
                try:
                    event = ev.parse_frame(line)
                except ev.FrameRefused as refusal:
                    self.refuse(refusal)
                    continue
                if isinstance(event, ev.DayStart):
                    days += 1
                    if speed > 0 and days > 1:
                        await asyncio.sleep(1.0 / speed)
                        slice_end = clock() + slice_s
                self.apply(event)
                applied += 1
        finally:
            self.replaying = False
            self.dirty.add("status")
            closer = getattr(lines, "aclose", None)
            if closer is not None:
                await closer()  # a remote stream stops reading pages; a file is closed now
        if self.refused:
            log.warning("replay: %s", self.refusal_summary)
        return applied


@types.coroutine
def _yield_to_loop() -> Any:
    """Give the loop one turn, as ``asyncio.sleep(0)`` does, with nothing scheduled."""
    yield


async def _file_lines(path: Path, batch: int = 2000) -> AsyncIterator[bytes]:
    """The whole lines of a local events.jsonl, ``batch`` lines at a time, each batch read in a worker thread
    (a read that waits on the disk never stalls the loop; the thread makes bytes, never a Qt object)."""
    tail = JsonlTail(path)
    while True:
        lines = await asyncio.to_thread(lambda: list(tail.raw_lines(batch)))
        if not lines:
            return
        for line in lines:
            yield line


_HANDLERS: dict[type[ev.Event], Callable[[LiveModel, Any], None]] = {
    ev.Hello: LiveModel._on_hello, ev.InitialState: LiveModel._on_initial_state,
    ev.RunStatus: LiveModel._on_run_status, ev.DayStart: LiveModel._on_day_start,
    ev.DayComplete: LiveModel._on_day_complete, ev.PipelineStage: LiveModel._on_pipeline_stage,
    ev.TeamSummary: LiveModel._on_team_summary, ev.TeamHoldings: LiveModel._on_team_holdings,
    ev.TeamTrades: LiveModel._on_team_trades, ev.TeamStats: LiveModel._on_team_stats,
    ev.PriceUpdate: LiveModel._on_price_update,
}


def feed_matches(item: FeedItem, agent: str | None, types: set[str] | None) -> bool:
    if types is not None and item.type not in types:
        return False
    if agent is None or item.agent == agent:
        return True
    return any(child.agent == agent for child in item.children)


def _feed_origin(e: ev.Event) -> tuple[str, float | None]:
    """Who a feed line is from and when (epoch seconds), for the events that say."""
    if isinstance(e, ev.AgentMessage):
        return e.agentName or e.agentId, _epoch_s(e.ts) or _epoch_s(e.timestamp)
    if isinstance(e, ev.Memory):
        return e.agentId, _epoch_s(e.ts)
    if isinstance(e, ev.ApprovalResolved):
        return "", _epoch_s(e.ts)
    return "", None


def _feed_text(e: ev.Event) -> str:
    if isinstance(e, ev.DayStart):
        return f"Day {e.date} started"
    if isinstance(e, ev.DayComplete):
        value = e.result.portfolio_summary.total_value if e.result is not None else None
        return f"Day {e.date} complete" + (f": equity {value:,.2f}" if value is not None else "")
    if isinstance(e, ev.DayError):
        return f"Day {e.date} failed: {e.error}"
    if isinstance(e, ev.ApprovalRequested):
        return f"Approval requested: {e.action} {e.quantity} {e.ticker} @ {e.price} ({e.approval_id})"
    if isinstance(e, ev.ApprovalResolved):
        return f"Approval {e.approval_id} {e.decision} by {e.decided_by}"
    if isinstance(e, ev.Error):
        return f"Error: {e.message}"
    if isinstance(e, (ev.System, ev.AgentMessage, ev.Memory)):
        return e.content
    return ""
