"""AgentsModel and panel against real agent_service and trading_service over a real backtest."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from app.models.agents_model import AgentsModel
from backend.clients.http import ServiceClient
from backend.clients.services import AgentServiceClient, TradingServiceClient
from app.qt.panels.agents import AgentsPanel
from tests.support.service_process import clients_of
from tests.support.waiting import until
from tests.desk.test_history_model import backtest
from tests.desk.test_workspaces_service import ServiceProcess, running_services


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, ServiceProcess]]:
    root = tmp_path_factory.mktemp("agents-services")
    backtest(root, "team", seed=7)
    with running_services(root, "agent", "trading") as started:
        yield started


@pytest.fixture
async def model(stack: dict[str, ServiceProcess]) -> Any:
    async with clients_of(stack, "agent", "trading") as (agent, trading):
        yield AgentsModel(AgentServiceClient(agent), TradingServiceClient(trading))


async def test_run_team_with_record_profile_and_memory(model: AgentsModel) -> None:
    await model.show_run("team")
    assert [r.id for r in model.rows][:2] == ["fundamentals_analyst", "technical_analyst"] and len(model.rows) == 6
    technical = model.row("technical_analyst")
    assert technical.skills == ["technical_indicators"] and technical.win_rate is not None
    assert technical.bull.n + technical.bear.n > 0 and technical.signals
    await model.select("technical_analyst")
    assert model.profile["skills"][0]["name"] == "technical_indicators" and model.profile["persona"]
    assert model.memory and model.memory[-1]["content"].startswith("2025-01-31:")  # newest last
    assert not model.editable and model.message is None


async def test_workspace_team_files_can_be_read_and_written(model: AgentsModel) -> None:
    await model.show_workspace("default")
    assert model.editable and model.row("risk_manager").win_rate is None
    await model.select("risk_manager")
    assert "agents/risk_manager/AGENT.md" in model.files
    text = await model.read_file("agents/risk_manager/AGENT.md")
    assert text and await model.write_file("agents/risk_manager/AGENT.md", text + "\nBe careful.\n")
    assert (await model.read_file("agents/risk_manager/AGENT.md")).endswith("Be careful.\n")
    assert not await model.write_file("agents/risk_manager/../../../escape.md", "x")
    assert model.message.startswith("save failed:")


def test_panel_shows_the_team_of_the_picked_source(qtbot: Any, arun: Any, stack: dict[str, ServiceProcess]) -> None:
    agent, trading = ServiceClient("agent", stack["agent"].url), ServiceClient("trading", stack["trading"].url)
    panel = AgentsPanel(AgentsModel(AgentServiceClient(agent), TradingServiceClient(trading)))
    qtbot.addWidget(panel)
    panel.set_sources(["team"], ["default"])
    arun(panel.show_source("run", "team"))
    panel.throttle.flush()
    assert panel.source.currentText() == "run team" and panel.team.rowCount() == 6
    assert panel.model.selected == "fundamentals_analyst" and panel.signals.rowCount() > 0
    assert panel.memory.count() > 0 and "fundamental_scores" in panel.profile.toPlainText()
    panel.source.setCurrentIndex(1)
    panel.source.activated.emit(1)
    arun(until(lambda: panel.model.files, what="the workspace's agent files"))
    panel.throttle.flush()
    assert panel.files.count() >= 1 and panel.save_file.isEnabled()
    arun(agent.aclose())
    arun(trading.aclose())
