"""Workspaces against real services: CRUD and validation on agent_service, a run started on runtime_service.

``ServiceProcess`` (a service subprocess on a free port) is shared by the other
``test_*_service.py`` files of the desktop panels.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.models.workspaces_model import HttpRunLauncher, RunRequest, WorkspacesModel
from backend.clients.http import ServiceClient
from backend.clients.services import AgentServiceClient, RuntimeServiceClient
from app.qt.panels.workspaces import WorkspacesPanel
from tests.support.waiting import until
from tests.desk.test_workspaces_model import GOOD, bad_ticker_text
from tests.support.service_process import ServiceProcess as SharedServiceProcess, clients_of, service_env



def ServiceProcess(name: str, root: Path, extra_env: dict[str, str] | None = None) -> SharedServiceProcess:  # noqa: N802
    """``name`` with its data in ``root``; open to loopback (no tokens)."""
    return SharedServiceProcess(name, service_env(root, **(extra_env or {})), log_path=root / f"{name}.log")


@contextlib.contextmanager
def running_services(root: Path, *names: str) -> Iterator[dict[str, SharedServiceProcess]]:
    """``<name>_service`` for each name, started in order (those after ``agent`` pointed at it),
    stopped in reverse order; yields name -> process."""
    started: dict[str, SharedServiceProcess] = {}
    try:
        for name in names:
            extra = {"AGENT_SERVICE_URL": started["agent"].url} if "agent" in started else {}
            started[name] = ServiceProcess(f"{name}_service", root, extra).start()
        yield dict(started)
    finally:
        for process in reversed(started.values()):
            process.stop()


@pytest.fixture(scope="module")
def services(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, SharedServiceProcess]]:
    with running_services(tmp_path_factory.mktemp("workspaces-desk"), "agent", "runtime") as started:
        yield started


@pytest.fixture
async def model(services: dict[str, ServiceProcess]) -> Any:
    async with clients_of(services, "agent", "runtime") as (agent, runtime):
        yield WorkspacesModel(AgentServiceClient(agent), HttpRunLauncher(RuntimeServiceClient(runtime)),
                              debounce=0.01)


async def test_create_duplicate_rename_delete(model: WorkspacesModel) -> None:
    assert await model.refresh() and [w.name for w in model.workspaces] == ["default"]
    assert await model.create("alpha")
    assert model.selected == "alpha" and model.text.startswith("---\n") and not model.dirty
    assert await model.duplicate("alpha", "beta") and model.selected == "beta"
    assert await model.rename("beta", "gamma")
    assert [w.name for w in model.workspaces] == ["alpha", "default", "gamma"]
    assert not await model.create("alpha")  # exists: the service's 409, as one line
    assert model.message == "create alpha failed: workspace 'alpha' already exists"
    assert await model.delete("gamma") and await model.delete("alpha")
    assert [w.name for w in model.workspaces] == ["default"] and model.selected is None


async def test_service_validation_and_save(model: WorkspacesModel, services: dict[str, ServiceProcess]) -> None:
    await model.create("editable")
    text, line = bad_ticker_text()
    check = await model.validate(text)
    assert (check.ok, check.line, check.field, check.source) == (False, line, "tickers", "service")
    model.edit(text)
    assert not await model.save()  # refused before writing
    assert model.message == f"not saved: line {line}: tickers: invalid ticker symbol(s): msft"
    fixed = GOOD.replace("tickers: [AAPL, MSFT, GOOGL, NVDA, TSLA, META]", "tickers: [AAPL, MSFT]")
    model.edit(fixed)
    assert await model.save() and not model.dirty
    stored = httpx.get(f"{services['agent'].url}/workspaces/editable/files/BOOTSTRAP.md", timeout=10).json()
    assert stored["text"] == fixed
    await model.delete("editable")


async def test_start_run_over_runtime_service_spawns_its_gateway(model: WorkspacesModel,
                                                                 services: dict[str, ServiceProcess]) -> None:
    request = RunRequest("default", dt.date(2025, 1, 2), dt.date(2025, 1, 8), ["AAPL", "MSFT"], pace=0.2,
                         approval="all", paused=True, run_id="from-desk")
    assert await model.start_run(request) == "from-desk"
    info = httpx.get(f"{services['runtime'].url}/runs/from-desk/gateway", timeout=10).json()
    assert info["status"] == "healthy" and info["url"].startswith("ws://127.0.0.1:")
    summary = httpx.get(f"{services['runtime'].url}/runs/from-desk", timeout=10).json()
    assert summary["tickers"] == ["AAPL", "MSFT"] and summary["end_date"] == "2025-01-08"
    httpx.post(f"{services['runtime'].url}/runs/from-desk/stop", timeout=30)


def test_panel_lists_and_marks_errors_from_the_service(qtbot: Any, arun: Any,
                                                       services: dict[str, ServiceProcess]) -> None:
    http = ServiceClient("agent", services["agent"].url)
    panel = WorkspacesPanel(WorkspacesModel(AgentServiceClient(http), debounce=0.01))
    qtbot.addWidget(panel)
    arun(panel.model.refresh())
    assert panel.list.count() == 1 and panel.list.item(0).text() == "default"
    arun(panel.model.select("default"))
    assert panel.editor.text() == panel.model.text and panel.form.tickers.text().startswith("AAPL, MSFT")
    text, line = bad_ticker_text()
    panel.editor.editor.setPlainText(text)
    arun(until(lambda: panel.editor.marked_lines(), what="the error mark"))
    assert panel.editor.marked_lines() == [line] and "msft" in panel.editor.status.text()
    arun(http.aclose())
