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


# -- the day's team_leaderboard encodes its rows directly -----------------------------------

from hypothesis import given, settings, strategies as hst  # noqa: E402

from backend.pipeline.settlement import leaderboard_event  # noqa: E402

ROLES = ["fundamentals_analyst", "technical_analyst", "sentiment_analyst", "valuation_analyst"]
TICKERS = ["AAPL", "MSFT", "NVDA", "BRK"]
RETURNS = hst.one_of(hst.just(0.0), hst.floats(min_value=-0.5, max_value=0.5, allow_nan=False))
DAY = hst.tuples(
    hst.lists(hst.tuples(hst.sampled_from(ROLES), hst.sampled_from(TICKERS), hst.sampled_from(["up", "down", "neutral"])),
              max_size=12),
    hst.dictionaries(hst.sampled_from(TICKERS), RETURNS),  # a ticker without a return: the call is unscored
    hst.floats(min_value=-5000, max_value=5000, allow_nan=False),  # the team's P&L (0: not decided)
    hst.integers(min_value=0, max_value=3),  # risk warnings
)


@settings(max_examples=150, deadline=None)
@given(roles=hst.lists(hst.sampled_from(ROLES), min_size=1, max_size=4, unique=True),
       models=hst.booleans(), days=hst.lists(DAY, max_size=30), restore=hst.booleans())
def test_a_leaderboard_event_encodes_as_its_validated_model(roles, models, days, restore) -> None:
    agents = [{"id": r, "role": r, **({"model": "qwen", "provider": "ollama"} if models else {})} for r in roles]
    board = Leaderboard(agents)
    pipe = SimpleNamespace(signal_models={})
    for i, (calls, realized, pnl, warnings) in enumerate(days):
        date = f"2025-{1 + i // 28:02d}-{1 + i % 28:02d}"
        board.score([Prediction(agent_id=a, ticker=t, date=date, direction=d, confidence=50) for a, t, d in calls
                     if a in roles], realized)
        board.mark_day(pnl, warnings)
        if restore and i == len(days) // 2:  # a resumed run: the records back from their JSON
            board = Leaderboard(agents, json.loads(json.dumps(board.to_dict())))
        event = leaderboard_event(pipe, board.rows())
        expected = ev.TeamLeaderboard(data=json.loads(json.dumps(board.rows()))).model_dump_json(exclude_none=True)
        assert event.wire_json() == expected
        assert json.loads(event.wire_json())["data"] == json.loads(expected)["data"]


def test_rows_of_another_shape_leave_the_event_to_encode_itself() -> None:
    board = Leaderboard(ANALYSTS)
    day(board, "2025-01-02", up=True)
    rows = board.rows()
    rows[0]["streak"] = 3  # a key LeaderboardRow does not name: kept, after the named ones
    event = leaderboard_event(SimpleNamespace(signal_models={}), rows)
    assert event.wire_json() == event.model_dump_json(exclude_none=True)
    assert json.loads(event.wire_json())["data"][0]["streak"] == 3
