"""The `llm` policy: an analyst, the risk manager or the portfolio manager asks a chat model.

Any OpenAI-compatible server works (OpenAI, vLLM, Ollama, llama.cpp, DashScope's
compatible mode): the official `openai` SDK talks to ``OPENAI_BASE_URL``
(:mod:`backend.agents.llm_client`: timeouts, retries honouring ``Retry-After``,
parameters a server rejects detected once per run).

One *turn* is an agent's part in one stage of one day, a bounded ReAct loop:
the model may call its tools (its skills, run through the sandboxed executor,
and ``search_memory``; :mod:`backend.agents.llm_tools`) for at most
``LLM_MAX_TOOL_STEPS`` requests, then answers with JSON (a markdown code fence
around it is accepted). The answer is parsed strictly (every ticker of the run
exactly once, known values only); an unusable answer is corrected once. When
a turn yields nothing usable the agent's rules result is used and a ``system``
event names the agent and the reason: a configured `llm` agent never runs
rules silently. Each turn is recorded in the agent's ``transcripts.jsonl``
(:mod:`backend.agents.transcripts`) and announced as an ``agent_exchange`` event.

Safety guards: the risk manager may only tighten the computed limits; whatever
the portfolio manager answers, no order may leave a position larger than the
risk manager's ``max_position_value`` for its ticker. A long may buy at most
``limit - current value``; a short may sell at most ``current value + limit``
(close the long, then at most the limit short). So an order's notional never
exceeds the limit plus the current position, and a position already above
its limit can only be reduced.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Mapping, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from backend.agents import llm_prompts as prompts
from backend.agents import skill_inputs, transcripts
from backend.agents.llm_client import (Completion, LlmAnswerError, LlmClient, LlmTransportError, ToolsUnsupported,
                                       one_line)
from backend.agents.llm_tools import AgentTools
from backend.schema import events as ev
from backend.schema.trading import Action, OrderDecision, RiskReport, SignalValue, TickerSignal

if TYPE_CHECKING:
    from backend.config import Settings

__all__ = ["LlmAnswerError", "LlmPolicy", "LlmTransportError", "clamp_order", "parse_decisions", "parse_signals",
           "parse_limits", "parse_revision", "parse_summary", "strip_fence"]

log = logging.getLogger(__name__)

Emit = Callable[[ev.Event], None]
T = TypeVar("T")
FENCE_RE = re.compile(r"```[A-Za-z0-9_-]*[ \t]*\n?(.*?)\n?[ \t]*```", re.DOTALL)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class _Signal(_Strict):
    ticker: str
    signal: SignalValue
    confidence: float = Field(ge=0, le=100)
    reasoning: str = Field(min_length=1)


class _Signals(_Strict):
    signals: list[_Signal]


class _Revision(_Signals):
    comment: str = Field(min_length=1)


class _Summary(_Strict):
    summary: str = Field(min_length=1)


class _Limit(_Strict):
    ticker: str
    max_position_value: float = Field(ge=0)
    reasoning: str = Field(min_length=1)


class _Limits(_Strict):
    limits: list[_Limit]


class _Decision(_Strict):
    ticker: str
    action: Action
    quantity: int = Field(ge=0)
    confidence: float = Field(ge=0, le=100)
    reasoning: str = Field(min_length=1)


class _Decisions(_Strict):
    decisions: list[_Decision]


def strip_fence(content: str) -> str:
    """The JSON inside a markdown code fence (```json ... ```), else ``content`` unchanged."""
    text = content.strip()
    if text.startswith("{") or text.startswith("["):
        return text
    match = FENCE_RE.search(text)
    return match.group(1).strip() if match else text


def _load(content: str, model: type[T]) -> T:
    try:
        data = json.loads(strip_fence(content))
    except json.JSONDecodeError as err:
        raise LlmAnswerError(f"not JSON ({err.msg} at line {err.lineno} column {err.colno})") from None
    try:
        return model.model_validate(data)  # type: ignore[attr-defined, no-any-return]
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ())) or "answer"
        raise LlmAnswerError(f"wrong shape at {where}: {first.get('msg', 'invalid')}") from None


def _check_tickers(found: list[str], expected: list[str]) -> None:
    counts: dict[str, int] = {}
    for ticker in found:
        counts[ticker] = counts.get(ticker, 0) + 1
    repeated = sorted(t for t, n in counts.items() if n > 1)
    unknown = sorted(set(counts) - set(expected))
    missing = [t for t in expected if t not in counts]
    problems = []
    if missing:
        problems.append(f"missing tickers {', '.join(missing)}")
    if unknown:
        problems.append(f"unknown tickers {', '.join(unknown)}")
    if repeated:
        problems.append(f"repeated tickers {', '.join(repeated)}")
    if problems:
        raise LlmAnswerError("; ".join(problems))


def _signals(answer: _Signals, tickers: list[str]) -> list[TickerSignal]:
    _check_tickers([s.ticker for s in answer.signals], tickers)
    by_ticker = {s.ticker: s for s in answer.signals}
    out = []
    for ticker in tickers:
        s = by_ticker[ticker]
        sign = {"bull": 1.0, "bear": -1.0, "neutral": 0.0}[s.signal]
        out.append(TickerSignal(ticker=ticker, signal=s.signal, confidence=s.confidence,
                                reasoning=s.reasoning.strip(), score=round(sign * s.confidence / 100.0, 6)))
    return out


def parse_signals(content: str, tickers: list[str]) -> list[TickerSignal]:
    """An analyst's answer -> one :class:`TickerSignal` per ticker, in ``tickers`` order."""
    return _signals(_load(content, _Signals), tickers)


def parse_revision(content: str, tickers: list[str]) -> tuple[str, list[TickerSignal]]:
    """A conference answer -> (what the analyst says, its revised signals)."""
    answer = _load(content, _Revision)
    return answer.comment.strip(), _signals(answer, tickers)


def parse_summary(content: str) -> str:
    return _load(content, _Summary).summary.strip()


def parse_limits(content: str, tickers: list[str]) -> dict[str, tuple[float, str]]:
    """The risk manager's answer -> ticker -> (limit in dollars, reasoning)."""
    answer = _load(content, _Limits)
    _check_tickers([lim.ticker for lim in answer.limits], tickers)
    return {lim.ticker: (lim.max_position_value, lim.reasoning.strip()) for lim in answer.limits}


def parse_decisions(content: str, tickers: list[str]) -> list[OrderDecision]:
    """The portfolio manager's answer -> one :class:`OrderDecision` per ticker (not yet clamped)."""
    answer = _load(content, _Decisions)
    _check_tickers([d.ticker for d in answer.decisions], tickers)
    by_ticker = {d.ticker: d for d in answer.decisions}
    out = []
    for ticker in tickers:
        d = by_ticker[ticker]
        out.append(OrderDecision(ticker=ticker, action=d.action, quantity=0 if d.action == "hold" else d.quantity,
                                 confidence=d.confidence, reasoning=d.reasoning.strip()))
    return out


def clamp_order(order: OrderDecision, price: float | None, limit: float | None, position: int) -> OrderDecision:
    """Cut ``order`` so the resulting position stays within ``limit`` dollars (see the module docstring)."""
    if order.action == "hold":
        return order
    if not price or price <= 0 or limit is None:
        return order.model_copy(update={"action": "hold", "quantity": 0,
                                        "reasoning": order.reasoning + "; held: no price or risk limit to size it"})
    room = limit / price  # shares allowed on either side of flat
    # A hair of tolerance so a limit that is an exact multiple of the price is not lost to rounding.
    allowed = int(max(0.0, room - position if order.action == "long" else room + position) + 1e-9)
    if order.quantity <= allowed:
        return order
    note = f"; cut from {order.quantity} to {allowed} shares by the risk limit {limit:,.0f}"
    if allowed == 0:
        return order.model_copy(update={"action": "hold", "quantity": 0, "reasoning": order.reasoning + note})
    return order.model_copy(update={"quantity": allowed, "reasoning": order.reasoning + note})


@dataclass
class Turn:
    """What one agent is asked in one stage of one day."""

    agent: Any
    date: str
    stage: str
    kind: str                       # the answer's shape: signals, revision, summary, limits, decisions
    user: str
    tickers: list[str]
    parse: Callable[[str], Any]
    fallback: str = "rules"         # what is used instead, named in the system event
    tools: AgentTools | None = None
    memories: list[dict[str, Any]] = field(default_factory=list)
    no_tools_user: Callable[[], str] | None = None  # the prompt when the server takes no tools


class LlmPolicy:
    """Asks an OpenAI-compatible chat model for an agent's signals, limits, orders or words.

    Args:
        settings: runtime settings (``openai_base_url``, ``openai_api_key``, ``model_name``, the
            per-agent ``AGENT_<ID>_MODEL_NAME`` and the ``llm_*`` limits).
        run_prompt: the run's BOOTSTRAP.md body (the team's brief).
        executor: the run's skill executor; without one no tools are offered (features go in the prompt).
        timeout: seconds allowed for one request (default ``LLM_TIMEOUT_SECONDS``).
        max_retries: the client's retries of one request (default ``LLM_MAX_RETRIES``).
    """

    def __init__(self, settings: Settings, run_prompt: str, executor: Any | None = None,
                 timeout: float | None = None, max_retries: int | None = None) -> None:
        self.settings = settings
        self.run_prompt = run_prompt
        self.executor = executor
        self.client = LlmClient(str(settings.openai_base_url), settings.openai_api_key,
                                timeout if timeout is not None else settings.llm_timeout_seconds,
                                max_retries if max_retries is not None else settings.llm_max_retries,
                                on_notice=self._notices_append)
        self.memory_entries = settings.llm_memory_entries
        self._notices: list[str] = []
        self._limit: asyncio.Semaphore | None = None

    def _notices_append(self, text: str) -> None:
        self._notices.append(text)

    def _flush_notices(self, emit: Emit) -> None:
        while self._notices:
            emit(ev.System(content=self._notices.pop(0)))

    def model_for(self, agent: Any) -> str:
        """The roster's model, else AGENT.md's, else ``AGENT_<ID>_MODEL_NAME``, else ``MODEL_NAME``."""
        return agent.spec.model or agent.profile.model or self.settings.agent_model(agent.id)

    async def aclose(self) -> None:
        """Close the client's connections (the run's end)."""
        await self.client.aclose()

    def _tools(self, agent: Any, payload: dict[str, Any], tickers: list[str]) -> AgentTools | None:
        if self.executor is None:
            return None
        return AgentTools(dict(agent.profile.skill_specs), payload, tickers, self.executor, agent.memory)

    # -- the roles ----------------------------------------------------------------
    async def analyse(self, agent: Any, work: Any, rules_signals: list[TickerSignal],
                      emit: Emit) -> list[TickerSignal]:
        """The analyst's signals for ``work``'s day, or ``rules_signals`` when the model gives nothing usable."""
        tickers = [s.ticker for s in rules_signals]
        query = " ".join([agent.role.replace("_", " "), *tickers, *(s.reasoning for s in rules_signals)])
        memories = agent.memory.relevant(query, self.memory_entries)
        builder = skill_inputs.ANALYST_PAYLOADS.get(agent.role)
        tools = self._tools(agent, builder(work.snapshot), tickers) if builder is not None else None
        features = work.features.get(agent.id, {})
        tool_names = [t["function"]["name"] for t in tools.specs()] if tools is not None else None
        turn = Turn(agent, work.iso, "analysis", "signals",
                    prompts.analyst_message(work.iso, tickers, memories, None if tools else features,
                                            rules_signals, tool_names),
                    tickers, lambda c: parse_signals(c, tickers), tools=tools, memories=memories,
                    no_tools_user=lambda: prompts.analyst_message(work.iso, tickers, memories, features,
                                                                  rules_signals))
        result = await self.turn(turn, emit)
        return rules_signals if result is None else result

    async def analyse_many(self, agents: list[Any], work: Any, rules: Mapping[str, list[TickerSignal]],
                           emit: Emit) -> dict[str, list[TickerSignal]]:
        """Every analyst of ``agents`` at once (at most ``LLM_MAX_CONCURRENCY`` asking together)."""
        results = await asyncio.gather(*(self.analyse(a, work, rules[a.id], emit) for a in agents))
        return {a.id: r for a, r in zip(agents, results)}

    async def assess(self, agent: Any, work: Any, report: RiskReport, payload: dict[str, Any], equity: float,
                     positions: Mapping[str, float], emit: Emit) -> RiskReport:
        """The risk manager's limits: the computed ones, tightened where the model says so."""
        tickers = [lim.ticker for lim in report.limits]
        prices = {t: bars[-1].close for t, bars in work.snapshot.bars.items() if bars}
        query = " ".join(["risk", *tickers, *report.warnings])
        memories = agent.memory.relevant(query, self.memory_entries)
        tools = self._tools(agent, payload, tickers)
        tool_names = [t["function"]["name"] for t in tools.specs()] if tools is not None else None
        turn = Turn(agent, work.iso, "risk", "limits",
                    prompts.risk_message(work.iso, tickers, memories, report, prices, dict(positions), equity,
                                         tool_names),
                    tickers, lambda c: parse_limits(c, tickers), fallback="the computed limits", tools=tools,
                    memories=memories,
                    no_tools_user=lambda: prompts.risk_message(work.iso, tickers, memories, report, prices,
                                                               dict(positions), equity))
        answer = await self.turn(turn, emit)
        if answer is None:
            return report
        limits, warnings = [], list(report.warnings)
        for lim in report.limits:
            value, why = answer[lim.ticker]
            if value < lim.max_position_value:
                note = f"{lim.ticker}: limit cut to {value:,.0f} by {agent.id}: {why}"
                limits.append(lim.model_copy(update={"max_position_value": round(value, 2),
                                                     "warnings": [*lim.warnings, note]}))
                warnings.append(note)
            else:
                limits.append(lim)
        return report.model_copy(update={"limits": limits, "warnings": warnings})

    async def decide(self, agent: Any, work: Any, rules_orders: list[OrderDecision], emit: Emit,
                     positions: Mapping[str, int] | None = None) -> list[OrderDecision]:
        """The portfolio manager's orders, clamped to the risk limits, or ``rules_orders`` on failure.

        ``positions`` (ticker -> net shares) defaults to ``work.positions`` when
        the pipeline provides it; without either, the guard assumes a flat book.
        """
        tickers = [o.ticker for o in rules_orders]
        if positions is None:
            positions = getattr(work, "positions", None)
        prices = {t: bars[-1].close for t, bars in work.snapshot.bars.items() if bars}
        query = " ".join(["orders", *tickers, *(o.reasoning for o in rules_orders)])
        memories = agent.memory.relevant(query, self.memory_entries)
        conference = getattr(work, "conference_summary", None)
        user = prompts.pm_message(work.iso, tickers, memories, work.scores, agent.trust, work.risk, prices,
                                  None if positions is None else dict(positions), rules_orders, conference)
        result = await self.turn(Turn(agent, work.iso, "decision", "decisions", user, tickers,
                                      lambda c: parse_decisions(c, tickers), memories=memories), emit)
        if result is None:
            return rules_orders
        held = positions or {}
        clamped = []
        for order in result:
            limits = work.risk.for_ticker(order.ticker) if work.risk is not None else None
            clamped.append(clamp_order(order, prices.get(order.ticker),
                                       None if limits is None else limits.max_position_value,
                                       int(held.get(order.ticker, 0))))
        # Sells and shorts first so the buys can use the cash they free (as the rules policy does).
        return sorted(clamped, key=lambda o: (o.action != "short", o.ticker))

    # -- one turn -------------------------------------------------------------------
    async def turn(self, turn: Turn, emit: Emit) -> Any | None:
        """Run one turn (at most ``LLM_MAX_CONCURRENCY`` at once); ``None`` after a visible fallback."""
        if self._limit is None:
            self._limit = asyncio.Semaphore(self.settings.llm_max_concurrency)
        async with self._limit:
            return await self._turn(turn, emit)

    async def _turn(self, turn: Turn, emit: Emit) -> Any | None:
        agent = turn.agent
        model = self.model_for(agent)
        system = {"role": "system", "content": prompts.system_message(self.run_prompt, agent.id, agent.role,
                                                                      agent.profile.persona)}
        tools = turn.tools
        if tools is not None and not self.client.capabilities.allows("tools"):
            tools = None
        user = turn.user if tools is not None or turn.no_tools_user is None else turn.no_tools_user()
        messages: list[dict[str, Any]] = [system, {"role": "user", "content": user}]
        steps: list[dict[str, Any]] = []
        max_tool_steps = self.settings.llm_max_tool_steps
        tool_steps, corrected = 0, False
        reason, answer, used = "", None, None
        # Bounded: the tool steps, one answer, one correction, one restart without tools.
        for _ in range(max_tool_steps + 3):
            offer = tools.specs() if tools is not None and tool_steps < max_tool_steps else None
            try:
                completion = await self.client.complete(agent.id, model, messages, offer)
            except ToolsUnsupported:
                self._flush_notices(emit)
                tools = None
                user = turn.no_tools_user() if turn.no_tools_user is not None else turn.user
                messages = [system, {"role": "user", "content": user}]
                continue
            except LlmTransportError as err:
                self._flush_notices(emit)
                reason = str(err)
                steps.append({"error": reason})
                break
            self._flush_notices(emit)
            step = self._step(completion)
            steps.append(step)
            messages.append(completion.as_message())
            if completion.tool_calls and offer is not None and tools is not None:
                tool_steps += 1
                for call in completion.tool_calls:
                    outcome = await tools.call(call.name, call.arguments)
                    step["tool_calls"].append({"id": call.id, **outcome.record()})
                    messages.append({"role": "tool", "tool_call_id": call.id, "content": outcome.text})
                if tool_steps >= max_tool_steps:
                    messages.append({"role": "user", "content": prompts.last_step_message()})
                continue
            try:
                if completion.content is None or not completion.content.strip():
                    raise LlmAnswerError("the answer has no text content" + (
                        " (it asked for tools after its steps were used up)" if completion.tool_calls else ""))
                answer = turn.parse(completion.content)
                used = completion.content
                break
            except LlmAnswerError as err:
                reason = str(err)
                log.info("%s: LLM answer unusable: %s", agent.id, reason)
                if corrected:
                    break
                corrected = True
                if completion.tool_calls:  # unanswered tool calls: drop them, keep the request valid
                    messages[-1] = {"role": "assistant", "content": completion.content or ""}
                messages.append({"role": "user",
                                 "content": prompts.corrective_message(reason, turn.tickers, turn.kind)})
        else:
            reason = reason or f"no answer within {max_tool_steps} tool step(s)"
        fallback = None
        if answer is None:
            fallback = one_line(self.client.scrub(reason))
            emit(ev.System(content=f"{agent.id}: LLM answer unusable ({fallback}); fell back to {turn.fallback}"))
        self._record(turn, model, messages, steps, used, fallback, tools is not None, emit)
        return answer

    @staticmethod
    def _step(c: Completion) -> dict[str, Any]:
        return {"latency_ms": c.latency_ms, "prompt_tokens": c.prompt_tokens,
                "completion_tokens": c.completion_tokens, "sent": c.sent, "content": c.content, "tool_calls": []}

    def _record(self, turn: Turn, model: str, messages: list[dict[str, Any]], steps: list[dict[str, Any]],
                answer: str | None, fallback: str | None, tools_offered: bool, emit: Emit) -> None:
        agent = turn.agent
        tokens = sum(s.get("prompt_tokens", 0) + s.get("completion_tokens", 0) for s in steps)
        latency = round(sum(s.get("latency_ms", 0.0) for s in steps), 3)
        record = {"agent": agent.id, "date": turn.date, "stage": turn.stage, "kind": turn.kind, "model": model,
                  "base_url": self.client.base_url, "tools_offered": tools_offered, "messages": messages,
                  "steps": steps, "answer": answer, "fallback": fallback, "tokens": tokens, "latency_ms": latency,
                  "memories": turn.memories}
        try:
            transcripts.append(agent.memory.path.parent, record, self.client.scrub)
        except OSError as err:  # a full disk must not stop the day: say so
            emit(ev.System(content=f"{agent.id}: cannot record its LLM transcript: {err}"))
        emit(transcripts.exchange_event(json.loads(self.client.scrub(json.dumps(record, default=str)))))
