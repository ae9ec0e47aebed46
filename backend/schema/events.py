"""Gateway event protocol: one pydantic model per event type.

Field names follow the EvoTraders dashboard protocol exactly (camelCase where
the dashboard uses it); see docs/protocol.md. Every model tolerates unknown
fields so that newer servers can add fields without breaking older clients.
"""

from __future__ import annotations

from typing import Any, Literal, Union

from typing_extensions import TypedDict

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr
from pydantic import SerializationInfo, field_serializer

from backend.schema.state import ServerState, ServerStateFile

PROTOCOL_VERSION = "1.0"

Stage = Literal[
    "analysis", "risk", "conference", "predictions", "decision",
    "approval", "execution", "settlement", "reflection",
]
STAGES: tuple[str, ...] = (
    "analysis", "risk", "conference", "predictions", "decision",
    "approval", "execution", "settlement", "reflection",
)
RunStatusValue = Literal[
    "starting", "running", "paused", "waiting_approval", "completed", "failed", "stopped",
]


class Event(BaseModel):
    """Base of every frame: a JSON object with a string ``type``."""

    model_config = ConfigDict(extra="allow")
    type: str
    _json: str | None = PrivateAttr(default=None)

    def to_wire(self) -> dict[str, Any]:
        """The JSON-ready dict of this event."""
        return self.model_dump(mode="json", exclude_none=True)

    def wire_json(self) -> str:
        """The JSON text sent on the WebSocket and written to events.jsonl.

        Encoded once and cached: the log and every client share one encoding.
        """
        if self._json is None:
            self._json = self.model_dump_json(exclude_none=True)
        return self._json


class CurvePoint(TypedDict):
    """One point of a curve: ``t`` in epoch milliseconds, ``v`` the value."""

    t: int
    v: float


# --- EvoTraders dashboard events -------------------------------------------

class Pong(Event):
    type: Literal["pong"] = "pong"
    timestamp: str


class InitialState(Event):
    """The whole state of the run (:class:`backend.schema.state.ServerState`), first after ``hello``."""

    type: Literal["initial_state"] = "initial_state"
    state: ServerState

    @field_serializer("state")
    def _state_as_given(self, state: ServerState, info: SerializationInfo) -> dict[str, Any]:
        # The state keeps its nulls (``current_date`` before the first day,
        # ``sandbox.requested``) whatever ``exclude_none`` the event is dumped
        # with, and never carries the private resume checkpoint.
        if isinstance(state, ServerStateFile):
            state = state.public()
        return state.model_dump(mode="json" if info.mode_is_json() else "python")


class AgentMessage(Event):
    type: Literal["agent_message"] = "agent_message"
    agentId: str
    content: str
    ts: int
    timestamp: str
    agentName: str | None = None
    data: dict[str, Any] | None = None


class Memory(Event):
    type: Literal["memory"] = "memory"
    agentId: str
    content: str
    ts: int
    score: float | None = None


class ConferenceStart(Event):
    type: Literal["conference_start"] = "conference_start"
    conferenceId: str
    title: str
    date: str
    participants: list[str]
    ts: int


class ConferenceCycleStart(Event):
    type: Literal["conference_cycle_start"] = "conference_cycle_start"
    cycle: int
    totalCycles: int


class ConferenceMessage(Event):
    type: Literal["conference_message"] = "conference_message"
    agentId: str
    content: str
    ts: int
    agentName: str | None = None


class ConferenceCycleEnd(Event):
    type: Literal["conference_cycle_end"] = "conference_cycle_end"
    cycle: int


class ConferenceEnd(Event):
    type: Literal["conference_end"] = "conference_end"
    ts: int
    conferenceId: str | None = None


class DayStart(Event):
    type: Literal["day_start"] = "day_start"
    date: str
    progress: float = Field(ge=0, le=1)


class DayComplete(Event):
    type: Literal["day_complete"] = "day_complete"
    date: str
    progress: float = Field(ge=0, le=1)
    result: dict[str, Any] = Field(default_factory=dict)


class DayError(Event):
    type: Literal["day_error"] = "day_error"
    date: str
    error: str


class TeamSummary(Event):
    type: Literal["team_summary"] = "team_summary"
    balance: float
    pnlPct: float
    equity: list[CurvePoint]
    baseline: list[CurvePoint]
    baseline_vw: list[CurvePoint]
    momentum: list[CurvePoint]
    equity_return: list[CurvePoint] | None = None
    baseline_return: list[CurvePoint] | None = None
    baseline_vw_return: list[CurvePoint] | None = None
    momentum_return: list[CurvePoint] | None = None
    totalAssetValue: float | None = None


class TeamHoldings(Event):
    type: Literal["team_holdings"] = "team_holdings"
    data: list[dict[str, Any]]


class TeamTrades(Event):
    type: Literal["team_trades"] = "team_trades"
    mode: Literal["incremental", "full"] = "incremental"
    data: list[dict[str, Any]]


class TeamStats(Event):
    type: Literal["team_stats"] = "team_stats"
    data: dict[str, Any]


class TeamLeaderboard(Event):
    type: Literal["team_leaderboard"] = "team_leaderboard"
    data: list[dict[str, Any]]


class PriceUpdate(Event):
    type: Literal["price_update"] = "price_update"
    symbol: str
    price: float
    open: float
    ret: float
    timestamp: str
    realtime_prices: dict[str, dict[str, Any]] = Field(default_factory=dict)


class MarketStatusUpdate(Event):
    type: Literal["market_status_update"] = "market_status_update"
    market_status: dict[str, Any]
    timestamp: str


class System(Event):
    type: Literal["system"] = "system"
    content: str


class Error(Event):
    type: Literal["error"] = "error"
    message: str


class TimeUpdate(Event):
    type: Literal["time_update"] = "time_update"
    beijing_time_str: str
    status: str
    trading_date: str
    is_mock_mode: bool = True
    market_status: dict[str, Any] | None = None


class TimeFastForwarded(Event):
    type: Literal["time_fast_forwarded"] = "time_fast_forwarded"
    minutes: float
    current_time: str


# --- Additions of this project ---------------------------------------------

class Hello(Event):
    type: Literal["hello"] = "hello"
    protocol_version: str = PROTOCOL_VERSION
    run_id: str
    server_mode: str
    read_only: bool
    role: str | None = None


class PipelineStage(Event):
    type: Literal["pipeline_stage"] = "pipeline_stage"
    run_id: str
    date: str
    stage: Stage
    status: Literal["started", "finished", "failed"]
    ts: int
    duration_ms: float | None = None


class ApprovalRequested(Event):
    type: Literal["approval_requested"] = "approval_requested"
    approval_id: str
    run_id: str
    date: str
    ticker: str
    action: str
    quantity: int
    price: float
    notional: float
    confidence: float
    reasoning: str
    expires_at: str
    context: dict[str, Any] | None = None
    reasons: list[str] | None = None   # why the policy asked (notional, new short, weight)
    status: str | None = None          # "pending" when filed; a re-attached request may already be decided


class ApprovalResolved(Event):
    type: Literal["approval_resolved"] = "approval_resolved"
    approval_id: str
    decision: Literal["approved", "rejected", "expired"]
    decided_by: str
    reason: str = ""
    ts: int
    quantity: int | None = None        # the quantity executed (may be smaller than requested)
    outcome: str | None = None         # what happened to the order: executed quantity, dropped, ...
    run_id: str | None = None
    date: str | None = None
    ticker: str | None = None
    action: str | None = None
    requested_quantity: int | None = None


class RunStatus(Event):
    type: Literal["run_status"] = "run_status"
    run_id: str
    status: RunStatusValue
    progress: float = Field(ge=0, le=1)
    current_date: str | None = None


AnyEvent = Union[
    Pong, InitialState, AgentMessage, Memory, ConferenceStart, ConferenceCycleStart,
    ConferenceMessage, ConferenceCycleEnd, ConferenceEnd, DayStart, DayComplete, DayError,
    TeamSummary, TeamHoldings, TeamTrades, TeamStats, TeamLeaderboard, PriceUpdate,
    MarketStatusUpdate, System, Error, TimeUpdate, TimeFastForwarded, Hello, PipelineStage,
    ApprovalRequested, ApprovalResolved, RunStatus,
]

EVENT_TYPES: dict[str, type[Event]] = {
    cls.model_fields["type"].default: cls for cls in AnyEvent.__args__  # type: ignore[attr-defined]
}

# Feed events kept in initial_state.feed_history (newest first, at most 200).
FEED_TYPES = frozenset({
    "system", "agent_message", "day_start", "day_complete", "day_error", "team_summary",
    "conference_start", "conference_message", "conference_end", "memory",
})
FEED_HISTORY_LIMIT = 200


def parse_event(data: dict[str, Any]) -> Event:
    """Parse one wire frame into its model; unknown types become a plain :class:`Event`."""
    cls = EVENT_TYPES.get(str(data.get("type")))
    if cls is None:
        return Event.model_validate(data)
    return cls.model_validate(data)


