"""Gateway event protocol: one pydantic model per event type, and the one parser of frames.

Field names follow the EvoTraders dashboard protocol exactly (camelCase where
the dashboard uses it); docs/protocol.md is generated from these models
(``python -m scripts.protocol_doc``). Building an event tolerates extra
fields (a producer never crashes on one), but the desk reads frames with
:func:`parse_frame`, which is strict: an unknown type, an unknown field or a
wrong field type makes the frame a :class:`FrameRefused` naming what is wrong,
so drift between the Gateway and the desk shows instead of passing silently.

    event = parse_frame(text)      # one of AnyEvent, or FrameRefused
    event.type, event.wire_json()
"""

from __future__ import annotations

import json
from typing import Annotated, Any, ClassVar, Literal, Union


from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, TypeAdapter, ValidationError
from pydantic import field_serializer
from pydantic_core import to_json

from backend.schema import state as st
from backend.schema.state import CurvePoint, ServerState, ServerStateFile

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
    # True for an event whose every nullable part below the top level is a
    # KeepsNulls part (so exclude_none drops nothing there): wire_json then
    # encodes it without exclude_none, to the same text, faster.
    _nulls_kept_inside: ClassVar[bool] = False
    type: str
    request_id: str | int | None = None  # echoed from the command this event answers (replies only)

    def to_wire(self) -> dict[str, Any]:
        """The JSON-ready dict of this event."""
        return self.model_dump(mode="json", exclude_none=True)

    def wire_json(self) -> str:
        """The JSON text sent on the WebSocket and written to events.jsonl.

        Encoded once and cached: the log and every client share one encoding.
        The cache lives in the model's private-attribute dict, reached
        directly: a declared private attribute costs every event (a run
        makes ~70 a day) its initialisation and a Python-level lookup per
        access.
        """
        private = self.__pydantic_private__
        if private is None:
            private = {}
            object.__setattr__(self, "__pydantic_private__", private)
        text = private.get("_json")
        if text is None:
            serializer = self.__pydantic_serializer__
            if self._nulls_kept_inside:
                # The same JSON as exclude_none, whose parts keep their nulls
                # anyway: this event's own null fields left out, the parts
                # take the plain path (see state.KeepsNulls; several times faster).
                empty = {name for name, value in self.__dict__.items() if value is None}
                raw = serializer.to_json(self, exclude=empty or None)
            else:
                raw = serializer.to_json(self, exclude_none=True)
            text = private["_json"] = raw.decode()
        return text

    def preset_wire_json(self, text: str) -> None:
        """Give this event the text :meth:`wire_json` will return, assembled by a producer that
        knows it is exactly this event's encoding (settlement shares the day's quotes among its
        price updates; tests/pipeline/test_wire_encoding.py checks every event of a run)."""
        private = self.__pydantic_private__
        if private is None:
            private = {}
            object.__setattr__(self, "__pydantic_private__", private)
        private["_json"] = text

    def for_replacing_clients(self) -> "Event":
        """What a client that did not ask for incremental curves receives instead of this event.

        Every event but an incremental ``team_summary`` is the same for every
        client (see :class:`TeamSummary`).
        """
        return self


class PortfolioSummary(BaseModel):
    """``day_complete.result.portfolio_summary``: the equity at the close and the total P&L in percent."""

    model_config = ConfigDict(extra="allow")
    total_value: float
    pnl_percent: float


class DayResult(BaseModel):
    """``day_complete.result``: the day's closing figures and how many trades it made."""

    model_config = ConfigDict(extra="allow")
    portfolio_summary: PortfolioSummary
    trades: int


# --- EvoTraders dashboard events -------------------------------------------

class Pong(Event):
    """Reply to ``ping``; ``timestamp`` is ISO-8601 UTC."""

    type: Literal["pong"] = "pong"
    timestamp: str


class InitialState(Event):
    """The whole state of the run (:class:`backend.schema.state.ServerState`), first after ``hello``."""

    type: Literal["initial_state"] = "initial_state"
    state: ServerState

    @field_serializer("state")
    def _state_as_given(self, state: ServerState) -> dict[str, Any]:
        # The keys the state was given, nulls included (``current_date``
        # before the first day, ``sandbox.requested``) whatever
        # ``exclude_none`` the event is dumped with; never the private resume
        # checkpoint.
        if isinstance(state, ServerStateFile):
            state = state.public()
        return state.to_wire()


class AgentMessage(Event):
    """An agent's message. ``data`` holds the structured signals, limits, predictions or decisions
    behind the text; special agent ids: ``conference summary``, ``Daily Log``.
    """

    type: Literal["agent_message"] = "agent_message"
    agentId: str
    content: str
    ts: int
    timestamp: str
    agentName: str | None = None
    data: dict[str, Any] | None = None


class Memory(Event):
    """What an agent keeps of a day; ``score`` is its hit rate, day return or negative drawdown for
    that day.
    """

    type: Literal["memory"] = "memory"
    agentId: str
    content: str
    ts: int
    score: float | None = None


class ConferenceStart(Event):
    """The day's morning conference opens."""

    type: Literal["conference_start"] = "conference_start"
    conferenceId: str
    title: str
    date: str
    participants: list[str]
    ts: int


class ConferenceCycleStart(Event):
    """A round of the conference begins."""

    type: Literal["conference_cycle_start"] = "conference_cycle_start"
    cycle: int
    totalCycles: int


class ConferenceMessage(Event):
    """An analyst revises its calls after hearing the team (one per analyst and round); with `llm`
    agents also the portfolio manager's written summary (no ``cycle``).
    """

    type: Literal["conference_message"] = "conference_message"
    agentId: str
    content: str
    ts: int
    agentName: str | None = None
    cycle: int | None = None  # the round (set by `llm` conferences)


class ConferenceCycleEnd(Event):
    """A round of the conference ends."""

    type: Literal["conference_cycle_end"] = "conference_cycle_end"
    cycle: int


class ConferenceEnd(Event):
    """The conference closes; its summary follows as an ``agent_message``."""

    type: Literal["conference_end"] = "conference_end"
    ts: int
    conferenceId: str | None = None


class DayStart(Event):
    """A trading day begins; ``progress`` is the fraction of the run done before it."""

    type: Literal["day_start"] = "day_start"
    date: str
    progress: float = Field(ge=0, le=1)


class DayComplete(Event):
    """A trading day ends: its closing figures and how many trades it made."""

    type: Literal["day_complete"] = "day_complete"
    date: str
    progress: float = Field(ge=0, le=1)
    result: DayResult | None = None


class DayError(Event):
    """A trading day failed (the run then fails)."""

    type: Literal["day_error"] = "day_error"
    date: str
    error: str


class TeamSummary(Event):
    """The team's equity and the benchmark curves (``{t, v}`` points, ``t`` in epoch ms); ``balance``
    and ``totalAssetValue`` are the total equity, ``pnlPct`` the total return in percent. With
    ``append`` true the curves hold only the new points, the first at position ``index`` of each
    whole curve (docs/protocol.md, "Curves"); without it they replace the client's curves.

    Two forms of one summary: the incremental one (``append``, ``index``,
    the day's points: what ``events.jsonl`` stores and what a client that
    asked for ``curves=incremental`` receives) and the replacing one (the
    whole curve, decimated to at most :data:`BOUNDED_CURVE_POINTS` points,
    first and last kept: what every other client receives). The engine
    builds the incremental one and attaches the replacing one
    (:meth:`with_replacing_form`).
    """

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
    append: bool | None = None   # true: the curves are the points from ``index`` on; absent: replace
    index: int | None = Field(None, ge=0)  # with ``append``: the position of the first point in the whole curve
    _replacing: "TeamSummary | None" = PrivateAttr(default=None)

    def with_replacing_form(self, replacing: "TeamSummary") -> "TeamSummary":
        """Attach the form a replacing client receives (see the class docstring); returns self."""
        self._replacing = replacing
        return self

    def for_replacing_clients(self) -> Event:
        return self._replacing if self.append and self._replacing is not None else self


class TeamHoldings(Event):
    """The positions after settlement, at the close (as the state has them): a row per ticker, then ``CASH``."""

    type: Literal["team_holdings"] = "team_holdings"
    data: list[st.HoldingRow]


class TeamTrades(Event):
    """Executed trades: the day's (``incremental``) or all of them (``full``)."""

    type: Literal["team_trades"] = "team_trades"
    mode: Literal["incremental", "full"] = "incremental"
    data: list[st.TradeRow]


class TeamStats(Event):
    """Portfolio figures after settlement."""

    type: Literal["team_stats"] = "team_stats"
    data: st.TeamStats


class TeamLeaderboard(Event):
    """The analysts' records, then the portfolio and risk managers' rows, after settlement."""

    _nulls_kept_inside: ClassVar[bool] = True

    type: Literal["team_leaderboard"] = "team_leaderboard"
    data: list[st.LeaderboardRow]


class PriceUpdate(Event):
    """A ticker's price (never 0); ``ret`` is the day's return in percent, ``realtime_prices`` every
    ticker's last quote.
    """

    _nulls_kept_inside: ClassVar[bool] = True

    type: Literal["price_update"] = "price_update"
    symbol: str
    price: float
    open: float
    ret: float
    timestamp: str
    realtime_prices: dict[str, st.PriceQuote] = Field(default_factory=dict)


class MarketStatusUpdate(Event):
    """The market session changed (mock and live mode); a backtest sends its status when it starts and ends."""

    type: Literal["market_status_update"] = "market_status_update"
    market_status: st.MarketStatus
    timestamp: str


class System(Event):
    """A system message; the acknowledgement of a command names it in ``command``."""

    type: Literal["system"] = "system"
    content: str
    command: str | None = None  # the command this message acknowledges (pause, resume, set_pace, ...)


class Error(Event):
    """A refused command or a failure; ``message`` says what is wrong."""

    type: Literal["error"] = "error"
    message: str


class TimeUpdate(Event):
    """The virtual clock, once per tick (mock mode)."""

    type: Literal["time_update"] = "time_update"
    beijing_time_str: str
    status: str
    trading_date: str
    is_mock_mode: bool = True
    market_status: st.MarketStatus | None = None


class TimeFastForwarded(Event):
    """Reply to ``fast_forward_time`` (mock mode): the new virtual time."""

    type: Literal["time_fast_forwarded"] = "time_fast_forwarded"
    minutes: float
    current_time: str


# --- Additions of this project ---------------------------------------------

class Hello(Event):
    """The first frame of every connection: protocol version, the run, and whether this connection is
    read-only.
    """

    type: Literal["hello"] = "hello"
    protocol_version: str = PROTOCOL_VERSION
    run_id: str
    server_mode: str
    read_only: bool
    role: str | None = None
    # How this connection receives team_summary curves: "incremental" when it
    # asked (?curves=incremental on the WebSocket URL), else "bounded".
    curves: Literal["incremental", "bounded"] | None = None


class PipelineStage(Event):
    """A stage of the day started, finished or failed; ``duration_ms`` is wall-clock time."""

    type: Literal["pipeline_stage"] = "pipeline_stage"
    run_id: str
    date: str
    stage: Stage
    status: Literal["started", "finished", "failed"]
    ts: int
    duration_ms: float | None = None


def _float_text(value: float) -> str | None:
    """``value`` as pydantic encodes a float, when Python's repr is that text: both write the
    shortest digits that read back as the value, in the same positional notation from 1e-4 up
    to 1e15 (below and above, pydantic writes ``1e-5`` where repr writes ``1e-05``)."""
    if value == 0.0 and str(value) == "0.0" or 1e-4 <= abs(value) < 1e15:
        return repr(value)
    return None


_stage_prefix: dict[tuple[str, str], str] = {}  # the day's '{"type":..,"run_id":..,"date":..,"stage":"'


def pipeline_stage(run_id: str, date: str, stage: str, status: str, ts: int,
                   duration_ms: float | None = None) -> PipelineStage:
    """A validated :class:`PipelineStage` whose wire JSON is assembled here, not by pydantic's
    serializer (18 a day): its fields in declaration order, ``stage`` and ``status`` checked
    literals (plain ASCII), the strings encoded once a day by pydantic itself, a float only
    when :func:`_float_text` knows its text (tests/pipeline/test_wire_encoding.py)."""
    if duration_ms is None:  # left unset, as a started stage always was
        event = PipelineStage(run_id=run_id, date=date, stage=stage, status=status, ts=ts)  # type: ignore[arg-type]
    else:
        event = PipelineStage(run_id=run_id, date=date, stage=stage, status=status, ts=ts,  # type: ignore[arg-type]
                              duration_ms=duration_ms)
    tail = "}"
    if event.duration_ms is not None:
        text = _float_text(event.duration_ms)
        if text is None:
            return event  # wire_json encodes it
        tail = f',"duration_ms":{text}}}'
    key = (event.run_id, event.date)
    prefix = _stage_prefix.get(key)
    if prefix is None:
        _stage_prefix.clear()  # one day at a time
        prefix = _stage_prefix[key] = ('{"type":"pipeline_stage","run_id":' + to_json(event.run_id).decode()
                                       + ',"date":' + to_json(event.date).decode() + ',"stage":"')
    event.preset_wire_json(f'{prefix}{event.stage}","status":"{event.status}","ts":{event.ts}{tail}')
    return event


class ApprovalRequested(Event):
    """An order waits for a human decision; ``reasons`` says why the policy asked."""

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
    """An approval was decided or expired; ``quantity`` is what was executed."""

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
    """The run's status changed; ``progress`` is the fraction of trading days done."""

    type: Literal["run_status"] = "run_status"
    run_id: str
    status: RunStatusValue
    progress: float = Field(ge=0, le=1)
    current_date: str | None = None


class ToolCallView(BaseModel):
    """One tool call an `llm` agent made: the tool, its JSON arguments and whether it succeeded."""

    model_config = ConfigDict(extra="forbid")
    name: str
    arguments: str
    ok: bool


class AgentExchange(Event):
    """An `llm` agent's turn with its model in one stage of a day (the whole exchange is in
    ``runs/<id>/agents/<agent>/transcripts.jsonl``); ``fallback`` names why its rules result was used.
    """

    type: Literal["agent_exchange"] = "agent_exchange"
    agentId: str
    date: str
    stage: str
    model: str
    requests: int = Field(ge=0)
    tokens: int = Field(ge=0)
    latency_ms: float = Field(ge=0)
    tool_calls: list[ToolCallView] = Field(default_factory=list)
    memories: list[str] = Field(default_factory=list)  # the reflections retrieved for the prompt
    fallback: str | None = None


# The events of the EvoTraders dashboard protocol, then this project's additions.
DASHBOARD_EVENTS: tuple[type[Event], ...] = (
    Pong, InitialState, AgentMessage, Memory, ConferenceStart, ConferenceCycleStart,
    ConferenceMessage, ConferenceCycleEnd, ConferenceEnd, DayStart, DayComplete, DayError,
    TeamSummary, TeamHoldings, TeamTrades, TeamStats, TeamLeaderboard, PriceUpdate,
    MarketStatusUpdate, System, Error, TimeUpdate,
)
PROJECT_EVENTS: tuple[type[Event], ...] = (
    TimeFastForwarded, Hello, PipelineStage, ApprovalRequested, ApprovalResolved, RunStatus,
    AgentExchange,
)
EVENT_MODELS: tuple[type[Event], ...] = DASHBOARD_EVENTS + PROJECT_EVENTS
# Every event the Gateway may send, told apart by its literal ``type``.
AnyEvent = Annotated[Union[EVENT_MODELS], Field(discriminator="type")]  # type: ignore[valid-type]
EVENT_ADAPTER: TypeAdapter[Event] = TypeAdapter(AnyEvent)

EVENT_TYPES: dict[str, type[Event]] = {cls.model_fields["type"].default: cls for cls in EVENT_MODELS}

# Feed events kept in initial_state.feed_history (newest first, at most 200).
FEED_TYPES = frozenset({
    "system", "agent_message", "day_start", "day_complete", "day_error", "team_summary",
    "conference_start", "conference_message", "conference_end", "memory",
})
FEED_HISTORY_LIMIT = 200
# The most points of each curve a replacing (not incremental) team_summary carries.
BOUNDED_CURVE_POINTS = 500
CURVES_QUERY = "curves"          # the WebSocket URL's query parameter: ?curves=incremental
CURVE_MODES = ("incremental", "bounded")


class FrameRefused(ValueError):
    """A frame that is not a valid event of this protocol.

    Attributes:
        event_type: the frame's ``type`` ("?" when it has none, or is not a JSON object).
        problem: the first thing wrong, as ``"field.path: message"``.
        errors: how many problems validation found.
        request_id: the frame's ``request_id`` when it had one (a refused reply).
    """

    def __init__(self, event_type: str, problem: str, errors: int = 1,
                 request_id: str | int | None = None) -> None:
        super().__init__(f"refused {event_type} frame: {problem}")
        self.event_type = event_type
        self.problem = problem
        self.errors = errors
        self.request_id = request_id


def parse_frame(frame: str | bytes | bytearray | dict[str, Any]) -> Event:
    """The event of one wire frame, validated strictly; raises :class:`FrameRefused`.

    Strict means: the ``type`` must be one of :data:`EVENT_TYPES`, every field
    must be declared by its model (nested ones too), and JSON types are not
    coerced (``"1"`` is no number, ``1.5`` no integer). A dict is encoded as
    JSON first, so it is judged exactly as the same frame on the wire.
    """
    raw = json.dumps(frame) if isinstance(frame, dict) else frame
    try:
        return EVENT_ADAPTER.validate_json(raw, strict=True, extra="forbid")
    except ValidationError as err:
        raise _refusal(raw, err) from None


def parse_event(data: dict[str, Any]) -> Event:
    """Lenient parse of one frame into its model (extra fields kept); unknown types become a plain :class:`Event`.

    For reading what this project wrote itself (a log, a state file); the desk
    reads the wire with :func:`parse_frame`.
    """
    cls = EVENT_TYPES.get(str(data.get("type")))
    if cls is None:
        return Event.model_validate(data)
    return cls.model_validate(data)


def _refusal(raw: str | bytes | bytearray, err: ValidationError) -> FrameRefused:
    try:
        data = json.loads(raw)
    except ValueError:
        return FrameRefused("?", f"not JSON: {err.errors()[0]['msg']}")
    if not isinstance(data, dict):
        return FrameRefused("?", f"not a JSON object but {type(data).__name__}")
    kind = data.get("type")
    rid = data.get("request_id")
    rid = rid if isinstance(rid, (str, int)) and not isinstance(rid, bool) else None
    if not isinstance(kind, str):
        return FrameRefused("?", "no string 'type' field", request_id=rid)
    if kind not in EVENT_TYPES:
        return FrameRefused(kind, f"unknown event type {kind!r}", request_id=rid)
    first = err.errors()[0]
    loc = [str(part) for part in first["loc"]]
    if loc and loc[0] == kind:  # the union's tag leads every location
        loc = loc[1:]
    where = ".".join(loc)
    message = "unknown field (not in the schema)" if first["type"] == "extra_forbidden" else first["msg"]
    problem = f"{where}: {message}" if where else message
    return FrameRefused(kind, problem, err.error_count(), rid)
