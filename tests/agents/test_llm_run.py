"""A whole run with `llm` agents against the local chat server: tools, conference, transcripts."""

from __future__ import annotations

import datetime as dt
import importlib.util
import json
import socket
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from app.models.agents_model import AgentsModel
from backend.apps.agent_service.app import create_app
from backend.clients.http import ServiceClient
from backend.clients.services import AgentServiceClient
from backend.config import load_settings
from backend.pipeline.engine import RunEngine
from backend.readers.explain import Explainer
from backend.storage.run_store import RunStore
from backend.security.tokens import TokenRegistry
from backend.storage.workspaces import WorkspaceStore
from tests.approvals.live_server import serve

_spec = importlib.util.spec_from_file_location("agents_chat_server", Path(__file__).with_name("chat_server.py"))
assert _spec is not None and _spec.loader is not None
chat_server = sys.modules.get("agents_chat_server") or importlib.util.module_from_spec(_spec)
if "agents_chat_server" not in sys.modules:
    sys.modules["agents_chat_server"] = chat_server
    _spec.loader.exec_module(chat_server)

KEY = "sk-local-run-31d4"
TICKERS = ["AAPL", "MSFT"]
ROLES = ("fundamentals_analyst", "technical_analyst", "sentiment_analyst", "valuation_analyst", "risk_manager",
         "portfolio_manager")
LLM = ("technical_analyst", "sentiment_analyst", "risk_manager", "portfolio_manager")


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


async def _run(tmp_path: Path, base_url: str, **extra: Any) -> tuple[RunStore, str, list[dict[str, Any]]]:
    settings = load_settings(runs_dir=tmp_path / "runs", workspaces_dir=tmp_path / "ws", openai_base_url=base_url,
                             openai_api_key=KEY, model_name="toy", **extra)
    store = RunStore(tmp_path / "runs", WorkspaceStore(tmp_path / "ws"))
    roster = [{"id": r, "role": r, "policy": "llm" if r in LLM else "rules"} for r in ROLES]
    run_id = store.create_run("default", overrides={
        "tickers": TICKERS, "start_date": "2025-03-03", "end_date": "2025-03-05", "agents": roster,
        "max_comm_cycles": 2, "sandbox_mode": "process"})
    engine = RunEngine(store, run_id, settings, write_every_stage=False)
    try:
        assert await engine.run() == "completed"
    finally:
        await engine.close()
    events = [json.loads(line) for line in store.paths(run_id).events_log.read_text().splitlines()]
    return store, run_id, events


async def test_an_llm_run_calls_tools_confers_in_rounds_and_keeps_transcripts(tmp_path, chat):
    chat.responder = chat_server.ToyModel()
    store, run_id, events = await _run(tmp_path, chat.base_url)

    assert not [e for e in events if e["type"] == "system" and "fell back" in e["content"]]
    exchanges = [e for e in events if e["type"] == "agent_exchange"]
    tech = [e for e in exchanges if e["agentId"] == "technical_analyst" and e["stage"] == "analysis"]
    assert len(tech) == 3 and all([c["name"] for c in e["tool_calls"]] == ["technical_indicators", "search_memory"]
                                  and all(c["ok"] for c in e["tool_calls"]) for e in tech)
    # The analysts' day messages carry what the model made of its tools' output.
    calls = [e["content"] for e in events if e["type"] == "agent_message" and e["agentId"] == "technical_analyst"
             and not e["content"].startswith("Final calls")]
    assert len(calls) == 3 and all("TOY: mean feature" in c for c in calls)

    # The conference: two rounds per day, each analyst speaks in each, then the PM's summary, then the end.
    day = [e for e in events if e["type"].startswith("conference_")][:12]
    assert [e["type"] for e in day] == (["conference_start"] + (["conference_cycle_start"] + ["conference_message"] * 4
                                        + ["conference_cycle_end"]) * 2)[:12]
    messages = [e for e in events if e["type"] == "conference_message"]
    assert len(messages) == 3 * (2 * 4 + 1)
    llm_said = [m for m in messages if m["agentId"] == "technical_analyst"]
    assert [m["cycle"] for m in llm_said] == [1, 2] * 3 and all("TOY-COMMENT" in m["content"] for m in llm_said)
    rules_said = [m for m in messages if m["agentId"] == "valuation_analyst"]
    assert all(m["content"].startswith("Revising after hearing the team") for m in rules_said)
    summaries = [m for m in messages if m["agentId"] == "portfolio_manager"]
    assert len(summaries) == 3 and all("cycle" not in m and "TOY-SUMMARY" in m["content"] for m in summaries)
    pm_requests = [r for r in chat.requests if "You are portfolio_manager" in r.text("system")
                   and "Decide today's orders" in r.text("user")]
    assert len(pm_requests) == 3 and all("TOY-SUMMARY" in r.text("user") for r in pm_requests)

    # The llm risk manager halved every limit, and said so.
    risk = [e["content"] for e in events if e["type"] == "agent_message" and e["agentId"] == "risk_manager"]
    assert len(risk) == 3 and all("TOY-RISK halves AAPL" in c for c in risk)

    # Every exchange is on disk, per agent, and the key is nowhere in the run.
    agents_dir = store.paths(run_id).agents_dir
    counts = {a: len((agents_dir / a / "transcripts.jsonl").read_text().splitlines()) for a in LLM}
    assert counts == {"technical_analyst": 3 + 3 * 2, "sentiment_analyst": 3 + 3 * 2, "risk_manager": 3,
                      "portfolio_manager": 3 + 3}
    first = json.loads((agents_dir / "technical_analyst" / "transcripts.jsonl").read_text().splitlines()[0])
    assert first["steps"][0]["tool_calls"][0]["result"]["tickers"]["AAPL"]["features"]
    assert first["tokens"] == 300 and first["latency_ms"] > 0
    for path in store.paths(run_id).root.rglob("*"):
        if path.is_file():
            assert KEY not in path.read_text(errors="replace"), path
    assert all(r.headers["authorization"] == f"Bearer {KEY}" for r in chat.requests)

    # news_service's explanation of a day's AAPL call shows the tool calls behind it (AAPL's part only).
    explained = Explainer(store).explain_decision(run_id, dt.date(2025, 3, 4), "AAPL")
    tools = [(c.agent_id, c.tool, c.ok) for c in explained.tool_calls]
    assert tools == [("sentiment_analyst", "news_sentiment", True), ("sentiment_analyst", "search_memory", True),
                     ("technical_analyst", "technical_indicators", True), ("technical_analyst", "search_memory", True)]
    technical = explained.tool_calls[2]
    assert technical.stage == "analysis" and technical.arguments == {"tickers": TICKERS}
    assert list(technical.result["tickers"]) == ["AAPL"] and "trend" in technical.result["tickers"]["AAPL"]["features"]
    assert "Tools called: sentiment_analyst news_sentiment, " in explained.summary

    # agent_service serves the exchanges, and the desk's Agents model shows them for a finished run.
    settings = load_settings(runs_dir=tmp_path / "runs", workspaces_dir=tmp_path / "ws")
    with serve(create_app(settings, TokenRegistry())) as base:
        client = ServiceClient("agent", base, timeout=30)
        try:
            model = AgentsModel(AgentServiceClient(client))
            await model.show_run(run_id)
            await model.select("technical_analyst")
            lines = model.exchange_lines("technical_analyst")
            assert lines[0].startswith("2025-03-05 conference: toy, 1 request(s), 150 tokens")
            assert '  tool technical_indicators({"tickers": ["AAPL", "MSFT"]})' in lines
            await model.select("valuation_analyst")  # a rules agent: nothing asked
            assert model.exchange_lines("valuation_analyst") == []
            assert len(await AgentServiceClient(client).agent_exchanges(run_id, "portfolio_manager", limit=2)) == 2
        finally:
            await client.aclose()


async def test_an_llm_run_against_a_dead_server_completes_and_says_why_every_day(tmp_path):
    with socket.socket() as sock:  # a port that was free a moment ago and has no listener now
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    _, _, events = await _run(tmp_path, f"http://127.0.0.1:{port}/v1", llm_max_retries=0)
    fallbacks = [e["content"] for e in events if e["type"] == "system" and "LLM answer unusable" in e["content"]]
    agents = sorted({c.split(":", 1)[0] for c in fallbacks})
    assert agents == sorted(LLM)
    assert all("cannot reach http://127.0.0.1:" in c for c in fallbacks)
    assert sum(c.endswith("fell back to its numeric revision") for c in fallbacks) == 3 * 2 * 2
    assert sum(c.endswith("fell back to the numeric consensus") for c in fallbacks) == 3
    assert sum(c.endswith("fell back to the computed limits") for c in fallbacks) == 3
