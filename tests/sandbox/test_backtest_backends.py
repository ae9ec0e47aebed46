"""The same seed gives the same decisions whichever sandbox runs the skills."""

from __future__ import annotations

import json

from backend.pipeline.engine import RunEngine
from backend.storage.event_log import read_events
from backend.sandbox.factory import make_executor
from sandbox_helpers import DOCKER_IMAGE, run_to_completion

OVERRIDES = {"start_date": "2025-03-03", "end_date": "2025-03-14", "tickers": ["AAPL", "MSFT", "NVDA"]}


def run_backtest(store, settings, mode: str, run_id: str) -> tuple[list[dict], list[str], dict]:
    store.create_run("default", run_id=run_id, overrides={**OVERRIDES, "sandbox_mode": mode})
    engine = RunEngine(store, run_id, settings, write_every_stage=False,
                       executor=make_executor(mode, settings))
    run_to_completion(engine)
    decisions = [e["data"]["decisions"] for e in read_events(engine.paths.events_log)
                 if e["type"] == "agent_message" and e["agentId"] == "portfolio_manager"]
    failures = [e["content"] for e in read_events(engine.paths.events_log)
                if e["type"] == "system" and "skill" in e["content"] and "failed" in e["content"]]
    assert failures == [], failures
    trades = [json.dumps(t, sort_keys=True) for t in store.read_trades(run_id)]
    return decisions, trades, store.read_server_state(run_id)["portfolio"]


def test_none_and_process_agree(store, settings):
    baseline = run_backtest(store, settings, "none", "none")
    assert baseline[1], "the reference run should trade"
    assert run_backtest(store, settings, "process", "process") == baseline


def test_docker_agrees_with_none(store, settings, docker_client):
    settings = settings.model_copy(update={"skill_sandbox_image": DOCKER_IMAGE, "skill_sandbox_pull_policy": "never"})
    baseline = run_backtest(store, settings, "none", "none")
    assert run_backtest(store, settings, "docker", "docker") == baseline
