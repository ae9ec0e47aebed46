"""Incremental curves (issue 13): a client joining at any point of a run and applying the
increments ends with exactly the run's curves; replaying events.jsonl rebuilds them; a
replacing client gets bounded curves; no team_summary grows with the run's length.

The runs are real engines over the seeded synthetic market (default workspace).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings as hsettings, strategies as st

from app.models.live_model import CURVES, LiveModel
from backend.config import load_settings
from backend.market import calendar
from backend.pipeline.curves import BoundedCurve
from backend.pipeline.engine import RunEngine
from backend.schema import events as ev
from backend.storage.run_store import RunStore
from backend.storage.workspaces import WorkspaceStore

START = dt.date(2025, 1, 2)
ALL_CURVES = CURVES + tuple(f"{name}_return" for name in CURVES)


def make_store(root: Path) -> tuple[RunStore, Any]:
    settings = load_settings(runs_dir=root / "runs", workspaces_dir=root / "ws")
    return RunStore(settings.runs_dir, WorkspaceStore(settings.workspaces_dir)), settings


def end_after(days: int, start: dt.date = START) -> str:
    """The date of the ``days``-th trading day from ``start``."""
    return calendar.trading_days(start, start + dt.timedelta(days=days * 2 + 10))[days - 1].isoformat()


def run(engine: RunEngine) -> str:
    async def go() -> str:
        try:
            return await engine.run()
        finally:
            await engine.close()
    return asyncio.run(go())


def state_curves(store: RunStore, run_id: str) -> dict[str, list[dict[str, Any]]]:
    portfolio = store.read_server_state(run_id)["portfolio"]
    return {name: portfolio[name] for name in ALL_CURVES}


def desk_curves(model: LiveModel) -> dict[str, list[dict[str, Any]]]:
    return {name: model.curves[name].points() for name in CURVES}


@hsettings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(days=st.integers(1, 14), join=st.floats(0.0, 1.0))
def test_a_desk_joining_anywhere_ends_with_the_runs_curves(days: int, join: float) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        store, settings = make_store(Path(tmp))
        store.create_run("default", run_id="joins", overrides={"end_date": end_after(days), "tickers": ["AAPL", "MSFT"]})
        engine = RunEngine(store, "joins", settings, write_every_stage=True)
        emitted: list[ev.Event] = []
        joined: dict[str, str] = {}
        expected_events = days * 60  # roughly; the join point is a fraction of what was emitted

        def listen(event: ev.Event) -> None:
            emitted.append(event)
            if not joined and len(emitted) >= join * expected_events:
                # What the Gateway does for a joining client: the state now, then the later events.
                joined["state"] = ev.InitialState(state=engine.snapshot_state()).wire_json()
                joined["at"] = str(len(emitted))

        engine.event.connect(listen)
        assert run(engine) == "completed"
        truth = state_curves(store, "joins")
        assert len(truth["equity"]) == days

        incremental, replacing = LiveModel(), LiveModel()
        at = int(joined.get("at", len(emitted)))
        for model in (incremental, replacing):
            model.apply_frame(joined.get("state") or ev.InitialState(state=engine.snapshot_state()).wire_json())
        for event in emitted[at:]:
            incremental.apply_frame(event.wire_json())
            replacing.apply_frame(event.for_replacing_clients().wire_json())
        assert incremental.refused == replacing.refused == 0
        assert desk_curves(incremental) == {name: truth[name] for name in CURVES}
        assert incremental.curve_gaps == 0
        # Runs this short fit the bound: the replacing form is the whole curve too.
        assert desk_curves(replacing) == {name: truth[name] for name in CURVES}

        replayed = LiveModel()
        asyncio.run(replayed.replay(engine.paths.events_log, speed=0))
        assert replayed.refused == 0 and desk_curves(replayed) == {name: truth[name] for name in CURVES}


def test_replaying_a_resumed_runs_log_rebuilds_its_curves(tmp_path: Path) -> None:
    store, settings = make_store(tmp_path)
    store.create_run("default", run_id="again", overrides={"end_date": end_after(12), "tickers": ["AAPL", "MSFT"]})
    first = RunEngine(store, "again", settings, write_every_stage=True)
    # Stop after day 8's settlement: its team_summary is in the log, but the
    # checkpoint is day 7's, so the resumed run settles day 8 again.
    first.event.connect(lambda e: first.request_stop() if e.type == "pipeline_stage" and e.stage == "settlement"
                        and e.status == "finished" and first.state.days_completed == 7 else None)
    assert run(first) == "stopped"
    second = RunEngine(store, "again", settings, write_every_stage=True)
    assert run(second) == "completed"

    lines = [json.loads(line) for line in second.paths.events_log.read_text().splitlines()]
    indexes = [line["index"] for line in lines if line["type"] == "team_summary"]
    assert all(line["append"] for line in lines if line["type"] == "team_summary")
    assert indexes == list(range(8)) + list(range(7, 12))  # day 8 (index 7) twice
    model = LiveModel()
    asyncio.run(model.replay(second.paths.events_log, speed=0))
    truth = state_curves(store, "again")
    assert model.refused == 0 and model.curve_gaps == 0
    assert desk_curves(model) == {name: truth[name] for name in CURVES}


def test_an_increment_past_the_end_is_counted_as_a_gap() -> None:
    model = LiveModel()
    point = [{"t": 1_736_000_000_000, "v": 1.0}]
    model.apply_frame({"type": "team_summary", "balance": 1.0, "pnlPct": 0.0, "append": True, "index": 3,
                       **{name: point for name in CURVES}})
    assert model.curve_gaps == 1 and len(model.curves["equity"]) == 1


@given(count=st.integers(0, 3000), limit=st.integers(3, 600))
def test_a_bounded_curve_keeps_the_first_and_newest_points_evenly_within_its_limit(count: int, limit: int) -> None:
    curve = BoundedCurve(limit)
    whole = [{"t": i, "v": float(i)} for i in range(count)]
    for i, point in enumerate(whole):
        curve.add(point)  # type: ignore[arg-type]
        if i in (0, count // 2):
            assert curve.points()[-1] is point
    points = curve.points()
    assert len(points) <= limit
    if count < limit:
        assert points == whole
    if count:
        assert points[0] is whole[0] and points[-1] is whole[-1]
        indexes = [p["t"] for p in points]
        assert indexes == sorted(set(indexes))
        # Evenly spaced: every gap is the stride, but the last (up to the newest point).
        gaps = {b - a for a, b in zip(indexes[:-1], indexes[1:-1])}
        assert len(gaps) <= 1
        assert curve.stride == 1 or len(points) > limit // 2 - 1


def test_an_eight_year_runs_team_summaries_stay_bounded(tmp_path: Path) -> None:
    # The real engine over eight years; one ticker keeps it quick.
    store, settings = make_store(tmp_path)
    store.create_run("default", run_id="long", overrides={"start_date": "2016-01-04", "end_date": "2023-12-29",
                                                         "tickers": ["AAPL"]})
    engine = RunEngine(store, "long", settings, write_every_stage=False)
    sizes: list[int] = []
    replacing: list[int] = []

    def listen(event: ev.Event) -> None:
        if event.type == "team_summary":
            sizes.append(len(event.wire_json()))
            other = event.for_replacing_clients()
            replacing.append(max(len(getattr(other, name)) for name in ALL_CURVES))

    engine.event.connect(listen)
    assert run(engine) == "completed"
    days = engine.state.days_completed
    assert days > 2000 and len(sizes) == days
    # The day's points only: the last year's summaries are no bigger than the first year's.
    first_year = max(sizes[:252])
    assert max(sizes[-252:]) <= first_year + 16, (first_year, max(sizes[-252:]))
    # A replacing client gets every point while they fit, then at most BOUNDED_CURVE_POINTS.
    assert replacing[:ev.BOUNDED_CURVE_POINTS - 1] == list(range(1, ev.BOUNDED_CURVE_POINTS))
    assert max(replacing) == ev.BOUNDED_CURVE_POINTS and min(replacing[ev.BOUNDED_CURVE_POINTS:]) > 100
    state = store.read_server_state("long")
    assert len(state["portfolio"]["equity"]) == days  # the state file carries the whole curves
