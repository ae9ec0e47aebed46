"""The `llm` policy: an analyst or the portfolio manager asks a chat model.

Any OpenAI-compatible server works (OpenAI, Ollama, vLLM, llama.cpp, LM
Studio): one ``POST {openai_base_url}/chat/completions`` with
``temperature: 0``, ``seed: 0`` and ``response_format: json_object``. The
answer is parsed strictly (every ticker of the run exactly once, known
values only). An unusable answer is retried once; a second failure falls back
to the rules policy's result and says so in the feed, so a run never stops
because a model misbehaved.

Safety guard (portfolio manager): whatever the model answers, no order may
leave a position larger than the risk manager's ``max_position_value`` for
its ticker. A long may buy at most ``limit - current value``; a short may
sell at most ``current value + limit`` (close the long, then at most the
limit short). So an order's notional never exceeds the limit plus the current
position, and a position already above its limit can only be reduced.
"""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Any, Callable, Mapping, TypeVar

import httpx
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from backend.agents import llm_prompts as prompts
from backend.schema import events as ev
from backend.schema.trading import Action, OrderDecision, SignalValue, TickerSignal

if TYPE_CHECKING:
    from backend.config import Settings

log = logging.getLogger(__name__)

Emit = Callable[[ev.Event], None]
T = TypeVar("T")
REASON_LIMIT = 240  # characters of a failure reason shown in the feed


class LlmAnswerError(ValueError):
    """The model's answer cannot be used; ``str(err)`` is one line naming what is wrong."""


class LlmTransportError(LlmAnswerError):
    """No answer at all (HTTP error, timeout, unreachable server): retried with the same request."""


class _Signal(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    ticker: str
    signal: SignalValue
    confidence: float = Field(ge=0, le=100)
    reasoning: str = Field(min_length=1)


class _Signals(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    signals: list[_Signal]


class _Decision(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    ticker: str
    action: Action
    quantity: int = Field(ge=0)
    confidence: float = Field(ge=0, le=100)
    reasoning: str = Field(min_length=1)


class _Decisions(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    decisions: list[_Decision]


def _one_line(text: str) -> str:
    line = " ".join(str(text).split())
    return line if len(line) <= REASON_LIMIT else line[:REASON_LIMIT - 1] + "…"


def _load(content: str, model: type[T]) -> T:
    try:
        data = json.loads(content)
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


def parse_signals(content: str, tickers: list[str]) -> list[TickerSignal]:
    """An analyst's answer -> one :class:`TickerSignal` per ticker, in ``tickers`` order."""
    answer = _load(content, _Signals)
    _check_tickers([s.ticker for s in answer.signals], tickers)
    by_ticker = {s.ticker: s for s in answer.signals}
    out = []
    for ticker in tickers:
        s = by_ticker[ticker]
        sign = {"bull": 1.0, "bear": -1.0, "neutral": 0.0}[s.signal]
        out.append(TickerSignal(ticker=ticker, signal=s.signal, confidence=s.confidence,
                                reasoning=s.reasoning.strip(), score=round(sign * s.confidence / 100.0, 6)))
    return out


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


class LlmPolicy:
    """Asks an OpenAI-compatible chat model for an agent's signals or orders.

    Args:
        settings: runtime settings (``openai_base_url``, ``openai_api_key``,
            ``model_name`` and the per-agent ``AGENT_<ID>_MODEL_NAME``).
        run_prompt: the run's BOOTSTRAP.md body (the team's brief).
        client: an HTTP client to use (default: a short-lived one per exchange,
            so nothing stays open between trading days).
        timeout: seconds allowed for one request.
    """

    def __init__(self, settings: Settings, run_prompt: str, client: httpx.AsyncClient | None = None,
                 timeout: float = 30.0) -> None:
        self.settings = settings
        self.run_prompt = run_prompt
        self.client = client
        self.timeout = timeout
        self.url = str(settings.openai_base_url).rstrip("/") + "/chat/completions"

    def model_for(self, agent: Any) -> str:
        """The roster's model, else AGENT.md's, else ``AGENT_<ID>_MODEL_NAME``, else ``MODEL_NAME``."""
        return agent.spec.model or agent.profile.model or self.settings.agent_model(agent.id)

    async def analyse(self, agent: Any, work: Any, rules_signals: list[TickerSignal],
                      emit: Emit) -> list[TickerSignal]:
        """The analyst's signals for ``work``'s day, or ``rules_signals`` if the model fails twice."""
        tickers = [s.ticker for s in rules_signals]
        user = prompts.analyst_message(work.iso, tickers, agent.memory.recent(prompts.MEMORY_ENTRIES),
                                       work.features.get(agent.id, {}), rules_signals)
        result = await self._ask(agent, user, tickers, "signals", lambda c: parse_signals(c, tickers), emit)
        return rules_signals if result is None else result

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
        user = prompts.pm_message(work.iso, tickers, agent.memory.recent(prompts.MEMORY_ENTRIES), work.scores,
                                  agent.trust, work.risk, prices, None if positions is None else dict(positions),
                                  rules_orders)
        result = await self._ask(agent, user, tickers, "decisions", lambda c: parse_decisions(c, tickers), emit)
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

    # -- the exchange ------------------------------------------------------------
    async def _ask(self, agent: Any, user: str, tickers: list[str], kind: str, parse: Callable[[str], T],
                   emit: Emit) -> T | None:
        messages = [{"role": "system", "content": prompts.system_message(self.run_prompt, agent.id, agent.role,
                                                                         agent.profile.persona)},
                    {"role": "user", "content": user}]
        model = self.model_for(agent)
        if self.client is not None:
            return await self._attempts(self.client, agent.id, model, messages, tickers, kind, parse, emit)
        async with httpx.AsyncClient(timeout=self.timeout) as client:
            return await self._attempts(client, agent.id, model, messages, tickers, kind, parse, emit)

    async def _attempts(self, client: httpx.AsyncClient, agent_id: str, model: str, messages: list[dict[str, str]],
                        tickers: list[str], kind: str, parse: Callable[[str], T], emit: Emit) -> T | None:
        reason = ""
        for attempt in (1, 2):
            content = None
            try:
                content = await self._complete(client, agent_id, model, messages, attempt)
                return parse(content)
            except LlmTransportError as err:
                reason = str(err)  # the model never saw the request: send it again unchanged
            except LlmAnswerError as err:
                reason = str(err)
                messages = messages + [{"role": "assistant", "content": content or ""},
                                       {"role": "user", "content": prompts.corrective_message(reason, tickers, kind)}]
            log.info("%s: LLM answer unusable on attempt %d: %s", agent_id, attempt, reason)
        emit(ev.System(content=f"{agent_id}: LLM answer unusable ({_one_line(reason)}); fell back to rules"))
        return None

    async def _complete(self, client: httpx.AsyncClient, agent_id: str, model: str,
                        messages: list[dict[str, str]], attempt: int) -> str:
        """One chat completion; returns the assistant's text."""
        body = json.dumps({"model": model, "messages": messages, "temperature": 0, "seed": 0,
                           "response_format": {"type": "json_object"}}, sort_keys=True, ensure_ascii=False)
        headers = {"Content-Type": "application/json"}
        if self.settings.openai_api_key:
            headers["Authorization"] = f"Bearer {self.settings.openai_api_key}"
        # Debug logs show the body only: the key lives in the headers, which are never logged.
        log.debug("%s: LLM request %d to %s: %s", agent_id, attempt, self.url, body)
        try:
            response = await client.post(self.url, content=body.encode("utf-8"), headers=headers,
                                         timeout=self.timeout)
        except httpx.TimeoutException:
            raise LlmTransportError(f"no answer from {self.url} within {self.timeout:g}s") from None
        except httpx.HTTPError as err:
            raise LlmTransportError(f"cannot reach {self.url}: {type(err).__name__}: {err}") from None
        log.debug("%s: LLM response %d (HTTP %d): %s", agent_id, attempt, response.status_code, response.text)
        if response.status_code != 200:
            raise LlmTransportError(f"HTTP {response.status_code} from {self.url}: {_one_line(response.text)[:120]}")
        try:
            content = response.json()["choices"][0]["message"]["content"]
        except (ValueError, KeyError, IndexError, TypeError):
            raise LlmTransportError(f"{self.url} did not answer in the chat-completions shape") from None
        if not isinstance(content, str):
            raise LlmAnswerError("the answer has no text content")
        return content
