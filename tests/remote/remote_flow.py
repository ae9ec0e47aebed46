"""A desk attached to a remote runtime by nothing but its service URLs and a token.

Shared by the remote tests (a local tokened stack, the compose deployment)
and ``bench/remote_attach.py``. A :class:`Deployment` is where the four
services answer and the three role tokens; everything else -- which run is
live and the URL its Gateway is reached at -- the desk learns from
runtime_service.
"""

from __future__ import annotations

import contextlib
import re
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.models.profile import Profile
from backend.clients.http import ServiceClient, ServiceError
from backend.clients.services import RuntimeServiceClient, runtime_client

SERVICES = ("agent", "trading", "news", "runtime")
WRITE_METHODS = ("post", "put", "patch", "delete")
# POST routes that only read: checking a BOOTSTRAP text changes nothing, so a viewer may (it gets the 422 of an
# empty body, not a 403).
READS_BY_POST = {("agent", "POST", "/bootstrap/validate")}


# None: the compose file's own settings, so a run's skills run in the docker sandbox (one container per call)
# from its Gateway container, which the docker launcher hands the engine's socket and the staging folder.
COMPOSE_OVERRIDES: dict[str, str] = {}


@dataclass(frozen=True)
class Deployment:
    """A running deployment as a remote desk sees it.

    Args:
        name: what the profiles are called after ("compose", "local stack").
        urls: ``{agent, trading, news, runtime}`` -> ``http://host:port``.
        tokens: ``{viewer, operator, admin}`` -> the bearer token of that role.
        project: the compose project's name, for a compose deployment.
    """

    name: str
    urls: dict[str, str]
    tokens: dict[str, str]
    project: str | None = None  # the compose project, for a compose deployment

    def profile(self, role: str) -> Profile:
        """The profile a user types: four URLs and a token; no role, no Gateway URL."""
        return Profile(name=f"{self.name} ({role})", agent_url=self.urls["agent"], trading_url=self.urls["trading"],
                       news_url=self.urls["news"], runtime_url=self.urls["runtime"], gateway_url="",
                       token=self.tokens[role])

    def runtime(self, role: str = "admin") -> RuntimeServiceClient:
        return runtime_client(self.urls["runtime"], self.tokens[role])


@contextlib.asynccontextmanager
async def local_deployment() -> AsyncIterator[Any]:
    """The four services as subprocesses on free ports of 127.0.0.1, with generated tokens."""
    from backend.config import load_settings
    from backend.security.tokens import Role
    from backend.stack.local_stack import LocalStack

    with tempfile.TemporaryDirectory(prefix="remote-attach-") as tmp:
        base = Path(tmp)
        settings = load_settings(runs_dir=base / "runs", workspaces_dir=base / "ws")
        stack = LocalStack(settings, state_dir=base / ".stack",
                           ports={name: 0 for name in ("agent", "trading", "news", "runtime")})
        await stack.up()
        try:
            yield Deployment("local stack", dict(stack.urls), {r.name: stack.tokens.tokens[r] for r in Role})
        finally:
            await stack.down()


@contextlib.asynccontextmanager
async def compose_deployment() -> AsyncIterator[Any]:
    """The compose deployment (deploy/compose/compose.yaml) on free ports, up for a bench or a script, down after."""
    from tests.support.compose_deployment import running_deployment

    async with running_deployment("evodesk", COMPOSE_OVERRIDES) as deployment:
        yield deployment


async def start_held_run(deployment: Deployment, run_id: str, *, days: tuple[str, str] = ("2025-02-03", "2025-02-03"),
                         approval: str = "all", pace: float = 0.0) -> dict[str, Any]:
    """Create and start a run whose orders wait for a human (approval ``all``), as the admin; its Gateway info."""
    runtime = deployment.runtime("admin")
    try:
        await runtime.create_run({"workspace": "default", "run_id": run_id, "start_date": days[0], "end_date": days[1],
                                  "tickers": ["AAPL", "MSFT", "NVDA"], "approval": {"mode": approval}})
        return await runtime.start_run(run_id, pace=pace)
    finally:
        await runtime.http.aclose()


async def run_status(deployment: Deployment, run_id: str) -> str:
    runtime = deployment.runtime("viewer")
    try:
        return str((await runtime.get_run(run_id))["status"])
    finally:
        await runtime.http.aclose()


def write_operations(openapi: dict[str, Any]) -> list[tuple[str, str]]:
    """Every (METHOD, path) of a service's OpenAPI document that changes something, path parameters filled."""
    found = []
    for path, operations in sorted(openapi.get("paths", {}).items()):
        for method in WRITE_METHODS:
            if method in operations:
                found.append((method.upper(), re.sub(r"\{[^}]+\}", "x", path)))
    return found


async def forced_writes(client: ServiceClient) -> dict[tuple[str, str], int]:
    """Send every write operation the service documents through ``client`` (but :data:`READS_BY_POST`);
    the status each got (0: no error)."""
    openapi = await client.get("/openapi.json")
    statuses: dict[tuple[str, str], int] = {}
    for method, path in write_operations(openapi):
        if (client.service, method, path) in READS_BY_POST:
            continue
        try:
            await client.request(method, path, json={})
            statuses[(method, path)] = 0
        except ServiceError as err:
            statuses[(method, path)] = err.status
    return statuses


def mutating_controls(window: Any) -> list[tuple[str, Any]]:
    """Every control of every panel that changes something (each panel's ``controls``), with its panel id."""
    return [(panel_id, control) for panel_id, panel in window.panels.items()
            for control in getattr(getattr(panel, "controls", None), "_controls", [])]

