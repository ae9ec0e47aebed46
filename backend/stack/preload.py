"""What the local stack's fork servers import for the services and Gateways they fork.

``PRELOAD_MODULES``: what at least three of the five processes (four
services, a Gateway) import at start, found with ``python -X importtime``:
FastAPI, uvicorn and the parts of it loaded when serving, pydantic and
settings, the schema, the run store, websockets, YAML, psygnal. Imported
once, by the fork server; then it forks its *sibling*, and the two import
the rest on the two cores at once: the fork server runtime_service's app
(``OWN_MODULES``, then forks it) and, between requests, the run's Gateway's
modules (``LATER_MODULES``); the sibling the other three services' apps
(``SIBLING_MODULES``, then forks them). Each child then starts with its
routes built. ``bench/stack_startup.py --phases`` shows the timeline;
``tests/stack/test_preload.py`` checks every name imports without starting
a thread or reading the environment's settings.
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
    "uvicorn.protocols.websockets.auto",
    "uvicorn.protocols.websockets.websockets_sansio_impl",
    "websockets.server",
    "yaml",
    "psygnal",
    "backend.config",
    "backend.signals",
    "backend.apps.common",
    "backend.apps.common.runner",
    "backend.security.tokens",
    "backend.schema.events",
    "backend.schema.state",
    "backend.schema.bootstrap",
    "backend.storage.run_store",
    # What FastAPI imports on the first route it builds (every service builds some):
    "pydantic.v1",
    "fastapi.telemetry._runtime",
    "backend.apps.common.params",
)

# runtime_service's own app, imported by the fork server after the shared modules: its fork,
# on the way to the run's Gateway, then starts from its routes already built.
# httpx and the commands' schema: of the services only runtime_service needs them at start.
OWN_MODULES: tuple[str, ...] = ("httpx", "backend.schema.commands", "backend.apps.runtime_service.app")

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
    "uvicorn.protocols.http.h11_impl",  # what uvicorn serves with when httptools is missing
)
