"""``evolution: frozen`` keeps the team as it was on day 0; an evolving team learns.

Both runs trade the same regimes market from the same day-0 team, in-process.
"""

from __future__ import annotations

import asyncio
import json

from backend.pipeline.engine import RunEngine

WINDOW = {"start_date": "2024-03-01", "end_date": "2024-04-30", "tickers": ["AAPL", "MSFT", "NVDA", "TSLA"],
          "market": {"kind": "synthetic", "seed": 11, "profile": "regimes"}}


def run_to_end(store, settings, run_id, **overrides) -> RunEngine:
    store.create_run("default", run_id=run_id, overrides={**WINDOW, **overrides})
    engine = RunEngine(store, run_id, settings, write_every_stage=False)

    async def go():
        try:
            assert await engine.run() == "completed"
        finally:
            await engine.close()
    asyncio.run(go())
    return engine


def memory_of(engine, agent_id):
    path = engine.paths.agent_dir(agent_id) / "memory.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_a_frozen_run_never_moves_its_weights_and_says_so(store, settings):
    engine = run_to_end(store, settings, "frozen", evolution="frozen")
    days = engine.state.days_completed
    assert days > 30
    for agent in engine.team:
        entries = memory_of(engine, agent.id)
        assert len(entries) == days                      # it still reflects every day
        if agent.is_analyst:
            assert agent.weights == {} and all(e["weights"] == {} for e in entries)
            assert all("frozen" in e["content"] for e in entries)
        if agent.role == "portfolio_manager":
            assert agent.trust == {} and all(e["trust"] == {} for e in entries)
    assert "evolution: frozen" in (engine.paths.root / "BOOTSTRAP.md").read_text()
    assert store.summary("frozen")["evolution"] == "frozen"


def test_an_evolving_run_learns_from_the_same_start(store, settings):
    evolving = run_to_end(store, settings, "evolving")
    run_to_end(store, settings, "frozen", evolution="frozen")
    assert store.summary("evolving")["evolution"] == "evolving"
    for agent in (a for a in evolving.team if a.is_analyst):
        history = [e["weights"] for e in memory_of(evolving, agent.id)]
        assert history[0] != history[-1] and any(abs(w - 1.0) > 0.05 for w in agent.weights.values())
    pm = next(a for a in evolving.team if a.role == "portfolio_manager")
    assert len(pm.trust) == 4 and len({round(v, 3) for v in pm.trust.values()}) > 1
    # Day 0 is the same team on the same market: the first day's trades agree,
    # and what was learnt makes the runs part ways later.
    first_day = WINDOW["start_date"].replace("-", "")
    def trades(run_id):
        return [(t["ticker"], t["side"], t["quantity"]) for t in store.read_trades(run_id)]
    def on_first_day(run_id):
        return [(t["ticker"], t["side"], t["quantity"]) for t in store.read_trades(run_id)
                if t["id"].startswith(f"T{first_day}")]
    assert on_first_day("evolving") == on_first_day("frozen") != []
    assert trades("evolving") != trades("frozen")
