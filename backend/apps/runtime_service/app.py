"""runtime_service: a thin HTTP layer over :class:`RuntimeController`.

No runtime logic lives here: every route validates its input, checks the
caller's role and calls the controller (or the sandbox settings store).
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, AsyncIterator

from fastapi import FastAPI

from backend import __version__
from backend.apps.common import create_service_app, service_config
from backend.apps.runtime_service import routes_runs, routes_sandbox
from backend.control_plane.controller import RuntimeController
from backend.sandbox.settings_store import SandboxSettingsStore
from backend.security.tokens import TokenRegistry
from backend.storage.run_store import RunStore

if TYPE_CHECKING:
    from backend.config import Settings


def create_app(settings: Settings | None = None, registry: TokenRegistry | None = None,
               controller: RuntimeController | None = None) -> FastAPI:
    settings, registry = service_config(settings, registry)
    # The first Gateway of a local stack gets GATEWAY_PORT when it is free (a dashboard's default URL).
    controller = controller or RuntimeController(settings, RunStore.from_settings(settings), registry=registry,
                                                 preferred_port=settings.gateway_port)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        # Stopping the service stops the Gateways it spawned (after their current stage).
        await controller.shutdown()

    app = create_service_app("runtime_service", __version__, settings, registry, lifespan=lifespan)
    app.state.controller = controller
    app.state.sandbox = SandboxSettingsStore(settings)
    app.include_router(routes_runs.router)
    app.include_router(routes_sandbox.router)
    return app
