"""The engine's events encode, through wire_json's fast paths, to exactly the JSON of
``model_dump_json(exclude_none=True)``, the definition (issue 13 made the encoding faster;
the bytes on the wire and in events.jsonl must not change)."""

from __future__ import annotations

import asyncio
import json

from backend.pipeline.engine import RunEngine
from backend.schema import events as ev


def test_every_event_of_a_run_encodes_as_its_definition(store, settings) -> None:
    store.create_run("default", run_id="wire", overrides={"end_date": "2025-01-24"})
    engine = RunEngine(store, "wire", settings, write_every_stage=True)
    emitted: list[ev.Event] = []
    engine.event.connect(emitted.append)

    async def go() -> None:
        try:
            await engine.run()
        finally:
            await engine.close()

    asyncio.run(go())
    assert engine.status == "completed" and engine.state.days_completed >= 15
    kinds = {e.type for e in emitted}
    assert {"price_update", "team_leaderboard", "team_summary", "pipeline_stage", "agent_message"} <= kinds
    wrong = [e.type for e in emitted if e.wire_json() != e.model_dump_json(exclude_none=True)]
    assert not wrong, f"encoded differently: {sorted(set(wrong))}"
    # The nulls the protocol keeps are still there (an unscored call, a quote's fields).
    leaderboard = json.loads(next(e for e in reversed(emitted) if e.type == "team_leaderboard").wire_json())
    assert any(s["is_correct"] is None for row in leaderboard["data"] for s in row["signals"])
    assert "request_id" not in leaderboard
    replacing = [e.for_replacing_clients() for e in emitted if e.type == "team_summary"]
    assert all(r.wire_json() == r.model_dump_json(exclude_none=True) for r in replacing)
    lines = engine.paths.events_log.read_text().splitlines()
    assert lines == [e.wire_json() for e in emitted]
