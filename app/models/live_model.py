"""LiveModel: the state of one running (or replayed) run, built from Gateway events (Qt-free).

API:

- ``model.apply(frame)``: apply one Gateway event (a wire dict). Cheap and
  synchronous; never touches a widget. ``initial_state`` resets everything.
- ``model.take_dirty() -> set[str]``: the sections changed since the last
  call, among ``SECTIONS``; views redraw only those, on their own timer.
- ``model.add_listener(cb)``: ``cb(frame_type)`` after every applied event
  (views just mark a throttle there).
- ``await model.replay(path, speed=1.0)``: reset, then apply a finished run's
  ``logs/events.jsonl``; ``speed`` is in trading days per second (the pause
  happens at each ``day_start``), ``0`` means as fast as possible (yielding
  to the loop every few hundred events). Returns the number of events
  applied; cancel the task to stop it. ``model.replaying`` is True meanwhile.
  The Run history panel calls ``live_panel.model.replay(path, speed)`` (or
  ``LivePanel.replay(path, speed)``, which also shows the panel's replay banner).

Data (all bounded, so a long run does not grow memory):

- ``curves``: ``equity``, ``baseline``, ``baseline_vw``, ``momentum`` -> :class:`BoundedSeries` (x = epoch s)
- ``stages``: ``{date: {stage: duration_ms}}`` of the last ``max_days`` days
- ``rates``: :class:`RateCounter` of events per type per second
- ``prices``: ``{ticker: BoundedSeries}``; ``tickers``: ``{ticker: {price, open, ret}}``
- ``feed``: newest-last :class:`FeedItem` list (conference blocks group their messages)
- ``holdings``, ``trades`` (newest first), ``stats``, ``status``, ``progress``, ``current_date``, ``run_id``
- ``sandbox``: where the run's skills run and why (``initial_state``'s ``sandbox``;
  ``sandbox_summary`` is the one line the panel shows)
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from app.models.live_series import BoundedSeries, RateCounter, finite
from backend.schema.sandbox import EffectiveSandbox
from backend.storage.jsonl import iter_jsonl

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


def _sandbox(value: Any) -> EffectiveSandbox | None:
    if not isinstance(value, dict):
        return None
    try:
        return EffectiveSandbox.model_validate({k: v for k, v in value.items() if k in EffectiveSandbox.model_fields})
    except ValidationError:
        return None  # an older Gateway's state: no sandbox line rather than a wrong one


def _epoch_s(value: Any) -> float | None:
    """Epoch seconds from epoch ms (number) or an ISO timestamp."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value) / 1000.0 if value > 1e11 else float(value)
    if isinstance(value, str) and value:
        try:
            return datetime.fromisoformat(value).timestamp()
        except ValueError:
            return None
    return None


class LiveModel:
    """What the Live pipeline panel shows (see the module docstring).

    Args:
        max_points: points kept per equity/baseline curve.
        max_price_points: points kept per ticker's price series (intraday ticks can be many).
        max_days: days of stage timings kept.
        max_feed: top-level feed items kept.
        max_trades: trades kept.
        clock: wall clock for events-per-second (injectable for tests).
    """

    def __init__(self, max_points: int = 2000, max_days: int = 250, max_feed: int = 500, max_trades: int = 1000,
                 max_price_points: int = 500, clock: Callable[[], float] = time.time) -> None:
        self.max_points, self.max_days, self.max_feed, self.max_trades = max_points, max_days, max_feed, max_trades
        self.max_price_points = max_price_points
        self.clock = clock
        self.replaying = False
        self.applied = 0  # events applied since creation
        self._listeners: list[Callable[[str], None]] = []
        self.reset()

    def reset(self) -> None:
        self.run_id: str | None = None
        self.status = "unknown"
        self.progress = 0.0
        self.current_date: str | None = None
        self.read_only: bool | None = None
        self.curves = {name: BoundedSeries(self.max_points) for name in CURVES}
        self.stages: OrderedDict[str, dict[str, float]] = OrderedDict()
        self.rates = RateCounter()
        self.prices: dict[str, BoundedSeries] = {}
        self.tickers: dict[str, dict[str, float]] = {}
        self.feed: deque[FeedItem] = deque(maxlen=self.max_feed)
        self.feed_seq = 0  # sequence number of the newest feed item
        self.feed_touched: set[int] = set()  # conference blocks that changed since take_feed_touched()
        self._conference: FeedItem | None = None
        self.holdings: list[dict[str, Any]] = []
        self.trades: list[dict[str, Any]] = []
        self.stats: dict[str, Any] = {}
        self.sandbox: EffectiveSandbox | None = None
        self.dirty: set[str] = set(SECTIONS)

    # -- observers ------------------------------------------------------------

    def add_listener(self, callback: Callable[[str], None]) -> Callable[[], None]:
        self._listeners.append(callback)
        return lambda: self._listeners.remove(callback) if callback in self._listeners else None

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

    def todays_trades(self) -> list[dict[str, Any]]:
        day = self.current_date
        return [t for t in self.trades if day and str(t.get("trading_date", "")) == day]

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

    def apply(self, frame: dict[str, Any]) -> None:
        kind = str(frame.get("type", ""))
        self.applied += 1
        self.rates.add(kind, self.clock())
        self.dirty.add("rates")
        handler = getattr(self, "_on_" + kind, None)
        if handler is not None:
            try:
                handler(frame)
            except (TypeError, ValueError, KeyError, AttributeError):
                pass  # a malformed event from a newer/buggy server is skipped, never fatal
        if kind in FEED_EVENT_TYPES:
            self._feed(kind, frame)
        for callback in list(self._listeners):
            callback(kind)

    def _on_hello(self, f: dict[str, Any]) -> None:
        self.run_id = f.get("run_id") or self.run_id
        self.read_only = bool(f.get("read_only"))
        self.dirty.add("status")

    def _on_initial_state(self, f: dict[str, Any]) -> None:
        state = f.get("state") or {}
        run_id, read_only = self.run_id, self.read_only
        self.reset()
        self.run_id, self.read_only = state.get("run_id") or run_id, read_only
        self.status = str(state.get("status") or "unknown")
        self.current_date = state.get("current_date")
        total = state.get("trading_days_total") or 0
        self.progress = (state.get("trading_days_completed") or 0) / total if total else 0.0
        portfolio = state.get("portfolio") or {}
        self._curves(portfolio)
        self.holdings = list(state.get("holdings") or [])
        self.trades = list(state.get("trades") or [])[: self.max_trades]
        self.stats = dict(state.get("stats") or {})
        self.sandbox = _sandbox(state.get("sandbox"))
        self._tickers(state.get("realtime_prices") or {}, None)
        for item in reversed(state.get("feed_history") or []):  # newest first on the wire
            if isinstance(item, dict) and item.get("type") in FEED_EVENT_TYPES:
                self._feed(str(item["type"]), item)
        self.dirty = set(SECTIONS)

    def _on_run_status(self, f: dict[str, Any]) -> None:
        self.status = str(f.get("status", self.status))
        self.progress = float(f.get("progress", self.progress))
        self.current_date = f.get("current_date") or self.current_date
        self.run_id = f.get("run_id") or self.run_id
        self.dirty.add("status")

    def _on_day_start(self, f: dict[str, Any]) -> None:
        self.current_date = f.get("date") or self.current_date
        self.progress = float(f.get("progress", self.progress))
        self.dirty.update(("status", "trades"))

    def _on_day_complete(self, f: dict[str, Any]) -> None:
        self.progress = float(f.get("progress", self.progress))
        self.dirty.add("status")

    def _on_pipeline_stage(self, f: dict[str, Any]) -> None:
        if f.get("status") != "finished" or f.get("duration_ms") is None:
            return
        date, stage = str(f["date"]), str(f["stage"])
        day = self.stages.get(date)
        if day is None:
            day = self.stages[date] = {}
            while len(self.stages) > self.max_days:
                self.stages.popitem(last=False)
        day[stage] = day.get(stage, 0.0) + float(f["duration_ms"])
        self.dirty.add("stages")

    def _on_team_summary(self, f: dict[str, Any]) -> None:
        self._curves(f)
        if f.get("totalAssetValue") is not None:
            self.stats["totalAssetValue"] = f["totalAssetValue"]
        self.dirty.add("status")

    def _on_team_holdings(self, f: dict[str, Any]) -> None:
        self.holdings = list(f.get("data") or [])
        self.dirty.add("holdings")

    def _on_team_trades(self, f: dict[str, Any]) -> None:
        rows = list(f.get("data") or [])
        if f.get("mode") == "full":
            self.trades = sorted(rows, key=lambda t: (str(t.get("trading_date", "")), str(t.get("id", ""))),
                                 reverse=True)[: self.max_trades]
        else:
            known = {t.get("id") for t in self.trades}
            fresh = [t for t in rows if t.get("id") not in known]
            self.trades = (list(reversed(fresh)) + self.trades)[: self.max_trades]
        self.dirty.add("trades")

    def _on_team_stats(self, f: dict[str, Any]) -> None:
        self.stats = dict(f.get("data") or {})
        self.dirty.add("status")

    def _on_price_update(self, f: dict[str, Any]) -> None:
        symbol, price = str(f["symbol"]), finite(f.get("price"))
        t = _epoch_s(f.get("timestamp")) or self.clock()
        if price is not None:
            series = self.prices.get(symbol)
            if series is None:
                series = self.prices[symbol] = BoundedSeries(self.max_price_points)
            series.append(t, price)
            self.dirty.add("prices")
        self._tickers(f.get("realtime_prices") or {symbol: f}, t)

    def _curves(self, source: dict[str, Any]) -> None:
        for name in CURVES:
            points = source.get(name)
            if isinstance(points, list):
                self.curves[name].replace((float(p["t"]) / 1000.0, float(p["v"])) for p in points)
                self.dirty.add("equity")

    def _tickers(self, prices: dict[str, Any], t: float | None) -> None:
        for ticker, row in prices.items():
            if isinstance(row, dict) and finite(row.get("price")):
                self.tickers[str(ticker)] = {"price": float(row["price"]), "open": finite(row.get("open")) or 0.0,
                                             "ret": finite(row.get("ret")) or 0.0}
        if prices:
            self.dirty.add("tickers")

    # -- feed -------------------------------------------------------------------

    def _feed(self, kind: str, f: dict[str, Any]) -> None:
        agent = str(f.get("agentName") or f.get("agentId") or "")
        ts = _epoch_s(f.get("ts") or f.get("timestamp"))
        block = self._conference
        if kind == "conference_start":
            self._push(FeedItem(0, "conference", "conference", str(f.get("title") or "Conference"), ts, open=True))
            self._conference = self.feed[-1]
        elif kind == "conference_message" and block is not None:
            block.children.append(FeedItem(len(block.children), kind, agent, str(f.get("content", "")), ts))
            self.feed_touched.add(block.seq)
        elif kind == "conference_end" and block is not None:
            block.open = False
            self._conference = None
            self.feed_touched.add(block.seq)
        elif kind in ("conference_message", "conference_end"):
            if kind == "conference_message":  # a message without its start (joined mid-conference)
                self._push(FeedItem(0, kind, agent, str(f.get("content", "")), ts))
        else:
            self._push(FeedItem(0, kind, agent, _feed_text(kind, f), ts))
        self.dirty.add("feed")

    def _push(self, item: FeedItem) -> None:
        self.feed_seq += 1
        item.seq = self.feed_seq
        self.feed.append(item)

    # -- replay -----------------------------------------------------------------

    async def replay(self, path: str | Path, speed: float = 1.0, *, batch: int = 200) -> int:
        """Apply a finished run's ``events.jsonl`` (see the module docstring); returns events applied."""
        path = Path(path)
        if speed < 0:
            raise ValueError(f"replay speed must be >= 0 trading days per second, got {speed}")
        if not path.is_file():
            raise FileNotFoundError(f"no events file at {path}")
        self.reset()
        self.replaying = True
        applied = 0
        days = 0
        try:
            for frame in iter_jsonl(path):  # a corrupt line or the torn last line of a killed run is skipped
                if frame.get("type") == "day_start":
                    days += 1
                    if speed > 0 and days > 1:
                        await asyncio.sleep(1.0 / speed)
                self.apply(frame)
                applied += 1
                if applied % batch == 0:
                    await asyncio.sleep(0)
        finally:
            self.replaying = False
            self.dirty.add("status")
        return applied


def feed_matches(item: FeedItem, agent: str | None, types: set[str] | None) -> bool:
    if types is not None and item.type not in types:
        return False
    if agent is None or item.agent == agent:
        return True
    return any(child.agent == agent for child in item.children)


def _feed_text(kind: str, f: dict[str, Any]) -> str:
    if kind == "day_start":
        return f"Day {f.get('date')} started"
    if kind == "day_complete":
        summary = (f.get("result") or {}).get("portfolio_summary") or {}
        value = summary.get("total_value")
        return f"Day {f.get('date')} complete" + (f": equity {value:,.2f}" if isinstance(value, (int, float)) else "")
    if kind == "day_error":
        return f"Day {f.get('date')} failed: {f.get('error')}"
    if kind == "approval_requested":
        return (f"Approval requested: {f.get('action')} {f.get('quantity')} {f.get('ticker')} "
                f"@ {f.get('price')} ({f.get('approval_id')})")
    if kind == "approval_resolved":
        return f"Approval {f.get('approval_id')} {f.get('decision')} by {f.get('decided_by')}"
    if kind == "error":
        return f"Error: {f.get('message')}"
    return str(f.get("content", ""))
