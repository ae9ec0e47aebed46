"""agent_service routes: the agents and skills of a workspace or of a run, a run's agent memory and llm exchanges."""

from __future__ import annotations

from pathlib import Path

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from backend.agents import transcripts
from backend.apps.agent_service import team
from backend.apps.common.auth import ViewerDep
from backend.errors import NotFoundError
from backend.schema.api_agents import AgentProfileView, AgentSummary
from backend.schema.events import AgentExchange
from backend.storage.run_store import RunStore
from backend.storage.workspaces import WorkspaceStore

router = APIRouter(tags=["agents"])
MEMORY_MAX = 1000


def _workspaces(request: Request) -> WorkspaceStore:
    return request.app.state.workspaces


def _runs(request: Request) -> RunStore:
    return request.app.state.runs


@router.get("/workspaces/{name}/agents", response_model=list[AgentSummary])
def workspace_agents(name: str, request: Request, role: ViewerDep) -> list[AgentSummary]:
    folder, config = team.workspace_config(_workspaces(request), name)
    return team.team(folder, config)


@router.get("/workspaces/{name}/agents/{agent_id}", response_model=AgentProfileView)
def workspace_agent(name: str, agent_id: str, request: Request, role: ViewerDep) -> AgentProfileView:
    folder, config = team.workspace_config(_workspaces(request), name)
    return team.profile(folder, config, agent_id)


@router.get("/runs/{run_id}/agents", response_model=list[AgentSummary])
def run_agents(run_id: str, request: Request, role: ViewerDep) -> list[AgentSummary]:
    runs = _runs(request)
    config, _ = runs.read_bootstrap(run_id)
    return team.team(runs.paths(run_id).root, config)


@router.get("/runs/{run_id}/agents/{agent_id}", response_model=AgentProfileView)
def run_agent(run_id: str, agent_id: str, request: Request, role: ViewerDep) -> AgentProfileView:
    """The agent's profile plus its latest reflections."""
    runs = _runs(request)
    config, _ = runs.read_bootstrap(run_id)
    return team.profile(runs.paths(run_id).root, config, agent_id, memory=team.MEMORY_PREVIEW)


def _roster_agent_dir(request: Request, run_id: str, agent_id: str) -> Path:
    """The folder of an agent of the run's roster; 404 naming both when the roster has no such agent."""
    runs = _runs(request)
    config, _ = runs.read_bootstrap(run_id)
    try:
        spec = config.agent(agent_id)
    except KeyError:
        raise NotFoundError(f"no agent {agent_id!r} in the roster of run {run_id!r}") from None
    return runs.paths(run_id).agent_dir(spec.id)


@router.get("/runs/{run_id}/agents/{agent_id}/memory")
def run_agent_memory(run_id: str, agent_id: str, request: Request, role: ViewerDep,
                     limit: Annotated[int, Query(ge=1, le=MEMORY_MAX)] = 20) -> list[dict[str, Any]]:
    """The agent's reflections, newest last."""
    return team.memory(_roster_agent_dir(request, run_id, agent_id), limit)


@router.get("/runs/{run_id}/agents/{agent_id}/exchanges", response_model=list[AgentExchange])
def run_agent_exchanges(run_id: str, agent_id: str, request: Request, role: ViewerDep,
                        limit: Annotated[int, Query(ge=1, le=MEMORY_MAX)] = 50) -> list[AgentExchange]:
    """An llm agent's exchanges with its model (tool calls, retrieved reflections, fallbacks), newest last."""
    return [transcripts.exchange_event(r) for r in transcripts.read(_roster_agent_dir(request, run_id, agent_id))[-limit:]]
