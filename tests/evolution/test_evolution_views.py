"""The desk shows evolution: an agent's weights over time, and frozen vs evolving in run comparison.

Two real runs (evolving and frozen, same market and dates) are made
in-process; the views are fed what agent_service and trading_service would
serve for them (the memory.jsonl reflections, the state files' curves).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from app.models.evolution_compare import evolution_note, final_return
from app.models.history_model import Comparison, HistoryModel, RunRow
from app.qt.panels.agent_weights import AgentWeightsChart, state_series
from app.qt.panels.history import HistoryPanel
from backend.config import load_settings
from backend.pipeline.engine import RunEngine
from backend.storage.run_store import RunStore
from backend.storage.workspaces import WorkspaceStore

WINDOW = {"start_date": "2024-05-01", "end_date": "2024-06-14", "tickers": ["AAPL", "NVDA", "TSLA"],
          "market": {"kind": "synthetic", "seed": 5, "profile": "regimes"}}


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[RunStore, dict[str, RunEngine]]:
    root = tmp_path_factory.mktemp("evolution_runs")
    settings = load_settings(runs_dir=root / "runs", workspaces_dir=root / "ws")
    store = RunStore(settings.runs_dir, WorkspaceStore(settings.workspaces_dir))
    engines = {}
    for run_id, evolution in (("evolving", "evolving"), ("frozen", "frozen")):
        store.create_run("default", run_id=run_id, overrides={**WINDOW, "evolution": evolution})
        engine = RunEngine(store, run_id, settings, write_every_stage=False)

        async def go(engine=engine):
            try:
                assert await engine.run() == "completed"
            finally:
                await engine.close()
        asyncio.run(go())
        engines[run_id] = engine
    return store, engines


def memory(engine: RunEngine, agent_id: str) -> list[dict[str, Any]]:
    path = engine.paths.agent_dir(agent_id) / "memory.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_the_weights_tab_draws_each_feature_over_the_days(qtbot: Any, runs) -> None:
    _, engines = runs
    engine = engines["evolving"]
    technical = next(a for a in engine.team if a.id == "technical_analyst")
    chart = AgentWeightsChart()
    qtbot.addWidget(chart)
    entries = memory(engine, "technical_analyst")
    chart.show_entries(entries)
    assert set(chart.curves) == set(technical.weights) == {"trend", "rsi", "momentum", "volatility"}
    for name, curve in chart.curves.items():
        xs, ys = curve.getData()
        assert len(xs) == len(entries) == engine.state.days_completed
        assert ys[-1] == pytest.approx(technical.weights[name])
        assert list(xs) == sorted(xs)
    assert "Feature weights over" in chart.caption.text()
    pm = next(a for a in engine.team if a.role == "portfolio_manager")
    chart.show_entries(memory(engine, pm.id))
    assert set(chart.curves) == set(pm.trust) and chart.caption.text().startswith("Trust in each analyst")


def test_a_frozen_agent_shows_no_moving_weights(qtbot: Any, runs) -> None:
    _, engines = runs
    chart = AgentWeightsChart()
    qtbot.addWidget(chart)
    chart.show_entries(memory(engines["frozen"], "technical_analyst"))
    assert chart.curves == {} and "frozen run keeps its day-0 team" in chart.caption.text()
    chart.show_entries(memory(engines["frozen"], "risk_manager"))
    assert "No learnt weights" in chart.caption.text()


def test_live_memory_events_without_weights_are_skipped():
    entries = [{"date": "2024-05-01", "weights": {"trend": 1.1}}, {"agent_id": "x", "content": "live event"},
               {"date": "2024-05-02", "weights": {"trend": 1.2, "rsi": 0.9}}]
    kind, xs, series = state_series(entries)
    assert kind == "weights" and len(xs) == 2 and series == {"rsi": [1.0, 0.9], "trend": [1.1, 1.2]}


def comparison_of(store: RunStore, run_ids: list[str]) -> Comparison:
    result = Comparison()
    for run_id in run_ids:
        state = store.read_server_state(run_id)
        result.curves[run_id] = [(p["t"], p["v"]) for p in state["portfolio"]["equity"]]
        result.metrics[run_id] = state["metrics"]
    return result


def test_comparison_says_what_evolving_added_over_frozen(qtbot: Any, runs) -> None:
    store, engines = runs
    model = HistoryModel()
    view = HistoryPanel(model)
    qtbot.addWidget(view)
    model.runs = [RunRow.from_api(store.summary(r)) for r in ("evolving", "frozen")]
    assert [r.evolution for r in model.runs] == ["evolving", "frozen"]
    both = comparison_of(store, ["evolving", "frozen"])
    model.show_comparison(both)
    gap = final_return(both.curves["evolving"]) - final_return(both.curves["frozen"])
    expected = (engines["evolving"].state.equity() - engines["frozen"].state.equity()) \
        / engines["frozen"].state.initial_cash * 100
    assert gap == pytest.approx(expected, abs=0.02)
    text = view.evolution_line.text()
    assert view.evolution_line.isVisibleTo(view)
    assert f"evolution added {gap:+.2f} pp" in text and f"evolving - frozen = {gap:+.2f} pp" in text
    model.show_comparison(comparison_of(store, ["evolving"]))
    assert not view.evolution_line.isVisibleTo(view) and view.evolution_line.text() == ""


def test_no_note_without_both_kinds():
    rows = {"a": RunRow.from_api({"run_id": "a", "mode": "backtest", "tickers": ["AAPL"], "start_date": "2024-01-02",
                                  "end_date": "2024-02-01", "status": "completed"})}
    only = Comparison(curves={"a": [(0, 100.0), (1, 110.0)]})
    assert rows["a"].evolution == "evolving" and evolution_note(only, rows) == ""
