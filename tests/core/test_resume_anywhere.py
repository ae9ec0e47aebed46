"""Resume anywhere equals never stopped.

The whole default six-month run (the default workspace's dates, tickers and
seed) and a CSV-market run are run once uninterrupted. Then one chain of
engines runs the same run, stopping cleanly at every chosen point -- after
day k, or at a drawn stage of day k+1 (so a day half done, trades journaled,
leaderboard scored, memories written, must be forgotten and run again) --
and each time a fresh engine is built from the run folder, the way a
restarted Gateway resumes. A copy of the folder at each stop is resumed to
the end on its own; every one must end with the same checkpoint (portfolio,
baselines, leaderboard, curves, prices, agent state), trades.jsonl, memory
files and metrics as the uninterrupted run.

The stop points are every quarter boundary of the run, the days around each
ticker's report publications, the first and last days, plus seeded random
days and stages; the seed is printed (set RESUME_TEST_SEED to replay one).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import random
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from backend.config import load_settings
from backend.market.synthetic_fundamentals import _quarter_ends
from backend.pipeline.engine import RunEngine
from backend.schema.events import STAGES
from backend.storage.run_store import RunStore
from backend.storage.workspaces import WorkspaceStore

RUN_ID = "resume"
DAY_END = "day_end"                     # stop between day k and day k+1
STOP_KINDS = (DAY_END, *STAGES)         # or after that stage of day k+1
AGENTS = ("fundamentals_analyst", "technical_analyst", "sentiment_analyst", "valuation_analyst",
          "risk_manager", "portfolio_manager")
SEED = int(os.environ.get("RESUME_TEST_SEED") or random.SystemRandom().randrange(2**32))


@dataclass(frozen=True)
class Stop:
    k: int          # days completed when the run stops
    kind: str       # DAY_END, or the stage of day k+1 after which it stops


def make_store(root: Path) -> tuple[Any, RunStore]:
    settings = load_settings(runs_dir=root / "runs", workspaces_dir=root / "workspaces")
    return settings, RunStore(settings.runs_dir, WorkspaceStore(settings.workspaces_dir))


def drive(store: RunStore, settings: Any, dates: list[dt.date], stop: Stop | None = None) -> RunEngine:
    """Run (or resume) the run in a fresh engine, stopping cleanly at ``stop``."""
    engine = RunEngine(store, RUN_ID, settings, write_every_stage=True)

    def watch(event: Any) -> None:
        if stop is None:
            return
        if stop.kind == DAY_END:
            if event.type == "day_complete" and event.date == dates[stop.k - 1].isoformat():
                engine.request_stop()
        elif (event.type == "pipeline_stage" and event.status == "finished" and event.stage == stop.kind
              and event.date == dates[stop.k].isoformat()):
            engine.request_stop()

    engine.event.connect(watch)

    async def go() -> str:
        try:
            return await engine.run()
        finally:
            await engine.close()

    status = asyncio.run(go())
    assert status == ("completed" if stop is None else "stopped"), (status, stop)
    return engine


def outcome(store: RunStore) -> dict[str, Any]:
    """What must not depend on where the run was stopped."""
    server = store.read_server_state(RUN_ID)
    paths = store.paths(RUN_ID)
    return {
        "status": server["status"],
        "checkpoint": server["resume"],
        "trades.jsonl": store.read_trades(RUN_ID),
        "leaderboard": server["leaderboard"],
        "holdings": server["holdings"],
        "metrics": server["metrics"],
        "memories": {a: (paths.agent_dir(a) / "memory.jsonl").read_text(encoding="utf-8") for a in AGENTS},
    }


def publication_days(market: Any, tickers: list[str], dates: list[dt.date]) -> list[dt.date]:
    """The run's days on which a ticker's newest report changes (none for a CSV market)."""
    out = []
    for ticker in tickers:
        for before, day in zip(dates, dates[1:]):
            now, then = market.fundamentals(ticker, day), market.fundamentals(ticker, before)
            if now is not None and (then is None or now.revenue != then.revenue):
                out.append(day)
    return out


def stop_points(dates: list[dt.date], published: list[dt.date], rng: random.Random, extra: int) -> list[Stop]:
    index = {d: i for i, d in enumerate(dates)}
    ks = {0, 1, len(dates) - 1}
    for q_end in _quarter_ends(dates[-1]):
        if dates[0] <= q_end <= dates[-1]:
            last = max(i for i, d in enumerate(dates) if d <= q_end)
            ks.update({last + 1, last + 2})      # stop after the quarter's last day / the next day
    for day in published:
        # The pipeline reads fundamentals as of yesterday: resuming on the
        # publication day or the day after decides which book is built first.
        ks.update({index[day], index[day] + 1})
    ks = {k for k in ks if 0 <= k < len(dates)}
    pool = [k for k in range(len(dates)) if k not in ks]
    ks.update(rng.sample(pool, min(extra, len(pool))))
    # Every stop kind comes up, in a seeded order; day k = 0 has no day end to stop at.
    kinds = list(STOP_KINDS) * (len(ks) // len(STOP_KINDS) + 1)
    rng.shuffle(kinds)
    stops = []
    for k, kind in zip(sorted(ks), kinds):
        stops.append(Stop(k, STAGES[0] if kind == DAY_END and k == 0 else kind))
    return stops


SCENARIOS = {
    # The default workspace as it is: 2025-01-02..2025-06-30, six tickers, seed 7.
    "default": ({}, 6),
    "csv": ({"market": {"kind": "csv", "csv_dir": "resources/sample_data/ret_data"},
             "tickers": ["AAPL", "MSFT", "NVDA"], "end_date": "2025-03-31"}, 9),
}


@pytest.fixture(scope="module", params=sorted(SCENARIOS))
def scenario(request, tmp_path_factory):
    overrides, extra = SCENARIOS[request.param]
    root = tmp_path_factory.mktemp(f"resume_{request.param}")
    settings, reference = make_store(root / "reference")
    reference.create_run("default", run_id=RUN_ID, overrides=overrides)
    engine = drive(reference, settings, [])
    dates = engine.dates
    published = publication_days(engine.market, list(engine.config.tickers), dates)
    assert published or request.param == "csv"
    return request.param, root, dates, published, outcome(reference), extra


def test_resume_anywhere_equals_never_stopped(scenario):
    name, root, dates, published, expected, extra = scenario
    rng = random.Random(SEED)
    stops = stop_points(dates, published, rng, extra)
    print(f"RESUME_TEST_SEED={SEED} scenario={name} stops={[(s.k, s.kind) for s in stops]}")
    assert expected["status"] == "completed" and len(stops) >= 10

    settings, chain = make_store(root / "chain")
    chain.create_run("default", run_id=RUN_ID, overrides=SCENARIOS[name][0])
    copies = []
    for stop in stops:
        engine = drive(chain, settings, dates, stop)
        assert engine.state.days_completed == stop.k, stop
        assert engine.state.last_completed_date == (dates[stop.k - 1].isoformat() if stop.k else None)
        target = root / f"k{stop.k:03d}"
        shutil.copytree(chain.paths(RUN_ID).root, target / "runs" / RUN_ID)
        copies.append((stop, target))

    diverged = []
    for stop, target in copies:
        settings_k, store_k = make_store(target)
        drive(store_k, settings_k, dates)
        got = outcome(store_k)
        wrong = [key for key in expected if got[key] != expected[key]]
        if wrong:
            diverged.append(f"stopped at k={stop.k} ({dates[stop.k - 1] if stop.k else 'start'}, "
                            f"{stop.kind}): {', '.join(wrong)} differ")
        shutil.rmtree(target)
    assert not diverged, f"RESUME_TEST_SEED={SEED}\n" + "\n".join(diverged)

    # The chain itself, stopped and resumed at every point, ends the same too.
    drive(chain, settings, dates)
    assert outcome(chain) == expected
