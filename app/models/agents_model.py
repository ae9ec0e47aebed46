"""The agent team of a run or a workspace, with records, signals and memory (Qt-free).

A *run* team comes from agent_service (``/runs/{id}/agents``) joined with the
trading_service leaderboard (win rate, bull/bear record, latest signals with
correctness); the watched run's ``team_leaderboard`` and ``memory`` Gateway
events keep it current, and its ``agent_exchange`` events show what each
`llm` agent asked its model: tool calls, retrieved reflections, tokens,
latency and any fallback. A *workspace* team has no record yet, but its agent
files (``agents/<id>/AGENT.md``, skills) can be edited.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, field_validator

from app.models.event_input import as_event, event_type
from app.models.observable import ObservableModel
from backend.clients.http import ServiceError
from backend.clients.services import AgentServiceClient, TradingServiceClient
from backend.schema.api_agents import AgentSummary
from backend.schema.api_trading import LeaderboardRow, SideTally
from backend.schema.events import AgentExchange, Event, Memory, TeamLeaderboard

MEMORY_LIMIT = 50  # reflections shown per agent
EXCHANGE_LIMIT = 50  # llm exchanges kept per agent


def exchange_lines(exchange: AgentExchange) -> list[str]:
    """How the desk shows one llm exchange: a headline, its tool calls, the reflections it was given."""
    head = (f"{exchange.date} {exchange.stage}: {exchange.model}, {exchange.requests} request(s), "
            f"{exchange.tokens} tokens, {exchange.latency_ms:,.0f} ms")
    if exchange.fallback:
        head += f" - fell back: {exchange.fallback}"
    lines = [head]
    lines += [f"  tool {c.name}({c.arguments})" + ("" if c.ok else " failed") for c in exchange.tool_calls]
    lines += [f"  memory: {m}" for m in exchange.memories]
    return lines
SourceKind = Literal["run", "workspace"]


@dataclass(frozen=True)
class Record:
    """Wins out of calls on one side (bull or bear)."""

    win: int = 0
    n: int = 0

    @classmethod
    def from_api(cls, data: BaseModel | dict[str, Any] | None) -> "Record":
        """From a ``SideTally`` (trading_service's or the state's) or its JSON."""
        if data is None:
            return cls()
        tally = data if isinstance(data, BaseModel) else SideTally.model_validate(data)
        return cls(tally.win, tally.n)

    def __str__(self) -> str:
        return f"{self.win}/{self.n}"


class AgentRow(AgentSummary):
    """One team member as the table shows it: agent_service's ``AgentSummary``
    plus its leaderboard record (``record``, trading_service's ``LeaderboardRow``).

    The schema's fields are used as they are; a roster may name a skill by
    its ``SkillInfo`` object, and the table shows its name.
    """

    record: LeaderboardRow | None = None  # None without a record (workspaces, PM, risk manager)

    @field_validator("skills", mode="before")
    @classmethod
    def _skill_names(cls, skills: Any) -> Any:
        if not isinstance(skills, list):
            return skills
        names = [s.get("name", "") if isinstance(s, dict) else s for s in skills]
        return [n for n in names if n]

    @classmethod
    def from_api(cls, data: dict[str, Any]) -> "AgentRow":
        return cls.model_validate(data)

    def apply_leaderboard(self, row: LeaderboardRow) -> None:
        self.record = row
        if not self.model and row.modelName and self.policy == "llm":
            self.model = row.modelName

    @property
    def rank(self) -> int | None:
        return self.record.rank if self.record is not None else None

    @property
    def win_rate(self) -> float | None:
        """Fraction; None without a record."""
        return self.record.winRate if self.record is not None else None

    @property
    def bull(self) -> Record:
        return Record.from_api(self.record.bull if self.record is not None else None)

    @property
    def bear(self) -> Record:
        return Record.from_api(self.record.bear if self.record is not None else None)

    @property
    def signals(self) -> list[dict[str, Any]]:
        """Newest first: ticker, signal, date, is_correct."""
        rows = self.record.signals if self.record is not None else []
        return [s.model_dump() for s in sorted(rows, key=lambda s: s.date, reverse=True)]


class AgentsModel(ObservableModel):
    """The team shown by the Agents panel, one selected member and its details.

    Args:
        agent: agent_service client.
        trading: trading_service client (leaderboard of runs).

    Listeners ``cb(kind, payload)`` are told ``team`` (rows changed),
    ``selected`` (agent id; :attr:`profile`, :attr:`memory`, :attr:`files` loaded),
    ``memory`` (agent id: new reflections), ``exchange`` (agent id: a new llm exchange),
    ``file`` ((path, text) loaded),
    ``message`` (str).
    """

    def __init__(self, agent: AgentServiceClient | None = None, trading: TradingServiceClient | None = None) -> None:
        self.agent = agent
        self.trading = trading
        self.source: tuple[SourceKind, str] | None = None
        self.rows: list[AgentRow] = []
        self.selected: str | None = None
        self.profile: dict[str, Any] = {}
        self.memory: list[dict[str, Any]] = []  # newest last, as served
        self.workspace_files: list[str] = []
        self.exchanges: dict[str, list[AgentExchange]] = {}  # agent -> the watched run's llm exchanges
        super().__init__()


    def exchange_lines(self, agent_id: str | None) -> list[str]:
        """The selected agent's llm exchanges as the panel shows them, newest first."""
        return [line for ex in reversed(self.exchanges.get(agent_id or "", [])) for line in exchange_lines(ex)]

    def row(self, agent_id: str | None) -> AgentRow | None:
        return next((r for r in self.rows if r.id == agent_id), None)

    @property
    def editable(self) -> bool:
        """Agent files can be edited for workspaces only (a run's files are its record)."""
        return self.source is not None and self.source[0] == "workspace"

    @property
    def files(self) -> list[str]:
        """The selected agent's files in the workspace (``agents/<id>/...``)."""
        if not self.editable or self.selected is None:
            return []
        prefix = f"agents/{self.selected}/"
        return sorted(f for f in self.workspace_files if f.startswith(prefix))

    # -- loading ------------------------------------------------------------------
    async def show_run(self, run_id: str) -> None:
        """The team of a run, with its leaderboard record."""
        self.source = ("run", run_id)
        self.workspace_files = []
        rows: list[AgentRow] = []
        if self.agent is not None:
            try:
                rows = [AgentRow.from_api(r) for r in await self.agent.run_agents(run_id)]
                self._loaded()
            except ServiceError as err:
                self._say(f"cannot load the team of run {run_id}: {err}")
        self._set_rows(rows)
        if self.trading is not None:
            try:
                self.apply_leaderboard(await self.trading.leaderboard(run_id))
            except ServiceError as err:
                if err.status != 404:  # a run that has not settled a day has no leaderboard yet
                    self._say(f"cannot load the leaderboard of run {run_id}: {err}")

    async def show_workspace(self, name: str) -> None:
        """The roster of a workspace and its agent files."""
        self.source = ("workspace", name)
        rows: list[AgentRow] = []
        self.workspace_files = []
        if self.agent is not None:
            try:
                rows = [AgentRow.from_api(r) for r in await self.agent.workspace_agents(name)]
                detail = await self.agent.get_workspace(name)
                self.workspace_files = [str(f.get("path") if isinstance(f, dict) else f)
                                        for f in detail.get("files") or []]
                self._loaded()
            except ServiceError as err:
                self._say(f"cannot load the team of workspace {name}: {err}")
        self._set_rows(rows)

    def _set_rows(self, rows: list[AgentRow]) -> None:
        self.rows = rows
        self.exchanges = {}
        self._emit("team")
        keep = self.selected if self.row(self.selected) is not None else None
        self.selected, self.profile, self.memory = keep, {}, []
        self._emit("selected", keep)

    async def select(self, agent_id: str | None) -> None:
        """Load one member's profile (persona, skills) and, for runs, its reflections."""
        self.selected, self.profile, self.memory = agent_id, {}, []
        if agent_id is not None and self.source is not None and self.agent is not None:
            kind, name = self.source
            try:
                if kind == "run":
                    self.profile = await self.agent.run_agent(name, agent_id)
                    # The profile carries a short preview; the panel shows more.
                    self.memory = await self.agent.agent_memory(name, agent_id, limit=MEMORY_LIMIT)
                    row = self.row(agent_id)
                    if row is not None and row.policy == "llm":  # its exchanges so far; events add the next
                        found = await self.agent.agent_exchanges(name, agent_id, limit=EXCHANGE_LIMIT)
                        self.exchanges[agent_id] = [AgentExchange.model_validate(x) for x in found]
                else:
                    self.profile = await self.agent.workspace_agent(name, agent_id)
            except ServiceError as err:
                self._say(f"cannot load agent {agent_id}: {err}")
        self._emit("selected", agent_id)

    # -- live updates -------------------------------------------------------------
    def apply_leaderboard(self, rows: list[BaseModel | dict[str, Any]]) -> None:
        """Each member's record from leaderboard rows (trading_service's, or a ``team_leaderboard`` event's)."""
        # An event's rows are the state schema's LeaderboardRow, trading_service's are its API
        # model's: the same fields.
        parsed = [r if isinstance(r, BaseModel) else LeaderboardRow.model_validate(r) for r in rows]
        by_id = {r.agentId: r for r in parsed}
        for row in self.rows:
            if row.id in by_id:
                row.apply_leaderboard(by_id[row.id])
        self._emit("team")

    def apply_event(self, frame: Event | dict[str, Any], run_id: str | None = None) -> None:
        """Apply a Gateway event of run ``run_id`` (ignored unless that run is shown)."""
        if self.source is None or self.source[0] != "run" or (run_id is not None and run_id != self.source[1]):
            return
        if event_type(frame) not in ("team_leaderboard", "memory", "agent_exchange"):
            return
        event = as_event(frame)
        if isinstance(event, AgentExchange):
            kept = self.exchanges.setdefault(event.agentId, [])
            kept.append(event)
            del kept[:-EXCHANGE_LIMIT]
            self._emit("exchange", event.agentId)
        elif isinstance(event, TeamLeaderboard):
            self.apply_leaderboard(event.data)
        elif isinstance(event, Memory) and event.agentId == self.selected:
            self.memory.append({"agent_id": event.agentId, "content": event.content,
                                "score": event.score, "ts": event.ts})
            del self.memory[:-MEMORY_LIMIT]
            self._emit("memory", self.selected)

    # -- agent files (workspaces) -------------------------------------------------
    async def read_file(self, path: str) -> str | None:
        if not self.editable or self.agent is None:
            return None
        try:
            text = await self.agent.read_file(self.source[1], path)  # type: ignore[index]
        except ServiceError as err:
            self._say(f"cannot open {path}: {err.detail or err}")
            return None
        self._emit("file", (path, text))
        return text

    async def write_file(self, path: str, text: str) -> bool:
        if not self.editable or self.agent is None:
            self._say("agent files can only be edited in a workspace")
            return False
        try:
            await self.agent.write_file(self.source[1], path, text)  # type: ignore[index]
        except ServiceError as err:
            self._say(f"save failed: {err.detail or err}")
            return False
        self._say(f"saved {self.source[1]}/{path}")  # type: ignore[index]
        return True
