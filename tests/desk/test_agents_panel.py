"""AgentsPanel with qtbot over a real leaderboard: team table, signals with correctness, memory, files guard."""

from __future__ import annotations

from typing import Any

import pytest

from app.qt.panels.agents import AgentsPanel
from tests.desk.test_agents_model import leaderboard, run_model  # noqa: F401 - module fixture

__all__ = ["leaderboard"]


@pytest.fixture
def panel(qtbot: Any, leaderboard: list[dict]) -> AgentsPanel:  # noqa: F811
    model = run_model()
    view = AgentsPanel(model)
    qtbot.addWidget(view)
    model.apply_leaderboard(leaderboard)
    model.selected = "fundamentals_analyst"
    model.memory = [{"content": "older", "score": 0.5}, {"content": "newest", "score": 1.0}]
    model._emit("selected", "fundamentals_analyst")
    view.throttle.flush()
    return view


def test_team_table_shows_policy_and_record(panel: AgentsPanel) -> None:
    assert panel.team.rowCount() == 6
    row = next(r for r in range(6) if panel.team.item(r, 0).text() == "fundamentals_analyst")
    agent = panel.model.row("fundamentals_analyst")
    assert panel.team.item(row, 2).text() == "rules"
    assert panel.team.item(row, 6).text() == f"{agent.win_rate * 100:.0f} %"
    assert panel.team.item(row, 7).text() == f"{agent.bull.win}/{agent.bull.n}"
    pm = next(r for r in range(6) if panel.team.item(r, 0).text() == "portfolio_manager")
    # The portfolio manager's record is the team's win rate (docs/protocol.md, "Leaderboard").
    assert panel.team.item(pm, 6).text() == f"{panel.model.row('portfolio_manager').win_rate * 100:.0f} %"
    assert panel.team.selectionModel().selectedRows()[0].row() == row


def test_signals_show_correctness_and_memory_newest_first(panel: AgentsPanel) -> None:
    signals = panel.model.row("fundamentals_analyst").signals
    assert panel.signals.rowCount() == len(signals) > 0
    for r, s in enumerate(signals):
        expected = {True: "\u2713", False: "\u2717", None: "-"}[s.get("is_correct")]
        assert panel.signals.item(r, 3).text() == expected
    assert [panel.memory.item(i).text() for i in range(2)] == ["[100%] newest", "[50%] older"]


def test_run_files_are_read_only_with_the_reason(panel: AgentsPanel) -> None:
    panel.set_read_only(None)
    assert not panel.save_file.isEnabled() and "pick a workspace" in panel.save_file.toolTip()
    panel.model.source = ("workspace", "default")
    panel.set_read_only(None)
    assert panel.save_file.isEnabled()
    panel.set_read_only("read-only: viewer token on 'prod'")
    assert not panel.save_file.isEnabled() and panel.file_text.isReadOnly()
