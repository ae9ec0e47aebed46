"""AgentsModel without Qt over a real backtest's leaderboard: records, signals, live events, file guard.

The service round trips are in ``test_agents_services.py`` against the real services.
"""

from __future__ import annotations

import json

import pytest

from app.models.agents_model import AgentRow, AgentsModel, Record
from backend.paths import DEFAULT_WORKSPACE_TEMPLATE
from backend.storage.bootstrap_file import read_bootstrap
from tests.desk.test_history_model import backtest


@pytest.fixture(scope="module")
def leaderboard(tmp_path_factory: pytest.TempPathFactory) -> list[dict]:
    root = tmp_path_factory.mktemp("agents")
    backtest(root, "team", seed=7)
    state = json.loads((root / "runs" / "team" / "state" / "server_state.json").read_text())
    return state["leaderboard"]


def roster() -> list[AgentRow]:
    config, _ = read_bootstrap(DEFAULT_WORKSPACE_TEMPLATE / "BOOTSTRAP.md")
    return [AgentRow.from_api({"id": a.id, "role": a.role, "policy": a.policy, "skills": ["s"]})
            for a in config.agents]


def run_model() -> AgentsModel:
    model = AgentsModel()
    model.source = ("run", "team")
    model.rows = roster()
    return model


def test_leaderboard_fills_records_and_newest_signals_first(leaderboard: list[dict]) -> None:
    model = run_model()
    model.apply_leaderboard(leaderboard)
    fundamentals = model.row("fundamentals_analyst")
    source = next(r for r in leaderboard if r["agentId"] == "fundamentals_analyst")
    assert fundamentals.win_rate == pytest.approx(source["winRate"])
    assert fundamentals.bull == Record(source["bull"]["win"], source["bull"]["n"])
    assert str(fundamentals.bear) == f"{source['bear']['win']}/{source['bear']['n']}"
    dates = [s["date"] for s in fundamentals.signals]
    assert dates == sorted(dates, reverse=True) and fundamentals.signals[0]["is_correct"] in (True, False, None)
    team = next(r for r in leaderboard if r["agentId"] == "portfolio_manager")  # the team's days, unranked
    assert model.row("portfolio_manager").win_rate == pytest.approx(team["winRate"]) and team["rank"] is None


def test_gateway_events_update_only_the_shown_run(leaderboard: list[dict]) -> None:
    model = run_model()
    model.selected = "technical_analyst"
    kinds: list[str] = []
    model.changed.connect(lambda kind, _: kinds.append(kind))
    model.apply_event({"type": "team_leaderboard", "data": leaderboard}, run_id="other-run")
    assert model.row("technical_analyst").win_rate is None and kinds == []
    model.apply_event({"type": "team_leaderboard", "data": leaderboard}, run_id="team")
    assert model.row("technical_analyst").win_rate is not None
    model.apply_event({"type": "memory", "agentId": "technical_analyst", "content": "RSI worked", "ts": 1},
                      run_id="team")
    model.apply_event({"type": "memory", "agentId": "risk_manager", "content": "not shown", "ts": 2},
                      run_id="team")
    assert [m["content"] for m in model.memory] == ["RSI worked"] and kinds == ["team", "memory"]


async def test_agent_files_are_editable_in_workspaces_only() -> None:
    model = run_model()
    assert not model.editable and model.files == []
    assert not await model.write_file("agents/technical_analyst/AGENT.md", "x")
    assert model.message == "agent files can only be edited in a workspace"
    model.source = ("workspace", "default")
    model.selected = "technical_analyst"
    model.workspace_files = ["BOOTSTRAP.md", "agents/technical_analyst/AGENT.md",
                             "agents/technical_analyst/skills/technical_indicators/main.py",
                             "agents/risk_manager/AGENT.md"]
    assert model.editable and model.files == ["agents/technical_analyst/AGENT.md",
                                              "agents/technical_analyst/skills/technical_indicators/main.py"]


def test_roster_rows_accept_skill_objects_and_names() -> None:
    row = AgentRow.from_api({"id": "x", "role": "risk_manager", "policy": "llm", "model": "m",
                             "skills": [{"name": "risk_metrics", "description": "d"}, "other"]})
    assert row.skills == ["risk_metrics", "other"] and row.model == "m" and row.policy == "llm"
