"""What the local stack's fork servers import for the services and Gateways they fork.

``PRELOAD_MODULES``: what at least three of the five processes (four
services, a Gateway) import at start, found with ``python -X importtime``:
FastAPI, uvicorn and the parts of it loaded when serving, pydantic and
settings, the schema, the run store, websockets, YAML, psygnal. Imported
once, by the fork server; then it imports runtime_service's app
(``OWN_MODULES``), forks the four services (each imports its own app, in
parallel) and, between requests, imports the run's Gateway's modules
(``LATER_MODULES``). With ``GATEWAY_SIBLING`` (on) a sibling fork server,
forked after ``GATEWAY_BASE``, imports the Gateway's modules on the second core
while the server imports the services' and forks every Gateway
(:func:`fork_server_lists` says who imports what). Another sibling
(``SIBLING_*``, off) can preload and fork the other three services instead. ``bench/stack_startup.py --phases`` shows the timeline;
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
    # What the first request to a sync route imports (Starlette runs it in anyio's thread pool):
    # runtime_service's first POST /runs, on the way to the run's Gateway.
    "anyio._backends._asyncio",
)

# runtime_service's own app, imported by the fork server after the shared modules: its fork,
# on the way to the run's Gateway, then starts from its routes already built.
# httpx and the commands' schema: of the services only runtime_service needs them at start.
OWN_MODULES: tuple[str, ...] = ("httpx", "backend.schema.commands", "backend.apps.runtime_service.app")

# A sibling fork server can fork the other three services from their apps preloaded, imported
# on the second core while the first imports runtime_service's (SIBLING_SERVES = SIBLING_OPTION;
# bench/stack_startup.py --sibling). Off: on this 2-core machine, loaded by other jobs, it
# measured 1.09x-1.35x the bare four against 0.92x-1.01x without it in the same runs: the
# sibling imports three apps one after the other, where three children import one each in parallel.
SIBLING_OPTION: tuple[str, ...] = (
    "backend.apps.agent_service",
    "backend.apps.trading_service",
    "backend.apps.news_service",
)
SIBLING_SERVES: tuple[str, ...] = ()
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

# The Gateway's own fork server (GATEWAY_SIBLING, on): forked once the few modules a Gateway and
# the services share are imported (GATEWAY_BASE, 0.1 s), it imports the Gateway's modules
# (LATER_MODULES) on the second core while the fork server imports the services' (the rest of
# PRELOAD_MODULES, OWN_MODULES); it then forks every Gateway (``python -m gateway``), and the fork
# server imports nothing after forking the services. Before, the second core idled through the
# preload, and the Gateway's modules were imported after it, beside the three services' imports,
# by the fork server and again by a Gateway forked before they were all in.
GATEWAY_SIBLING = True
GATEWAY_SERVES: tuple[str, ...] = ("gateway",)
GATEWAY_BASE: tuple[str, ...] = (
    "backend.stack.lean_imports",
    "yaml",
    "psygnal",
    "backend.config",
    "backend.signals",
    "backend.security.tokens",
)


def fork_server_lists(gateway_sibling: bool | None = None) -> dict[str, tuple[str, ...]]:
    """What ``ForkServerProcess.start`` gets: ``modules``, ``own``, ``later``, ``sibling_serves``, ``sibling_preloads``."""
    if GATEWAY_SIBLING if gateway_sibling is None else gateway_sibling:
        rest = tuple(m for m in PRELOAD_MODULES if m not in GATEWAY_BASE)
        return {"modules": GATEWAY_BASE, "own": rest + OWN_MODULES, "later": (),
                "sibling_serves": GATEWAY_SERVES, "sibling_preloads": LATER_MODULES}
    return {"modules": PRELOAD_MODULES, "own": OWN_MODULES, "later": LATER_MODULES,
            "sibling_serves": SIBLING_SERVES, "sibling_preloads": SIBLING_MODULES}
