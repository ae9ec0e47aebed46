"""The server state: ``initial_state.state`` on the wire and ``state/server_state.json`` on disk.

One model, :class:`ServerState`, is what the run engine builds at every
snapshot, what the Gateway sends in ``initial_state``, what trading_service
reads and what the desk parses; :class:`ServerStateFile` adds the private
``resume`` checkpoint the file carries and the wire never does.

Field names and shapes are the EvoTraders web-dashboard protocol's
(docs/protocol.md), camelCase where the dashboard uses it. Two rules keep the
wire exactly as it was when the state was a hand-built dict:

- **A state dumps the keys it was given, and only those**:
  ``to_wire()`` (``model_dump(mode="json", exclude_unset=True)``). Every
  field has a default so that partial and older states load (a run before
  its first snapshot, an EvoTraders server that sends fewer keys), but a
  default is never written out: ``to_wire()`` of a parsed state is the parsed
  JSON again. A full state, as the engine builds it, dumps the same with a
  plain ``model_dump(mode="json")``; a trade without ``approval_id`` stays
  without it either way, and the nulls of a :class:`KeepsNulls` part survive
  the ``exclude_none`` the Gateway dumps its frames with.
- **Unknown keys are kept, not dropped** (``extra="allow"``), so a newer
  server's additions survive a round trip; :func:`unknown_fields` lists them,
  which is how a test pins that the state carries no key this schema does
  not name.

``dashboard`` repeats ``holdings``, ``stats``, ``trades`` and ``leaderboard``
for the dashboard's compatibility exports; a state built with only
``dashboard={"summary": ...}`` takes them from the top level, so they are
written once.

Importable without pydantic-settings, FastAPI or Qt.
"""

from __future__ import annotations

from typing import Any, ClassVar

from typing_extensions import TypedDict

from pydantic import BaseModel, ConfigDict, Field, SerializationInfo, model_serializer, model_validator

from backend.schema.sandbox import EffectiveSandbox, FloorSource, Reason, SandboxMode
from backend.schema.trading import Trade

CURVE_NAMES = ("equity", "baseline", "baseline_vw", "momentum")
RETURN_CURVE_NAMES = tuple(f"{name}_return" for name in CURVE_NAMES)
DASHBOARD_MIRRORS = ("holdings", "stats", "trades", "leaderboard")


class StatePart(BaseModel):
    """Base of every part of the state: keeps unknown keys (and dumps them back)."""

    model_config = ConfigDict(extra="allow")

    def to_wire(self) -> dict[str, Any]:
        """The JSON-ready dict of exactly the keys this part was given (defaults are not written)."""
        return self.model_dump(mode="json", exclude_unset=True)


class KeepsNulls(StatePart):
    """A part whose nulls are values of the protocol, kept under ``exclude_none``.

    The Gateway dumps its frames with ``exclude_none``; a leaderboard
    signal's ``is_correct`` before it is scored, a quote without ``ret`` or a
    market status without ``current_time`` must still say null there, as
    they did when the rows were plain dicts. The part (and everything inside
    it) is then dumped as given instead. Parts without a nullable field, or
    only inside such a part, skip this per-instance serializer: there are
    hundreds of them in a state.
    """

    # A part whose fields are all scalars (no part inside): one without a null
    # dumps the same either way, so it takes the plain path (a price update
    # carries ten quotes, ten times a day).
    _flat: ClassVar[bool] = False

    @model_serializer(mode="wrap")
    def _keeps_nulls(self, handler: Any, info: SerializationInfo) -> Any:
        if info.exclude_none and not (self._flat and None not in self.__dict__.values()):
            return self.model_dump(mode="json" if info.mode_is_json() else "python", exclude_unset=info.exclude_unset)
        return handler(self)


class CurvePoint(TypedDict):
    """One point of a curve: ``t`` in epoch milliseconds (the day's close, New York), ``v`` the value."""

    t: int
    v: float


class HoldingRow(StatePart):
    """A ``team_holdings`` row; the last row is ``CASH`` with the cash as its quantity."""

    ticker: str
    quantity: int | float = Field(description="signed shares (negative is short); cash for the CASH row")
    avg: float
    currentPrice: float
    marketValue: float = Field(description="signed")
    weight: float = Field(description="fraction of equity (negative for shorts)")


class TradeRow(Trade, StatePart):
    """A ``team_trades`` row (the fields of :class:`backend.schema.trading.Trade`).

    ``approval_id`` is there only when a human approved the order.
    """

    model_config = ConfigDict(extra="allow")
    approval_id: str | None = Field(None, exclude_if=lambda value: value is None)


class TeamStats(StatePart):
    """``team_stats.data``: ``totalReturn`` in percent, weights and ``winRate`` fractions."""

    totalAssetValue: float
    totalReturn: float
    cashPosition: float
    tickerWeights: dict[str, float] = Field(default_factory=dict)
    marginUsed: float = 0.0
    totalTrades: int = 0
    winRate: float = 0.0


class SideTally(StatePart):
    """An analyst's calls on one side (bull or bear): how many, how many right, how many unscored."""

    n: int
    win: int
    unknown: int = 0


class LeaderboardSignal(StatePart):
    """One scored call of an analyst (newest first in ``signals``).

    ``is_correct`` is null until the call is scored; the null survives an
    ``exclude_none`` dump because the enclosing :class:`LeaderboardRow` keeps
    the nulls of its parts.
    """

    ticker: str
    signal: str
    date: str
    is_correct: bool | None


class LeaderboardRow(KeepsNulls):
    """A ``team_leaderboard`` row: an analyst's record (ranked), then the unranked
    ``portfolio_manager`` row (``winRate``: share of the team's decided days that made money)
    and ``risk_manager`` row (``winRate``: share of days without a limit warning); see
    docs/protocol.md, "Leaderboard"."""

    agentId: str
    name: str
    role: str
    avatar: str | None = None
    winRate: float
    bull: SideTally
    bear: SideTally
    signals: list[LeaderboardSignal] = Field(default_factory=list)
    modelName: str | None = None
    modelProvider: str | None = None
    rank: int | None = None


class CurveSet(BaseModel):
    """The team's and benchmarks' curves, aligned by index; ``*_return`` curves are percent."""

    equity: list[CurvePoint] = Field(default_factory=list)
    baseline: list[CurvePoint] = Field(default_factory=list)
    baseline_vw: list[CurvePoint] = Field(default_factory=list)
    momentum: list[CurvePoint] = Field(default_factory=list)
    equity_return: list[CurvePoint] = Field(default_factory=list)
    baseline_return: list[CurvePoint] = Field(default_factory=list)
    baseline_vw_return: list[CurvePoint] = Field(default_factory=list)
    momentum_return: list[CurvePoint] = Field(default_factory=list)

    def curve(self, name: str) -> list[CurvePoint]:
        """One of :data:`CURVE_NAMES` or :data:`RETURN_CURVE_NAMES` by name."""
        if name not in CURVE_NAMES and name not in RETURN_CURVE_NAMES:
            raise ValueError(f"unknown curve {name!r}; known: {', '.join(CURVE_NAMES + RETURN_CURVE_NAMES)}")
        return getattr(self, name)


class PortfolioCurves(StatePart, CurveSet):
    """Total value, P&L (percent) and the team's and benchmarks' curves, aligned by index."""

    total_value: float
    pnl_percent: float


class PriceQuote(KeepsNulls):
    """The last price of a ticker; ``ret`` is the day's return in percent."""

    _flat: ClassVar[bool] = True
    price: float
    open: float | None = None
    ret: float | None = None


class DashboardSummary(StatePart):
    """``team_dashboard/summary.json``: total equity (twice, as the dashboard names it), P&L %, cash."""

    totalAssetValue: float
    pnlPct: float
    balance: float
    cash: float


class Dashboard(StatePart):
    """The dashboard's compatibility block (written out as ``team_dashboard/*.json``)."""

    summary: DashboardSummary
    holdings: list[HoldingRow] = Field(default_factory=list)
    stats: TeamStats | None = None
    trades: list[TradeRow] = Field(default_factory=list)
    leaderboard: list[LeaderboardRow] = Field(default_factory=list)


class MarketStatus(KeepsNulls):
    """The session state (also the ``market_status`` of ``market_status_update`` and ``time_update``)."""

    status: str = Field(description="open, closed, premarket or afterhours")
    status_text: str
    is_trading_day: bool
    # HH:MM New York, as backend/market/calendar.py defines them (the only place hours live).
    market_open: str | None = None
    market_close: str | None = None
    current_time: str | None = None


class SandboxState(KeepsNulls):
    """Where the run's skills run and why (:class:`EffectiveSandbox`'s fields), plus calls by backend.

    An executor without an effective choice reports only ``mode`` and ``calls``.
    """

    mode: SandboxMode
    floor: SandboxMode | None = None
    floor_source: FloorSource | None = None
    requested: SandboxMode | None = None
    reason: Reason | None = None
    note: str | None = None
    calls: dict[str, int] = Field(default_factory=dict)

    def effective(self) -> EffectiveSandbox | None:
        """The effective choice, or None when the state names only the mode."""
        if self.floor is None or self.floor_source is None or self.reason is None or self.note is None:
            return None
        return EffectiveSandbox(mode=self.mode, floor=self.floor, floor_source=self.floor_source,
                                requested=self.requested, reason=self.reason, note=self.note)


class DaySummary(StatePart):
    """One row of ``last_day_history`` (newest first, at most 30)."""

    date: str
    total_value: float
    pnl_percent: float
    trades: int


# One event of ``feed_history``, as the event stream carried it: the JSON of
# the event model of its ``type`` in backend.schema.events, except that agent
# messages are kept without ``data`` and only the newest ``team_summary`` keeps
# its curves (older ones keep type, balance, pnlPct, totalAssetValue). A plain
# JSON object here, so that the desk's strict frame parser (extra="forbid")
# judges the state, and the events module judges its events.
FeedItem = dict[str, Any]


class RunMetrics(StatePart):
    """The run's closing figures (``backend.trading.metrics.summary``), as of the last snapshot."""

    final_equity: float
    total_return_pct: float
    excess_return_pct: dict[str, float | None] = Field(
        default_factory=dict, description="team minus benchmark, percentage points; null without a curve")
    max_drawdown_pct: float
    sharpe: float
    trades: int
    win_rate: float


class ServerState(StatePart):
    """``initial_state.state``: the whole state of a run at one moment.

    Every field has a default so that partial states load; see the module
    docstring for why a default is never written out.
    """

    run_id: str | None = None
    server_mode: str | None = Field(None, description="backtest, mock or live")
    is_mock_mode: bool = False
    is_backtest: bool = False
    status: str | None = Field(None, description="the run status (see RunStatusValue)")
    current_date: str | None = None
    trading_days_total: int = 0
    trading_days_completed: int = 0
    holdings: list[HoldingRow] = Field(default_factory=list)
    trades: list[TradeRow] = Field(default_factory=list, description="newest first, at most 100")
    stats: TeamStats | None = None
    leaderboard: list[LeaderboardRow] = Field(default_factory=list)
    portfolio: PortfolioCurves | None = None
    realtime_prices: dict[str, PriceQuote] = Field(default_factory=dict)
    dashboard: Dashboard | None = None
    market_status: MarketStatus | None = None
    sandbox: SandboxState | None = None
    last_day_history: list[DaySummary] = Field(default_factory=list, description="newest first, at most 30")
    feed_history: list[FeedItem] = Field(default_factory=list, description="newest first, at most 200")
    metrics: RunMetrics | None = None

    @model_validator(mode="before")
    @classmethod
    def _dashboard_mirrors_the_top_level(cls, data: Any) -> Any:
        # A dashboard given without its rows takes them from the top level
        # (how the engine builds the state: each row list once).
        if not isinstance(data, dict):
            return data
        dash = data.get("dashboard")
        if isinstance(dash, dict) and any(key not in dash and key in data for key in DASHBOARD_MIRRORS):
            data = {**data, "dashboard": {**{key: data[key] for key in DASHBOARD_MIRRORS if key in data}, **dash}}
        return data


class Checkpoint(StatePart):
    """The resume checkpoint (``RunState.checkpoint``): the state at the end of the last completed day.

    The parts owned by a component (portfolio, baselines, leaderboard
    records, each agent's state) are that component's ``to_dict`` /
    ``state_dict`` and are read back by its ``from_dict`` / ``load_state``.
    """

    portfolio: dict[str, Any]
    baselines: dict[str, Any]
    leaderboard: dict[str, Any]
    curves: dict[str, list[CurvePoint]]
    recent_trades: list[TradeRow]
    trade_count: int
    days_completed: int
    last_completed_date: str | None
    prices: dict[str, PriceQuote]
    day_history: list[DaySummary] = Field(default_factory=list)
    agents: dict[str, dict[str, Any]] = Field(default_factory=dict)


class ServerStateFile(ServerState):
    """``state/server_state.json``: the server state plus the private resume checkpoint."""

    resume: Checkpoint | None = None

    def public(self) -> ServerState:
        """The state without the checkpoint (what ``initial_state`` may carry)."""
        given = self.model_fields_set - {"resume"}
        return ServerState.model_construct(_fields_set=given, **{key: getattr(self, key) for key in given
                                                                 if key in ServerState.model_fields},
                                           **(self.model_extra or {}))


def unknown_fields(model: BaseModel, path: str = "") -> list[str]:
    """The dotted paths of every key in ``model`` (and its parts) that the schema does not name.

    ``feed_history`` items are event frames: the events module judges them.
    """
    found = [f"{path}{key}" for key in (model.model_extra or {})]
    for name in model.model_fields_set:
        if name not in type(model).model_fields:
            continue
        found.extend(_unknown_in(getattr(model, name), f"{path}{name}"))
    return found


def _unknown_in(value: Any, path: str) -> list[str]:
    if isinstance(value, BaseModel):
        return unknown_fields(value, f"{path}.")
    if isinstance(value, list):
        return [p for i, item in enumerate(value) for p in _unknown_in(item, f"{path}[{i}]")]
    if isinstance(value, dict):
        return [p for key, item in value.items() for p in _unknown_in(item, f"{path}[{key!r}]")]
    return []


__all__ = [
    "CURVE_NAMES", "RETURN_CURVE_NAMES", "Checkpoint", "CurvePoint", "CurveSet", "Dashboard", "DashboardSummary",
    "DaySummary", "FeedItem", "HoldingRow", "LeaderboardRow", "LeaderboardSignal", "MarketStatus",
    "PortfolioCurves", "PriceQuote", "RunMetrics", "SandboxState", "ServerState", "ServerStateFile",
    "KeepsNulls", "SideTally", "StatePart", "TeamStats", "TradeRow", "unknown_fields",
]
