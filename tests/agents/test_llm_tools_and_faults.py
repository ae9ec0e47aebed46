"""An `llm` agent's tool loop and each way a server fails, against a real chat server on 127.0.0.1.

Skills run through a real :class:`SkillExecutor` (the process sandbox where the
tool loop is the point); every failure ends in a used answer or a visible
fallback (a ``system`` event naming the agent and the reason).
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import json
import shutil
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from backend.agents.evo_agent import EvoAgent
from backend.agents.llm_policy import LlmPolicy
from backend.agents.memory import AgentMemory
from backend.agents.profile import load_profile
from backend.config import load_settings
from backend.market.synthetic import SyntheticMarket
from backend.pipeline.trading_pipeline import DayWork
from backend.sandbox.executor import SkillExecutor
from backend.sandbox.in_process import NoSandboxBackend
from backend.sandbox.process import ProcessSandboxBackend
from backend.schema import events as ev
from backend.schema.bootstrap import AgentSpec
from backend.schema.trading import RiskLimits, RiskReport, TickerSignal

_spec = importlib.util.spec_from_file_location("agents_chat_server", Path(__file__).with_name("chat_server.py"))
assert _spec is not None and _spec.loader is not None
chat_server = sys.modules.get("agents_chat_server") or importlib.util.module_from_spec(_spec)
if "agents_chat_server" not in sys.modules:
    sys.modules["agents_chat_server"] = chat_server
    _spec.loader.exec_module(chat_server)
answer, fenced, tool_calls = chat_server.answer, chat_server.fenced, chat_server.tool_calls
http_error, rate_limited, slow, stall = (chat_server.http_error, chat_server.rate_limited, chat_server.slow,
                                         chat_server.stall)

ROOT = Path(__file__).resolve().parents[2]
AGENTS = ROOT / "resources" / "workspaces" / "default" / "agents"
KEY = "sk-local-test-9a7c"
TICKERS = ["AAPL", "MSFT"]
DAY = dt.date(2025, 3, 3)


@pytest.fixture
def serve():
    servers = []

    def start(rejects: frozenset[str] = frozenset()):
        server = chat_server.ChatServer(rejects)
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
        thread.start()
        servers.append((server, thread))
        return server

    yield start
    for server, thread in servers:
        server.released.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def _settings(tmp_path: Path, base_url: str, **extra: Any):
    return load_settings(runs_dir=tmp_path / "runs", workspaces_dir=tmp_path / "ws", openai_base_url=base_url,
                         openai_api_key=KEY, model_name="toy", **{"llm_max_retries": 0, **extra})


def _agent(tmp_path: Path, role: str = "technical_analyst", agent_id: str | None = None) -> EvoAgent:
    agent_id = agent_id or role
    folder = tmp_path / "agents" / agent_id
    shutil.copytree(AGENTS / role, folder, dirs_exist_ok=True)
    profile = load_profile(folder, agent_id, role)
    return EvoAgent(spec=AgentSpec(id=agent_id, role=role, policy="llm"), profile=profile,
                    memory=AgentMemory(folder / "memory.jsonl"))


def _work() -> DayWork:
    market = SyntheticMarket(seed=7, tickers=TICKERS)
    work = DayWork(DAY)
    for t in TICKERS:
        bars = market.bars(t, DAY, 61)
        work.snapshot.bars[t] = [b for b in bars if b.date < DAY]
        work.snapshot.fundamentals[t] = market.fundamentals(t, DAY - dt.timedelta(days=1))
        work.snapshot.news[t] = market.news(t, DAY - dt.timedelta(days=10), DAY - dt.timedelta(days=1))
    return work


def _rules() -> list[TickerSignal]:
    return [TickerSignal(ticker=t, signal="neutral", confidence=1, reasoning=f"RULES-{t}", score=0.0)
            for t in TICKERS]


def _signals(note: str = "OK") -> dict:
    return {"signals": [{"ticker": t, "signal": "bull", "confidence": 70, "reasoning": f"{note} {t}"}
                        for t in TICKERS]}


def _events() -> tuple[list[ev.Event], Any]:
    seen: list[ev.Event] = []
    return seen, seen.append


def _systems(seen: list[ev.Event]) -> list[str]:
    return [e.content for e in seen if isinstance(e, ev.System)]


def _transcripts(agent: EvoAgent) -> list[dict[str, Any]]:
    path = agent.memory.path.parent / "transcripts.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()]


async def test_the_tool_loop_runs_the_skill_in_the_process_sandbox_and_the_answer_uses_it(tmp_path, serve):
    chat = serve()
    chat.responder = chat_server.ToyModel()
    agent = _agent(tmp_path)
    agent.memory.append({"date": "2025-02-28", "score": 0.1, "content": "AAPL momentum paid off"})
    executor = SkillExecutor(ProcessSandboxBackend())
    try:
        seen, emit = _events()
        signals = await LlmPolicy(_settings(tmp_path, chat.base_url), "brief", executor=executor).analyse(
            agent, _work(), _rules(), emit)
    finally:
        await executor.close()

    first, second = chat.requests
    assert first.tool_names == ["technical_indicators", "search_memory"]
    assert "Call them for the tickers" in first.text("user") and "raw indicators" not in first.text("user")
    skill_result, memory_result = second.tool_results
    assert sorted(skill_result["tickers"]) == TICKERS  # computed by the skill from the day's closes
    assert set(skill_result["tickers"]["AAPL"]["features"]) == {"trend", "rsi", "momentum", "volatility"}
    assert memory_result["reflections"][0]["content"] == "AAPL momentum paid off"
    assert executor.calls["process"] == 1
    assert all(s.reasoning.startswith("TOY: mean feature") and "4 feature(s)" in s.reasoning for s in signals)
    assert _systems(seen) == []
    [exchange] = [e for e in seen if isinstance(e, ev.AgentExchange)]
    assert [(c.name, c.ok) for c in exchange.tool_calls] == [("technical_indicators", True), ("search_memory", True)]
    assert exchange.requests == 2 and exchange.tokens == 300
    [record] = _transcripts(agent)
    assert [m["role"] for m in record["messages"]] == ["system", "user", "assistant", "tool", "tool", "assistant"]
    assert record["steps"][0]["tool_calls"][0]["result"]["tickers"]["MSFT"]["features"]


async def test_bad_tool_calls_come_back_to_the_model_as_errors(tmp_path, serve):
    chat = serve()
    chat.queue(tool_calls(("technical_indicators", {"tickers": ["TSLA"]}), ("fetch_url", {"url": "x"}),
                          ("technical_indicators", "{not json")),
               answer(_signals("AFTER-ERRORS")))
    agent = _agent(tmp_path)
    seen, emit = _events()
    signals = await LlmPolicy(_settings(tmp_path, chat.base_url), "brief",
                              executor=SkillExecutor(NoSandboxBackend())).analyse(agent, _work(), _rules(), emit)

    assert signals[0].reasoning == "AFTER-ERRORS AAPL"
    errors = [r["error"] for r in chat.requests[1].tool_results]
    assert errors[0] == "unknown tickers TSLA; today's tickers: AAPL, MSFT"
    assert errors[1].startswith("no tool 'fetch_url'; tools: technical_indicators, search_memory")
    assert errors[2].startswith("arguments are not JSON")
    [exchange] = [e for e in seen if isinstance(e, ev.AgentExchange)]
    assert [c.ok for c in exchange.tool_calls] == [False, False, False]


async def test_tool_steps_are_bounded_then_the_model_must_answer(tmp_path, serve):
    chat = serve()
    chat.responder = lambda seen: tool_calls(("technical_indicators", {"tickers": TICKERS}))
    agent = _agent(tmp_path)
    seen, emit = _events()
    signals = await LlmPolicy(_settings(tmp_path, chat.base_url, llm_max_tool_steps=2), "brief",
                              executor=SkillExecutor(NoSandboxBackend())).analyse(agent, _work(), _rules(), emit)

    assert signals == _rules()
    offered = [bool(r.tool_names) for r in chat.requests]
    assert offered == [True, True, False, False]  # two tool steps, then an answer is asked for, corrected once
    assert "No more tool calls today" in chat.requests[2].text("user")
    [content] = _systems(seen)
    assert content.startswith("technical_analyst: LLM answer unusable (the answer has no text content")


async def test_a_fenced_json_answer_is_accepted(tmp_path, serve):
    chat = serve()
    chat.queue(fenced(_signals("FENCED")))
    seen, emit = _events()
    signals = await LlmPolicy(_settings(tmp_path, chat.base_url), "brief").analyse(
        _agent(tmp_path), _work(), _rules(), emit)
    assert [s.reasoning for s in signals] == ["FENCED AAPL", "FENCED MSFT"]
    assert len(chat.requests) == 1 and _systems(seen) == []


async def test_429_is_retried_after_the_servers_retry_after(tmp_path, serve):
    chat = serve()
    chat.queue(rate_limited(1), answer(_signals("AFTER-429")))
    seen, emit = _events()
    signals = await LlmPolicy(_settings(tmp_path, chat.base_url, llm_max_retries=2), "brief").analyse(
        _agent(tmp_path), _work(), _rules(), emit)
    assert signals[0].reasoning == "AFTER-429 AAPL" and _systems(seen) == []
    first, second = chat.requests
    assert second.at - first.at >= 1.0  # the client waited as long as the server asked
    assert first.body == second.body


async def test_429_beyond_the_retries_falls_back_visibly(tmp_path, serve):
    chat = serve()
    chat.queue(rate_limited(0.1), rate_limited(0.1))
    seen, emit = _events()
    signals = await LlmPolicy(_settings(tmp_path, chat.base_url, llm_max_retries=1), "brief").analyse(
        _agent(tmp_path), _work(), _rules(), emit)
    assert signals == _rules() and len(chat.requests) == 2
    [content] = _systems(seen)
    assert "HTTP 429 (rate limited) from http://127.0.0.1:" in content and content.endswith("fell back to rules")


async def test_a_slow_answer_past_the_timeout_falls_back_and_one_within_it_is_used(tmp_path, serve):
    chat = serve()
    chat.queue(slow(5, answer(_signals("TOO-LATE"))))
    seen, emit = _events()
    signals = await LlmPolicy(_settings(tmp_path, chat.base_url, llm_timeout_seconds=0.3), "brief").analyse(
        _agent(tmp_path), _work(), _rules(), emit)
    assert signals == _rules()
    assert _systems(seen) == [f"technical_analyst: LLM answer unusable (no answer from {chat.base_url} within "
                              "0.3s (1 attempt(s))); fell back to rules"]

    chat.queue(slow(0.2, answer(_signals("IN-TIME"))))
    seen, emit = _events()
    signals = await LlmPolicy(_settings(tmp_path, chat.base_url, llm_timeout_seconds=10), "brief").analyse(
        _agent(tmp_path), _work(), _rules(), emit)
    assert signals[0].reasoning == "IN-TIME AAPL" and _systems(seen) == []


@pytest.mark.parametrize("param", ["seed", "response_format"])
async def test_a_rejected_parameter_is_detected_once_and_dropped(tmp_path, serve, param):
    chat = serve(frozenset({param}))
    chat.responder = lambda seen: answer(_signals("ADAPTED"))
    policy = LlmPolicy(_settings(tmp_path, chat.base_url), "brief")
    seen, emit = _events()
    for day in range(3):
        signals = await policy.analyse(_agent(tmp_path, agent_id=f"technical_{day}"), _work(), _rules(), emit)
        assert signals[0].reasoning == "ADAPTED AAPL"
    assert [param in r.body for r in chat.requests] == [True, False, False, False]
    assert _systems(seen) == [f"LLM server {chat.base_url} rejects `{param}` (HTTP 400, first seen by technical_0): "
                              "sending requests without it for the rest of the run"]


async def test_a_server_without_tools_gets_the_features_in_the_prompt(tmp_path, serve):
    chat = serve(frozenset({"tools"}))
    chat.responder = chat_server.ToyModel("NO-TOOLS")
    policy = LlmPolicy(_settings(tmp_path, chat.base_url), "brief", executor=SkillExecutor(NoSandboxBackend()))
    work = _work()
    rules = _rules()
    for agent_id in ("tech_a", "tech_b"):
        work.features[agent_id] = {t: {"features": {"trend": 0.5, "rsi": 0.3}, "values": {}} for t in TICKERS}
    seen, emit = _events()
    for agent_id in ("tech_a", "tech_b"):
        signals = await policy.analyse(_agent(tmp_path, agent_id=agent_id), work, rules, emit)
        assert [s.signal for s in signals] == ["bull", "bull"] and "2 feature(s)" in signals[0].reasoning
    assert [bool(r.tool_names) for r in chat.requests] == [True, False, False]
    assert "raw indicators" in chat.requests[1].text("user")
    assert len(_systems(seen)) == 1 and "rejects `tools`" in _systems(seen)[0]


async def test_a_garbage_body_is_a_visible_fallback(tmp_path, serve):
    chat = serve()
    chat.queue(http_error(200, '{"hello": "world"}'), http_error(200, "<html>gateway</html>"))
    seen, emit = _events()
    signals = await LlmPolicy(_settings(tmp_path, chat.base_url), "brief").analyse(
        _agent(tmp_path), _work(), _rules(), emit)
    assert signals == _rules()
    [content] = _systems(seen)
    assert content.startswith("technical_analyst: LLM answer unusable (")
    assert content.endswith("fell back to rules")


async def test_analysts_of_a_day_ask_at_once_up_to_the_cap(tmp_path, serve):
    chat = serve()
    chat.responder = lambda seen: slow(0.3, answer(_signals("CAPPED")))
    agents = [_agent(tmp_path, agent_id=f"tech_{i}") for i in range(4)]
    rules = {a.id: _rules() for a in agents}
    for cap, expected in ((2, 2), (4, 4)):
        chat.max_in_flight = 0
        policy = LlmPolicy(_settings(tmp_path, chat.base_url, llm_max_concurrency=cap), "brief")
        seen, emit = _events()
        out = await policy.analyse_many(agents, _work(), rules, emit)
        assert sorted(out) == [a.id for a in agents] and all(s[0].reasoning == "CAPPED AAPL" for s in out.values())
        assert chat.max_in_flight == expected


async def test_an_llm_risk_manager_may_only_tighten(tmp_path, serve):
    chat = serve()
    chat.queue(answer({"limits": [
        {"ticker": "AAPL", "max_position_value": 4000, "reasoning": "earnings next week"},
        {"ticker": "MSFT", "max_position_value": 1e9, "reasoning": "go big"}]}))
    report = RiskReport(date=DAY.isoformat(), gross_exposure=0.2, warnings=["W0"], limits=[
        RiskLimits(ticker="AAPL", max_position_value=10_000, volatility=0.3),
        RiskLimits(ticker="MSFT", max_position_value=8_000, volatility=0.2)])
    seen, emit = _events()
    out = await LlmPolicy(_settings(tmp_path, chat.base_url), "brief").assess(
        _agent(tmp_path, "risk_manager"), _work(), report, {"tickers": {}}, 100_000.0, {"AAPL": 0.0}, emit)
    assert [(lim.ticker, lim.max_position_value) for lim in out.limits] == [("AAPL", 4000), ("MSFT", 8000)]
    assert out.warnings == ["W0", "AAPL: limit cut to 4,000 by risk_manager: earnings next week"]
    assert "Limits your risk skill computed" in chat.requests[0].text("user")

    chat.queue(answer("no idea"), answer("still no idea"))
    seen, emit = _events()
    assert await LlmPolicy(_settings(tmp_path, chat.base_url), "brief").assess(
        _agent(tmp_path, "risk_manager", "risk_b"), _work(), report, {"tickers": {}}, 1.0, {}, emit) == report
    assert _systems(seen) == ["risk_b: LLM answer unusable (not JSON (Expecting value at line 1 column 1)); "
                              "fell back to the computed limits"]


async def test_a_400_about_something_else_drops_no_parameter(tmp_path, serve):
    chat = serve()
    chat.queue(http_error(400, '{"error": {"message": "This model\'s maximum context length is 8192 tokens"}}'),
               http_error(400, '{"error": {"message": "Unexpected field in the request body"}}'),
               answer(_signals("THIRD")))
    policy = LlmPolicy(_settings(tmp_path, chat.base_url), "brief")
    seen, emit = _events()
    assert await policy.analyse(_agent(tmp_path), _work(), _rules(), emit) == _rules()
    assert "maximum context length is 8192 tokens" in _systems(seen)[0]
    seen, emit = _events()
    signals = await policy.analyse(_agent(tmp_path, agent_id="tech_b"), _work(), _rules(), emit)
    assert signals[0].reasoning == "THIRD AAPL"
    # The first 400 changed nothing; the second named no parameter but was about one: the first sent is dropped.
    assert [("seed" in r.body, "response_format" in r.body) for r in chat.requests] == [
        (True, True), (True, True), (True, False)]
    assert "rejects `response_format`" in _systems(seen)[0]


FAST = (("retry-after-ms", "1"),)  # the SDK waits what the server asks: keep the property test quick
REPLIES = {
    "good": answer(_signals("GOOD")),
    "fenced": fenced(_signals("GOOD")),
    "prose": answer("I think AAPL will go up."),
    "short": answer({"signals": _signals()["signals"][:1]}),
    "500": chat_server.Reply(status=500, body='{"error": {"message": "boom"}}', headers=FAST),
    "429": chat_server.Reply(status=429, body='{"error": {"message": "slow down"}}', headers=FAST),
    "not-chat": http_error(200, '{"hello": "world"}'),
}


def _expected(script: list[str], retries: int) -> tuple[str, int]:
    """What the policy must do with ``script`` (then 500s): ("used" | "fell back", requests made)."""
    replies = iter(script)
    requests, corrected = 0, False
    while True:
        for _attempt in range(retries + 1):  # one SDK call: transport failures are retried
            reply = next(replies, "500")
            requests += 1
            if reply not in ("500", "429"):
                break
        else:
            return "fell back", requests
        if reply == "not-chat":
            return "fell back", requests
        if reply in ("good", "fenced"):
            return "used", requests
        if corrected:
            return "fell back", requests
        corrected = True


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(script=st.lists(st.sampled_from(sorted(REPLIES)), min_size=1, max_size=6))
async def test_any_sequence_of_faults_ends_in_the_answer_or_one_visible_fallback(tmp_path, serve, script):
    chat = serve()
    chat.queue(*(REPLIES[name] for name in script))
    seen, emit = _events()
    signals = await LlmPolicy(_settings(tmp_path, chat.base_url, llm_max_retries=1), "brief").analyse(
        _agent(tmp_path), _work(), _rules(), emit)
    outcome, requests = _expected(script, retries=1)
    assert len(chat.requests) == requests
    if outcome == "used":
        assert signals[0].reasoning == "GOOD AAPL" and _systems(seen) == []
    else:
        assert signals == _rules()
        [content] = _systems(seen)
        assert content.startswith("technical_analyst: LLM answer unusable (") and content.endswith("to rules")
