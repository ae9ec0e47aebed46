"""An agent whose AGENT.md asks for ``llm`` while the roster says ``rules`` runs rules, visibly."""

from __future__ import annotations

import json
from pathlib import Path

from backend.config import load_settings
from backend.pipeline.engine import RunEngine
from backend.storage.run_store import RunStore
from backend.storage.workspaces import WorkspaceStore


async def _run(tmp_path: Path, agent_md_policy: str) -> list[dict]:
    settings = load_settings(runs_dir=tmp_path / "runs", workspaces_dir=tmp_path / "ws")
    store = RunStore(tmp_path / "runs", WorkspaceStore(tmp_path / "ws"))
    run_id = store.create_run("default", overrides={"tickers": ["AAPL", "MSFT"], "start_date": "2025-03-03",
                                                    "end_date": "2025-03-03"})
    md = store.paths(run_id).root / "agents" / "technical_analyst" / "AGENT.md"
    md.write_text(md.read_text().replace("policy: rules", f"policy: {agent_md_policy}", 1))
    engine = RunEngine(store, run_id, settings, write_every_stage=False)
    try:
        assert await engine.run() == "completed"
    finally:
        await engine.close()
    return [json.loads(line) for line in store.paths(run_id).events_log.read_text().splitlines()]


def _policy_notes(events: list[dict]) -> list[str]:
    return [e["content"] for e in events if e["type"] == "system" and "AGENT.md asks for policy" in e["content"]]


async def test_agent_md_asking_for_llm_under_a_rules_roster_is_announced(tmp_path):
    events = await _run(tmp_path, "llm")
    notes = _policy_notes(events)
    assert len(notes) == 1
    assert notes[0].startswith("technical_analyst: ") and "runs rules" in notes[0]
    # It really ran rules: its signals came, and no llm exchange was made.
    assert any(e["type"] == "agent_message" and e.get("agentId") == "technical_analyst" for e in events)
    assert not any(e["type"] == "agent_exchange" for e in events)


async def test_agreeing_files_say_nothing(tmp_path):
    assert _policy_notes(await _run(tmp_path, "rules")) == []
