"""A resume checkpoint is a snapshot: nothing the run does later changes it, and
nothing done to it changes the run (issue 10, defect 2).

The runs here are the default workspace (six tickers, seed 7) driven
in-process over its first weeks, which cover the first quarterly reports.
"""

from __future__ import annotations

import asyncio
import copy
import json
from typing import Any

from pydantic import BaseModel

from backend.pipeline.engine import RunEngine
from backend.pipeline.run_state import RunState
from backend.trading.baselines import Baselines
from backend.trading.portfolio import Portfolio

FIRST_WEEKS = {"end_date": "2025-02-21"}
POISON = "__poison__"


def frozen(data: Any) -> str:
    if isinstance(data, BaseModel):  # a server state snapshot
        data = data.model_dump(mode="json")
    return json.dumps(data, sort_keys=True)


def poison(data: Any) -> None:
    """Change every container inside ``data`` in place (what a stray alias would see)."""
    if isinstance(data, dict):
        for value in list(data.values()):
            poison(value)
        data[POISON] = POISON
    elif isinstance(data, list):
        for value in data:
            poison(value)
        data.append(POISON)


def run(engine: RunEngine, **kwargs: Any) -> str:
    async def go() -> str:
        try:
            return await engine.run(**kwargs)
        finally:
            await engine.close()
    return asyncio.run(go())


def test_a_checkpoint_never_changes_after_it_is_taken(store, settings):
    store.create_run("default", run_id="snap", overrides=FIRST_WEEKS)
    engine = RunEngine(store, "snap", settings, write_every_stage=True)
    taken: list[tuple[str, Any, str]] = []

    def after_day(done: int, total: int, date: str) -> None:
        # The engine's own checkpoint (what every later snapshot writes until
        # the next day ends) and one taken on demand, each with its JSON now.
        taken.append((date, engine._resume, frozen(engine._resume)))
        mine = engine.state.checkpoint(engine.team)
        taken.append((date, mine, frozen(mine)))

    assert run(engine, on_day=after_day) == "completed"
    assert len(taken) == 2 * engine.days_total
    changed = sorted({date for date, data, text in taken if frozen(data) != text})
    assert not changed, f"checkpoints changed after they were taken: {changed}"


def test_a_restored_checkpoint_is_not_shared_with_the_resumed_run(store, settings):
    store.create_run("default", run_id="again", overrides=FIRST_WEEKS)
    first = RunEngine(store, "again", settings, write_every_stage=True)
    # Stop after day 10's settlement: the leaderboard has scored a day the
    # checkpoint (of day 9) must not contain.
    first.event.connect(lambda e: first.request_stop() if e.type == "pipeline_stage" and e.stage == "settlement"
                       and e.status == "finished" and first.state.days_completed == 9 else None)
    assert run(first) == "stopped"
    on_disk = store.read_server_state("again")["resume"]

    second = RunEngine(store, "again", settings, write_every_stage=True)
    restored = second._resume
    assert frozen(restored) == frozen(on_disk)
    done = []
    second.event.connect(lambda e: second.request_stop()
                        if e.type == "pipeline_stage" and e.stage == "reflection" and e.status == "finished" else None)
    second.event.connect(lambda e: done.append(frozen(restored)) if e.type == "pipeline_stage"
                        and e.status == "finished" else None)
    assert run(second) == "stopped"
    # After every stage of the re-run day, up to its reflection, the restored
    # checkpoint is still what was on disk (and what the stop wrote back).
    assert done and all(text == frozen(on_disk) for text in done)
    assert frozen(store.read_server_state("again")["resume"]) == frozen(on_disk)


def test_checkpoints_and_restores_share_nothing_day_after_day(store, settings):
    # Fault injection: after every day, poison every container of a fresh
    # checkpoint, of a restored copy's source and of each part's to_dict; the
    # run's state (and the restored copy's) must not see it.
    store.create_run("default", run_id="poison", overrides=FIRST_WEEKS)
    engine = RunEngine(store, "poison", settings, write_every_stage=False)
    state = engine.state
    failures: list[str] = []

    def check(name: str, before: str, after: str, date: str) -> None:
        if before != after:
            failures.append(f"{date}: {name}")

    def after_day(done: int, total: int, date: str) -> None:
        truth = frozen(state.checkpoint(engine.team))
        handed_out = state.checkpoint(engine.team)
        poison(handed_out)
        check("checkpoint", truth, frozen(state.checkpoint(engine.team)), date)

        source = state.checkpoint(engine.team)
        twin_team = copy.deepcopy(engine.team)
        twin = RunState(state.initial_cash, state.portfolio.margin_requirement, state.tickers,
                        state.leaderboard.agents)
        twin.restore(source, twin_team)
        check("restore", truth, frozen(twin.checkpoint(twin_team)), date)
        poison(source)
        check("restored state after its source changed", truth, frozen(twin.checkpoint(twin_team)), date)

        for name, part, load in (("portfolio", state.portfolio, Portfolio.from_dict),
                                 ("baselines", state.baselines, Baselines.from_dict),
                                 ("leaderboard", state.leaderboard, None)):
            before = frozen(part.to_dict())
            given = part.to_dict()
            poison(given)
            check(f"{name}.to_dict", before, frozen(part.to_dict()), date)
            if load is not None:
                data = part.to_dict()
                loaded = load(data)
                poison(data)
                check(f"{name}.from_dict", before, frozen(loaded.to_dict()), date)
        for agent in engine.team:
            before = frozen(agent.state_dict())
            given = agent.state_dict()
            poison(given)
            check(f"{agent.id}.state_dict", before, frozen(agent.state_dict()), date)

    assert run(engine, on_day=after_day) == "completed"
    assert state.leaderboard.to_dict() and state.portfolio.positions   # the run did something
    assert not failures, "\n".join(failures)


def test_a_server_state_snapshot_is_not_changed_by_later_days(store, settings):
    # What the Gateway hands a client as initial_state (and writes to
    # server_state.json) is the state at that moment, not a view of it.
    store.create_run("default", run_id="view", overrides=FIRST_WEEKS)
    engine = RunEngine(store, "view", settings, write_every_stage=False)
    taken: list[tuple[str, Any, str]] = []

    def after_day(done: int, total: int, date: str) -> None:
        snapshot = engine.snapshot_state()
        taken.append((date, snapshot, frozen(snapshot)))

    assert run(engine, on_day=after_day) == "completed"
    changed = sorted({date for date, data, text in taken if frozen(data) != text})
    assert not changed, f"server_state snapshots changed after they were taken: {changed}"
