"""What the local stack's fork server imports once for every service and Gateway it forks.

The modules that at least three of the five processes (four services, a
Gateway) import at start, found with ``python -X importtime``: FastAPI,
uvicorn and the parts of it loaded when serving, pydantic and settings, the
schema, the run store, websockets, YAML, psygnal, httpx. What only one or
two processes need (numpy, the pipeline, a service's routes) stays out: on
two cores, importing it once serially costs as much as importing it in
those processes in parallel. ``tests/stack/test_preload.py`` checks every
name imports without starting a thread or reading the environment's
settings.
"""

from __future__ import annotations

PRELOAD_MODULES: tuple[str, ...] = (
    "backend.stack.lean_imports",  # first: keeps httpx's command-line client out
    "fastapi",
    "fastapi.middleware.cors",
    "fastapi.openapi.docs",
    "starlette.concurrency",
    "uvicorn",
    "uvicorn.config",
    "uvicorn.server",
    "uvicorn.lifespan.on",
    "uvicorn.loops.auto",
    "uvicorn.loops.asyncio",
    "uvicorn.protocols.http.auto",
    "uvicorn.protocols.http.httptools_impl",
    "uvicorn.protocols.http.h11_impl",
    "uvicorn.protocols.websockets.auto",
    "uvicorn.protocols.websockets.websockets_sansio_impl",
    "websockets.server",
    "httpx",
    "yaml",
    "psygnal",
    "backend.config",
    "backend.signals",
    "backend.apps.common",
    "backend.apps.common.runner",
    "backend.security.tokens",
    "backend.schema.events",
    "backend.schema.state",
    "backend.schema.commands",
    "backend.schema.bootstrap",
    "backend.storage.run_store",
    # What FastAPI imports on the first route it builds (every service builds some):
    "pydantic.v1",
    "fastapi.telemetry._runtime",
    "backend.apps.common.params",
)

# runtime_service's own app, imported by the fork server after the shared modules: its fork,
# on the way to the run's Gateway, then starts from its routes already built.
OWN_MODULES: tuple[str, ...] = ("backend.apps.runtime_service.app",)

# The other three services are forked by a sibling fork server that imports the shared
# modules and their apps on the second core while the first imports runtime_service's.
SIBLING_SERVES: tuple[str, ...] = (
    "backend.apps.agent_service",
    "backend.apps.trading_service",
    "backend.apps.news_service",
)
SIBLING_MODULES: tuple[str, ...] = (
    "backend.apps.agent_service.app",
    "backend.apps.trading_service.app",
    "backend.apps.news_service.app",
)

# Imported by the fork server after it forked the services, between requests, for the
# run's Gateway that runtime_service asks for a moment later (the pipeline, the agents,
# the market, numpy): off the critical path of the services, on none of the Gateway's.
# In small steps: a request that comes meanwhile waits for one step at most.
LATER_MODULES: tuple[str, ...] = (
    "numpy",
    "backend.trading",
    "backend.pipeline.state_files",
    "backend.agents.evo_agent",
    "backend.pipeline.trading_pipeline",
    "backend.pipeline.engine",
    "gateway.cli",
    "gateway.server",
    "gateway.engine_driver",
    "gateway.approvals_wiring",
)
