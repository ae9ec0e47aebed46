"""The engine's day-end checkpoint names each curve by its length (O(1) a day); turned back
into points when a snapshot writes it, it is exactly the deep checkpoint of that day's end,
whenever it is written (issue 13: no per-day cost grows with the run)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from backend.pipeline.engine import RunEngine


def frozen(data: Any) -> str:
    return json.dumps(data, sort_keys=True)


def test_the_day_end_checkpoint_is_that_days_state_whenever_it_is_written(store, settings) -> None:
    store.create_run("default", run_id="cut", overrides={"end_date": "2025-01-31"})
    engine = RunEngine(store, "cut", settings, write_every_stage=True)
    taken: list[tuple[str, dict[str, Any], str]] = []

    def after_day(done: int, total: int, date: str) -> None:
        cut = engine._resume
        assert cut is not None and all(isinstance(n, int) for n in cut["curves"].values())
        deep = engine.state.checkpoint(engine.team)
        assert frozen(engine.state.curves_upto(cut)) == frozen(deep), date
        taken.append((date, cut, frozen(deep)))

    async def go() -> None:
        try:
            await engine.run(on_day=after_day)
        finally:
            await engine.close()

    asyncio.run(go())
    assert engine.status == "completed" and len(taken) == engine.days_total >= 15
    # Days later (the curves grew by then), each day's checkpoint still gives that day's state.
    late = [date for date, cut, text in taken if frozen(engine.state.curves_upto(cut)) != text]
    assert not late, f"checkpoints that changed as the run went on: {late}"
    on_disk = store.read_server_state("cut")["resume"]
    assert frozen(on_disk) == taken[-1][2]
    assert len(on_disk["curves"]["equity"]) == engine.days_total
