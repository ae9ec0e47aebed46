"""agent_service (:8000): workspaces, agents and skills, and human approvals.

``create_app`` builds the FastAPI app on the shared service scaffolding
(``/health``, JSON ``{error, detail}`` errors, bearer-token roles) and adds
the routes of :mod:`.workspaces`, :mod:`.agents` and :mod:`.approvals`. At
start it replays the approvals of every run and starts the expiry clock;
see docs/approvals.md.
"""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path
from typing import TYPE_CHECKING, AsyncIterator

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from backend import __version__
from backend.agents.profile import AgentProfileError
from backend.apps.agent_service import agents, approvals, workspaces
from backend.apps.agent_service.approval_runtime import ChangeHub, ExpiryClock
from backend.apps.common import create_service_app, service_config
from backend.approvals.store import ApprovalStore
from backend.security.tokens import TokenRegistry
from backend.skills.spec import SkillSpecError
from backend.storage.bootstrap_file import BootstrapError
from backend.storage.ids import InvalidIdError
from backend.storage.run_store import RunStore
from backend.storage.workspaces import WorkspaceStore

if TYPE_CHECKING:
    from backend.config import Settings

SERVICE = "agent_service"
log = logging.getLogger(__name__)


def _invalid_bootstrap(request: Request, err: Exception) -> JSONResponse:
    assert isinstance(err, BootstrapError)
    return JSONResponse({"error": "invalid_bootstrap", "detail": str(err), "line": err.line, "field": err.field},
                        status_code=422)


def _invalid_file(request: Request, err: Exception) -> JSONResponse:
    return JSONResponse({"error": "invalid_file", "detail": str(err)}, status_code=422)


def _invalid_id(request: Request, err: Exception) -> JSONResponse:
    return JSONResponse({"error": "bad_request", "detail": str(err)}, status_code=400)


def create_app(settings: Settings | None = None, registry: TokenRegistry | None = None) -> FastAPI:
    """The agent_service app for ``settings`` (default: the process settings) and ``registry`` (its tokens)."""
    settings, registry = service_config(settings, registry)
    if registry.configured and not registry.run_secret:
        log.warning("no run secret (EVOTRADERS_RUN_SECRET) is configured: no Gateway can file approvals")
    workspace_store = WorkspaceStore(Path(settings.workspaces_dir))
    runs = RunStore(Path(settings.runs_dir), workspace_store)
    store = ApprovalStore(runs)
    hub, clock = ChangeHub(store), ExpiryClock(store)

    @contextlib.asynccontextmanager
    async def lifespan(app_: FastAPI) -> AsyncIterator[None]:
        # Replay before serving: a decision must never race an unloaded approval.
        await run_in_threadpool(store.load)
        hub.start()
        clock.start()
        try:
            yield
        finally:
            hub.close()
            await clock.close()

    app = create_service_app(SERVICE, __version__, settings, registry, lifespan=lifespan)
    app.state.workspaces, app.state.runs, app.state.approvals, app.state.approval_hub = \
        workspace_store, runs, store, hub
    app.add_exception_handler(BootstrapError, _invalid_bootstrap)
    app.add_exception_handler(AgentProfileError, _invalid_file)
    app.add_exception_handler(SkillSpecError, _invalid_file)
    app.add_exception_handler(InvalidIdError, _invalid_id)
    for module in (workspaces, agents, approvals):
        app.include_router(module.router)
    return app
