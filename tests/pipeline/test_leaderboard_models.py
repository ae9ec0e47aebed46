"""The leaderboard's scored calls are validated once and kept by the identity of their dicts
(issue 13): a day's ``team_leaderboard`` reuses yesterday's models for the calls still among the
recent ones, builds new ones for new or restored (copied) calls, and encodes exactly as if every
call were validated afresh; the engine's day-end checkpoint shares those calls and stays that
day's leaderboard however the scoring goes on."""

from __future__ import annotations

import copy
import json
from types import SimpleNamespace

from backend.agents.leaderboard import RECENT_SIGNALS, Leaderboard
from backend.pipeline.settlement import leaderboard_rows
from backend.schema import events as ev
from backend.schema.trading import Prediction

ANALYSTS = [{"id": "technical_analyst", "role": "technical_analyst"},
            {"id": "sentiment_analyst", "role": "sentiment_analyst"}]


def day(board: Leaderboard, date: str, up: bool) -> None:
    preds = [Prediction(agent_id=a["id"], ticker=t, date=date, direction="up" if up else "down", confidence=50)
             for a in ANALYSTS for t in ("AAPL", "MSFT", "NVDA")]
    board.score(preds, {"AAPL": 0.01, "MSFT": -0.02, "NVDA": 0.0})


def fresh_encoding(rows: list[dict]) -> str:
    return ev.TeamLeaderboard(data=json.loads(json.dumps(rows))).wire_json()


def test_a_days_leaderboard_reuses_the_models_of_unchanged_calls_and_encodes_as_validated_afresh() -> None:
    board = Leaderboard(ANALYSTS)
    pipe = SimpleNamespace(signal_models={})
    seen: dict[int, object] = {}
    for i in range(12):  # past RECENT_SIGNALS calls per analyst: old calls drop out
        day(board, f"2025-01-{i + 2:02d}", up=i % 2 == 0)
        rows = board.rows()
        shared = leaderboard_rows(pipe, rows)
        assert ev.TeamLeaderboard(data=shared).wire_json() == fresh_encoding(rows)
        models = [m for row in shared for m in row["signals"]]
        assert len(models) == sum(len(r["signals"]) for r in rows)
        if i:
            assert sum(id(m) in seen for m in models) == len(models) - 6, "yesterday's calls keep their models"
        seen = {id(m): m for m in models}
    assert len(pipe.signal_models) == len(ANALYSTS) * RECENT_SIGNALS

    # A restored leaderboard has copies of the calls: new models, the same encoding.
    twin = Leaderboard(ANALYSTS, copy.deepcopy(board.to_dict()))
    rows = twin.rows()
    again = leaderboard_rows(pipe, rows)
    assert not any(id(m) in seen for row in again for m in row["signals"])
    assert ev.TeamLeaderboard(data=again).wire_json() == fresh_encoding(rows)


def test_the_records_view_stays_that_days_records_as_scoring_goes_on() -> None:
    board = Leaderboard(ANALYSTS)
    day(board, "2025-01-02", up=True)
    view = board.records_view()
    text = json.dumps(view, sort_keys=True)
    assert text == json.dumps(board.to_dict(), sort_keys=True)
    for i in range(RECENT_SIGNALS):
        day(board, f"2025-02-{i + 1:02d}", up=False)
    assert json.dumps(view, sort_keys=True) == text
    assert board.records_view() != view
