"""The desk's Agents panel shows an `llm` agent's exchanges: tool calls, retrieved reflections, fallbacks."""

from __future__ import annotations

import json
from typing import Any

from app.models.agents_model import EXCHANGE_LIMIT, AgentsModel
from app.qt.panels.agents import AgentsPanel
from backend.schema import events as ev


def _frame(agent: str, date: str, fallback: str | None = None, ok: bool = True) -> dict[str, Any]:
    event = ev.AgentExchange(
        agentId=agent, date=date, stage="analysis", model="qwen2.5:7b", requests=2, tokens=1234, latency_ms=2345.6,
        tool_calls=[ev.ToolCallView(name="technical_indicators", arguments='{"tickers": ["AAPL"]}', ok=ok)],
        memories=["2025-03-03: AAPL momentum paid off"], fallback=fallback)
    return json.loads(event.wire_json())  # what the Gateway sends


def _model() -> AgentsModel:
    model = AgentsModel()
    model.source = ("run", "run-1")
    return model


def test_exchanges_of_the_shown_run_are_kept_per_agent_newest_first_and_bounded() -> None:
    model = _model()
    news: list[tuple[str, Any]] = []
    model.changed.connect(lambda kind, payload: news.append((kind, payload)))
    model.apply_event(_frame("technical_analyst", "2025-03-03"), "run-1")
    model.apply_event(_frame("technical_analyst", "2025-03-04", fallback="HTTP 429 (rate limited)", ok=False),
                      "run-1")
    model.apply_event(_frame("technical_analyst", "2025-03-05"), "another-run")  # not the shown run
    assert news == [("exchange", "technical_analyst")] * 2
    lines = model.exchange_lines("technical_analyst")
    assert lines[0] == ("2025-03-04 analysis: qwen2.5:7b, 2 request(s), 1234 tokens, 2,346 ms - fell back: "
                        "HTTP 429 (rate limited)")
    assert lines[1] == '  tool technical_indicators({"tickers": ["AAPL"]}) failed'
    assert lines[2] == "  memory: 2025-03-03: AAPL momentum paid off"
    assert lines[3].startswith("2025-03-03 analysis") and lines[4].endswith('["AAPL"]})')
    assert model.exchange_lines("sentiment_analyst") == []
    for day in range(EXCHANGE_LIMIT + 5):
        model.apply_event(_frame("sentiment_analyst", f"D{day:03d}"), "run-1")
    shown = [line for line in model.exchange_lines("sentiment_analyst") if not line.startswith("  ")]
    assert len(shown) == EXCHANGE_LIMIT and shown[0].startswith(f"D{EXCHANGE_LIMIT + 4:03d}")


def test_the_panel_shows_the_selected_agents_exchanges(qtbot: Any) -> None:
    model = _model()
    panel = AgentsPanel(model)
    qtbot.addWidget(panel)
    model.apply_event(_frame("technical_analyst", "2025-03-03"), "run-1")
    model.apply_event(_frame("risk_manager", "2025-03-03", fallback="not JSON"), "run-1")
    model.selected = "technical_analyst"
    model._emit("selected", "technical_analyst")
    panel.throttle.flush()
    items = [panel.exchanges.item(i).text() for i in range(panel.exchanges.count())]
    assert items[0].startswith("2025-03-03 analysis: qwen2.5:7b") and "fell back" not in items[0]
    assert items[1:] == ['  tool technical_indicators({"tickers": ["AAPL"]})',
                         "  memory: 2025-03-03: AAPL momentum paid off"]
    assert panel.details.tabText(panel.details.indexOf(panel.exchanges)) == "LLM exchanges"
