"""The `llm` policy against a real chat-completions server on 127.0.0.1."""

from __future__ import annotations

import datetime as dt
import importlib.util
import json
import logging
import socket
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from backend.agents.evo_agent import EvoAgent
from backend.agents.llm_policy import LlmAnswerError, LlmPolicy, clamp_order, parse_decisions, parse_signals
from backend.agents.memory import AgentMemory
from backend.agents.profile import AgentProfile
from backend.config import load_settings
from backend.market.base import Bar
from backend.pipeline.trading_pipeline import DayWork
from backend.schema import events as ev
from backend.schema.bootstrap import AgentSpec
from backend.schema.trading import OrderDecision, RiskLimits, RiskReport, TickerSignal

# Test folders are not packages: load our server under a name no other area uses.
_spec = importlib.util.spec_from_file_location("agents_chat_server", Path(__file__).with_name("chat_server.py"))
assert _spec is not None and _spec.loader is not None
chat_server = importlib.util.module_from_spec(_spec)
sys.modules["agents_chat_server"] = chat_server
_spec.loader.exec_module(chat_server)
answer, http_error, stall = chat_server.answer, chat_server.http_error, chat_server.stall

KEY = "sk-local-test-5f1e"
RUN_PROMPT = "# Team brief\nRUN-PROMPT-MARKER: preserve capital first."
TICKERS = ["AAPL", "MSFT"]


@pytest.fixture
def chat():
    server = chat_server.ChatServer()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    yield server
    server.released.set()
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def _settings(tmp_path: Path, base_url: str, **extra: Any):
    return load_settings(runs_dir=tmp_path / "runs", workspaces_dir=tmp_path / "ws", openai_base_url=base_url,
                         openai_api_key=KEY, model_name="global-model", **extra)


def _agent(tmp_path: Path, agent_id: str = "technical_analyst", role: str = "technical_analyst",
           model: str | None = None) -> EvoAgent:
    spec = AgentSpec(id=agent_id, role=role, policy="llm", model=model)
    profile = AgentProfile(agent_id=agent_id, role=role, persona=f"# {agent_id}\nPERSONA-MARKER of {agent_id}.")
    return EvoAgent(spec=spec, profile=profile, memory=AgentMemory(tmp_path / agent_id / "memory.jsonl"))


def _work(prices: dict[str, float] | None = None) -> DayWork:
    work = DayWork(dt.date(2025, 1, 6))
    work.features["technical_analyst"] = {
        "AAPL": {"features": {"trend": 0.4, "rsi": -0.1}, "values": {"rsi14": 55.1, "sma_fast": 101.5}},
        "MSFT": {"features": {"trend": -0.3, "rsi": 0.2}, "values": {"rsi14": 41.7, "sma_fast": 399.0}},
    }
    for t, p in (prices or {"AAPL": 100.0, "MSFT": 200.0}).items():
        work.snapshot.bars[t] = [Bar(dt.date(2025, 1, 3), p, p, p, p, 1e6, 0.0)]
    return work


def _rules_signals() -> list[TickerSignal]:
    return [TickerSignal(ticker="AAPL", signal="bull", confidence=30, reasoning="RULES-AAPL trend", score=0.15),
            TickerSignal(ticker="MSFT", signal="neutral", confidence=5, reasoning="RULES-MSFT flat", score=-0.02)]


def _good_signals(note: str = "LLM") -> dict:
    return {"signals": [
        {"ticker": "AAPL", "signal": "bull", "confidence": 80, "reasoning": f"{note}: AAPL trend is up."},
        {"ticker": "MSFT", "signal": "bear", "confidence": 40, "reasoning": f"{note}: MSFT lost its MA."},
    ]}


def _events() -> tuple[list[ev.Event], Any]:
    seen: list[ev.Event] = []
    return seen, seen.append


def _systems(seen: list[ev.Event]) -> list[str]:
    return [e.content for e in seen if isinstance(e, ev.System)]


async def test_good_answer_is_used_and_request_carries_prompt_persona_and_memory(tmp_path, chat):
    agent = _agent(tmp_path)
    for day in range(1, 7):  # six reflections: five are sent, the one about today's tickers first
        agent.memory.append({"date": f"2025-01-0{day}", "score": 0.5, "content": f"MEMORY-{day} reflection"})
    agent.memory.append({"date": "2024-12-31", "score": -0.2, "content": "MEMORY-MSFT: MSFT fooled me on trend"})
    chat.queue(answer(_good_signals()))
    seen, emit = _events()
    signals = await LlmPolicy(_settings(tmp_path, chat.base_url), RUN_PROMPT).analyse(
        agent, _work(), _rules_signals(), emit)

    assert [(s.ticker, s.signal, s.confidence, s.score) for s in signals] == [
        ("AAPL", "bull", 80, 0.8), ("MSFT", "bear", 40, -0.4)]
    assert signals[0].reasoning == "LLM: AAPL trend is up."
    [exchange] = seen  # no system event: the answer was used; the desk hears of the exchange
    assert isinstance(exchange, ev.AgentExchange) and exchange.fallback is None
    assert exchange.memories[0] == "2024-12-31: MEMORY-MSFT: MSFT fooled me on trend"
    [req] = chat.requests
    assert req.path == "/v1/chat/completions"
    assert req.headers["authorization"] == f"Bearer {KEY}"
    assert req.body["model"] == "global-model"
    assert req.body["temperature"] == 0
    assert req.body["response_format"] == {"type": "json_object"}
    system, user = req.text("system"), req.text("user")
    assert "RUN-PROMPT-MARKER" in system and "PERSONA-MARKER of technical_analyst" in system
    assert user.index("MEMORY-MSFT") < user.index("MEMORY-6 reflection")
    assert all(f"MEMORY-{d} reflection" in user for d in range(3, 7)) and "MEMORY-2 " not in user
    # The transcript holds the exchange: prompt, answer, tokens, latency.
    [record] = [json.loads(line) for line in (tmp_path / "technical_analyst" / "transcripts.jsonl").open()]
    assert record["messages"][1]["content"] == user and record["answer"] == json.dumps(_good_signals())
    assert record["tokens"] == 150 and record["steps"][0]["latency_ms"] > 0 and record["date"] == "2025-01-06"
    assert "2025-01-06" in user and "55.1" in user and "RULES-AAPL trend" in user


async def test_malformed_first_answer_is_corrected_by_the_second(tmp_path, chat):
    chat.queue(answer("Sure! AAPL looks great."), answer(_good_signals("SECOND")))
    seen, emit = _events()
    signals = await LlmPolicy(_settings(tmp_path, chat.base_url), RUN_PROMPT).analyse(
        _agent(tmp_path), _work(), _rules_signals(), emit)

    assert signals[1].reasoning == "SECOND: MSFT lost its MA." and _systems(seen) == []
    first, second = chat.requests
    messages = second.body["messages"]
    assert messages[:2] == first.body["messages"]
    assert messages[2] == {"role": "assistant", "content": "Sure! AAPL looks great."}
    assert messages[3]["role"] == "user" and "not JSON" in messages[3]["content"]


async def test_two_malformed_answers_fall_back_to_rules_with_a_system_event(tmp_path, chat):
    only_aapl = {"signals": _good_signals()["signals"][:1]}
    chat.queue(answer(only_aapl), answer(only_aapl))
    seen, emit = _events()
    rules = _rules_signals()
    signals = await LlmPolicy(_settings(tmp_path, chat.base_url), RUN_PROMPT).analyse(
        _agent(tmp_path), _work(), rules, emit)

    assert signals == rules
    assert len(chat.requests) == 2
    assert "missing tickers MSFT" in chat.requests[1].body["messages"][-1]["content"]
    assert _systems(seen) == ["technical_analyst: LLM answer unusable (missing tickers MSFT); fell back to rules"]
    assert seen[-1].fallback == "missing tickers MSFT"  # the desk's exchange says so too


async def test_http_500_is_retried_unchanged_then_falls_back(tmp_path, chat):
    chat.queue(http_error(500), http_error(500))
    seen, emit = _events()
    signals = await LlmPolicy(_settings(tmp_path, chat.base_url, llm_max_retries=1), RUN_PROMPT).analyse(
        _agent(tmp_path), _work(), _rules_signals(), emit)

    assert signals == _rules_signals()
    first, second = chat.requests
    assert first.body == second.body  # the model never saw the first one
    [content] = _systems(seen)
    assert content.startswith("technical_analyst: LLM answer unusable (HTTP 500 from ")


async def test_connection_refused_falls_back(tmp_path):
    with socket.socket() as sock:  # a port that was free a moment ago and has no listener now
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    seen, emit = _events()
    signals = await LlmPolicy(_settings(tmp_path, f"http://127.0.0.1:{port}/v1", llm_max_retries=0),
                              RUN_PROMPT).analyse(_agent(tmp_path), _work(), _rules_signals(), emit)

    assert signals == _rules_signals()
    [content] = _systems(seen)
    assert "cannot reach http://127.0.0.1:" in content and content.endswith("fell back to rules")


async def test_a_stalled_server_times_out_and_falls_back(tmp_path, chat):
    chat.queue(stall(), stall())
    seen, emit = _events()
    signals = await LlmPolicy(_settings(tmp_path, chat.base_url), RUN_PROMPT, timeout=0.3, max_retries=1).analyse(
        _agent(tmp_path), _work(), _rules_signals(), emit)

    assert signals == _rules_signals() and len(chat.requests) == 2
    assert "within 0.3s" in _systems(seen)[0]


@pytest.mark.parametrize("content, reason", [
    ('{"signals": [', "not JSON"),
    ('[1, 2]', "wrong shape at answer"),
    ('{"signal": []}', "wrong shape at signals"),
    ('{"signals": [{"ticker": "AAPL", "signal": "up", "confidence": 5, "reasoning": "x"}]}', "signals.0.signal"),
    ('{"signals": [{"ticker": "AAPL", "signal": "bull", "confidence": 150, "reasoning": "x"}]}',
     "signals.0.confidence"),
    ('{"signals": [{"ticker": "AAPL", "signal": "bull", "confidence": "80", "reasoning": "x"}]}',
     "signals.0.confidence"),
    ('{"signals": [{"ticker": "AAPL", "signal": "bull", "confidence": 8, "reasoning": ""}]}', "signals.0.reasoning"),
    ('{"signals": [{"ticker": "AAPL", "signal": "bull", "confidence": 8, "reasoning": "x", "score": 1}]}',
     "signals.0.score"),
    (json.dumps({"signals": _good_signals()["signals"] + [_good_signals()["signals"][0]]}), "repeated tickers AAPL"),
    (json.dumps({"signals": _good_signals()["signals"]
                 + [{"ticker": "TSLA", "signal": "bull", "confidence": 1, "reasoning": "x"}]}), "unknown tickers TSLA"),
])
def test_parse_signals_names_what_is_wrong(content, reason):
    with pytest.raises(LlmAnswerError, match=reason.replace(".", r"\.")):
        parse_signals(content, TICKERS)


def test_parse_decisions_is_strict_and_zeroes_holds():
    good = {"decisions": [
        {"ticker": "AAPL", "action": "hold", "quantity": 7, "confidence": 10, "reasoning": "wait"},
        {"ticker": "MSFT", "action": "short", "quantity": 3, "confidence": 60, "reasoning": "weak"}]}
    orders = parse_decisions(json.dumps(good), TICKERS)
    assert [(o.ticker, o.action, o.quantity) for o in orders] == [("AAPL", "hold", 0), ("MSFT", "short", 3)]
    good["decisions"][1]["quantity"] = 2.5
    with pytest.raises(LlmAnswerError, match=r"decisions\.1\.quantity"):
        parse_decisions(json.dumps(good), TICKERS)


@pytest.mark.parametrize("action, qty, position, expected", [
    ("long", 500, 0, ("long", 100)),       # 10k limit at 100 = 100 shares from flat
    ("long", 50, 0, ("long", 50)),         # within the limit: untouched
    ("long", 50, 80, ("long", 20)),        # already long 80: only 20 more
    ("long", 5, 120, ("hold", 0)),         # above the limit: cannot grow
    ("short", 500, 120, ("short", 220)),   # close the 120 long, then at most 100 short
    ("short", 500, -100, ("hold", 0)),     # already at the short limit
    ("hold", 0, 0, ("hold", 0)),
])
def test_clamp_keeps_the_resulting_position_within_the_limit(action, qty, position, expected):
    order = OrderDecision(ticker="AAPL", action=action, quantity=qty, confidence=50, reasoning="model says so")
    out = clamp_order(order, 100.0, 10_000.0, position)
    assert (out.action, out.quantity) == expected
    assert out.quantity * 100.0 <= 10_000.0 + abs(position) * 100.0
    assert ("cut from" in out.reasoning) == (expected[1] < qty)


async def test_pm_decide_clamps_a_too_large_quantity_and_puts_sells_first(tmp_path, chat):
    pm = _agent(tmp_path, "portfolio_manager", "portfolio_manager")
    pm.trust = {"technical_analyst": 0.7}
    work = _work()
    work.scores = {"technical_analyst": {"AAPL": 0.6, "MSFT": -0.5}}
    work.risk = RiskReport(date=work.iso, gross_exposure=0.1, limits=[
        RiskLimits(ticker="AAPL", max_position_value=10_000, volatility=0.3),
        RiskLimits(ticker="MSFT", max_position_value=6_000, volatility=0.25, warnings=["MSFT-VOL-WARNING"])])
    rules = [OrderDecision(ticker=t, action="hold", quantity=0, confidence=0, reasoning="RULES-ORDER") for t in TICKERS]
    chat.queue(answer({"decisions": [
        {"ticker": "AAPL", "action": "long", "quantity": 5000, "confidence": 90, "reasoning": "all in"},
        {"ticker": "MSFT", "action": "short", "quantity": 10, "confidence": 55, "reasoning": "trim"}]}))
    seen, emit = _events()
    orders = await LlmPolicy(_settings(tmp_path, chat.base_url), RUN_PROMPT).decide(
        pm, work, rules, emit, positions={"AAPL": 30, "MSFT": 0})

    assert [(o.ticker, o.action, o.quantity) for o in orders] == [("MSFT", "short", 10), ("AAPL", "long", 70)]
    assert orders[1].reasoning.startswith("all in; cut from 5000 to 70 shares") and _systems(seen) == []
    user = chat.requests[0].text("user")
    assert "MSFT-VOL-WARNING" in user and "RULES-ORDER" in user and '"AAPL": 30' in user and "0.7" in user


async def test_pm_decide_falls_back_to_rules_orders(tmp_path, chat):
    chat.queue(answer('{"decisions": "none"}'), answer("{}"))
    rules = [OrderDecision(ticker="AAPL", action="long", quantity=3, confidence=40, reasoning="rules")]
    seen, emit = _events()
    work = _work()
    work.risk = RiskReport(date=work.iso, gross_exposure=0.0, limits=[])
    orders = await LlmPolicy(_settings(tmp_path, chat.base_url), RUN_PROMPT).decide(
        _agent(tmp_path, "portfolio_manager", "portfolio_manager"), work, rules, emit)
    assert orders == rules
    assert _systems(seen) == ["portfolio_manager: LLM answer unusable (wrong shape at decisions: Field required); "
                              "fell back to rules"]


async def test_model_per_agent_honours_agent_model_name(tmp_path, chat, monkeypatch):
    monkeypatch.setenv("AGENT_TECHNICAL_ANALYST_MODEL_NAME", "tech-model-7b")
    chat.responder = lambda seen: answer(_good_signals())
    policy = LlmPolicy(_settings(tmp_path, chat.base_url), RUN_PROMPT)
    _, emit = _events()
    await policy.analyse(_agent(tmp_path), _work(), _rules_signals(), emit)
    await policy.analyse(_agent(tmp_path, "sentiment_analyst", "sentiment_analyst"), _work(), _rules_signals(), emit)
    await policy.analyse(_agent(tmp_path, model="roster-model"), _work(), _rules_signals(), emit)
    assert [r.body["model"] for r in chat.requests] == ["tech-model-7b", "global-model", "roster-model"]

    # AGENT_MODELS names models per agent in one setting (a child process inherits it with the others).
    policy = LlmPolicy(_settings(tmp_path, chat.base_url, agent_models={"sentiment_analyst": "senti-3b",
                                                                        "technical_analyst": "not-this"}), RUN_PROMPT)
    await policy.analyse(_agent(tmp_path, "sentiment_analyst", "sentiment_analyst"), _work(), _rules_signals(), emit)
    await policy.analyse(_agent(tmp_path), _work(), _rules_signals(), emit)
    assert [r.body["model"] for r in chat.requests[3:]] == ["senti-3b", "tech-model-7b"]


async def test_requests_are_deterministic_and_the_key_is_never_logged(tmp_path, chat, caplog):
    caplog.set_level(logging.DEBUG, logger="backend.agents.llm_client")
    chat.responder = lambda seen: answer(_good_signals())
    policy = LlmPolicy(_settings(tmp_path, chat.base_url), RUN_PROMPT)
    _, emit = _events()
    for _ in range(2):
        await policy.analyse(_agent(tmp_path), _work(), _rules_signals(), emit)
    first, second = chat.requests
    assert first.raw == second.raw
    assert "LLM request to" in caplog.text and "LLM: AAPL trend is up." in caplog.text
    assert KEY not in caplog.text
    assert KEY not in (tmp_path / "technical_analyst" / "transcripts.jsonl").read_text()
