"""Service scaffolding: a small app built with create_service_app, served by a real
uvicorn on a free port (in-process, and as ``run_service`` in a subprocess), checked with httpx."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import httpx
import pytest
import uvicorn
import websockets
from fastapi import WebSocket
from pydantic import BaseModel, Field

from backend.apps.common import (
    AdminDep,
    ConflictError,
    ForbiddenPathError,
    NotFoundError,
    OperatorDep,
    ViewerDep,
    create_service_app,
    protected_router,
    unprotected_routes,
)
from backend.config import load_settings
from backend.supervisor import ProcessSpec, ProcessStatus, ProcessSupervisor, free_port
from backend.security.tokens import TokenRegistry, generate_registry

ROOT = Path(__file__).resolve().parents[2]


class Order(BaseModel):
    ticker: str = Field(min_length=1)
    quantity: int = Field(gt=0)


def sample_app(registry: TokenRegistry):
    """One route per dependency and per error family."""
    app = create_service_app("sample_service", "1.2.3", load_settings(), registry)
    router = protected_router()

    @router.get("/items/{item_id}")
    async def get_item(item_id: str, role: ViewerDep) -> dict:
        if item_id != "known":
            raise NotFoundError(f"item {item_id} not found")
        return {"item": item_id, "role": role.name}

    @router.post("/orders", status_code=201)
    async def place_order(order: Order, role: OperatorDep) -> dict:
        return {"ticker": order.ticker, "quantity": order.quantity, "role": role.name}

    @router.delete("/runs/{run_id}")
    async def delete_run(run_id: str, role: AdminDep) -> dict:
        raise ConflictError(f"run {run_id} is running; stop it first")

    @router.get("/files")
    async def read_file(path: str, role: ViewerDep) -> dict:
        raise ForbiddenPathError(f"path {path} escapes the run directory")

    @router.get("/boom")
    async def boom(role: ViewerDep) -> dict:
        raise RuntimeError("secret internals")

    @router.post("/touch")
    async def touch(role: ViewerDep) -> dict:
        return {"role": role.name}

    app.include_router(router)

    @app.websocket("/ws")
    async def ws(websocket: WebSocket, role: ViewerDep) -> None:
        await websocket.accept()
        await websocket.send_json({"role": role.name})
        await websocket.close()

    return app


class InProcessServer:
    """A real uvicorn server on a free loopback port, in this event loop."""

    def __init__(self, app) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="critical",
                                                    lifespan="on", access_log=False))
        self.task: asyncio.Task | None = None

    async def __aenter__(self) -> "InProcessServer":
        self.task = asyncio.create_task(self.server.serve())
        while not self.server.started:
            if self.task.done():
                self.task.result()  # re-raise a startup failure
                raise RuntimeError("server did not start")
            await asyncio.sleep(0.01)
        return self

    async def __aexit__(self, *exc) -> None:
        self.server.should_exit = True
        await self.task


@pytest.fixture
def tokens() -> TokenRegistry:
    return generate_registry()


@pytest.fixture
async def secured(tokens):
    async with InProcessServer(sample_app(tokens)) as srv:
        async with httpx.AsyncClient(base_url=srv.url, trust_env=False) as client:
            yield client


def bearer(tokens: TokenRegistry, role: str) -> dict[str, str]:
    from backend.security.tokens import Role

    return {"Authorization": f"Bearer {tokens.tokens[Role[role]]}"}


async def test_health_needs_no_token(secured):
    response = await secured.get("/health")
    assert response.status_code == 200
    body = response.json()
    assert (body["status"], body["service"], body["version"]) == ("ok", "sample_service", "1.2.3")
    assert body["uptime_s"] >= 0


async def test_missing_or_wrong_token_is_401_json_with_www_authenticate(secured):
    response = await secured.get("/items/known")
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json() == {"error": "unauthorized",
                               "detail": "missing bearer token (send Authorization: Bearer <token>)"}
    response = await secured.get("/items/known", headers={"Authorization": "Bearer not-a-real-token"})
    assert response.status_code == 401 and response.json()["detail"] == "invalid token"


async def test_roles_are_ordered_and_a_weak_role_is_403(secured, tokens):
    assert (await secured.get("/items/known", headers=bearer(tokens, "viewer"))).json()["role"] == "viewer"
    response = await secured.post("/orders", json={"ticker": "AAPL", "quantity": 5}, headers=bearer(tokens, "viewer"))
    assert response.status_code == 403
    assert response.json() == {"error": "forbidden", "detail": "requires operator role, token has viewer"}
    response = await secured.post("/orders", json={"ticker": "AAPL", "quantity": 5}, headers=bearer(tokens, "admin"))
    assert response.status_code == 201 and response.json()["role"] == "admin"  # admin can do what operator can
    response = await secured.delete("/runs/r1", headers=bearer(tokens, "operator"))
    assert response.json()["detail"] == "requires admin role, token has operator"


async def test_query_token_works_for_gets_only(secured, tokens):
    token = bearer(tokens, "viewer")["Authorization"].split()[1]
    assert (await secured.get(f"/items/known?token={token}")).status_code == 200
    response = await secured.post(f"/touch?token={token}")
    assert response.status_code == 401  # a write never takes its token from the URL
    assert (await secured.post("/touch", headers=bearer(tokens, "viewer"))).status_code == 200


async def test_bad_body_is_422_naming_the_field(secured, tokens):
    response = await secured.post("/orders", json={"ticker": "AAPL", "quantity": 0}, headers=bearer(tokens, "operator"))
    assert response.status_code == 422
    body = response.json()
    assert body["error"] == "validation_error"
    assert body["detail"] == "quantity: Input should be greater than 0"
    assert body["fields"] == [{"field": "quantity", "location": "body",
                               "message": "quantity: Input should be greater than 0"}]
    response = await secured.post("/orders", content=b"{not json", headers={**bearer(tokens, "operator"),
                                                                            "Content-Type": "application/json"})
    assert response.status_code == 422 and response.json()["detail"].startswith("invalid JSON")
    response = await secured.get("/files", headers=bearer(tokens, "viewer"))  # missing query parameter
    assert response.status_code == 422
    assert response.json()["detail"] == "query parameter path: Field required"


async def test_domain_errors_map_to_404_409_400(secured, tokens):
    response = await secured.get("/items/nope", headers=bearer(tokens, "viewer"))
    assert (response.status_code, response.json()) == (404, {"error": "not_found", "detail": "item nope not found"})
    response = await secured.delete("/runs/r1", headers=bearer(tokens, "admin"))
    assert (response.status_code, response.json()["error"]) == (409, "conflict")
    response = await secured.get("/files", params={"path": "../../etc/passwd"}, headers=bearer(tokens, "viewer"))
    assert response.status_code == 400
    assert response.json() == {"error": "forbidden_path", "detail": "path ../../etc/passwd escapes the run directory"}


async def test_unknown_route_and_method_are_json(secured, tokens):
    response = await secured.get("/no/such/route", headers=bearer(tokens, "viewer"))
    assert (response.status_code, response.json()["error"]) == (404, "not_found")
    response = await secured.put("/orders", headers=bearer(tokens, "admin"))
    assert (response.status_code, response.json()["error"]) == (405, "method_not_allowed")


async def test_unexpected_exception_is_500_internal_without_internals(secured, tokens, caplog):
    response = await secured.get("/boom", headers=bearer(tokens, "viewer"))
    assert response.status_code == 500
    body = response.json()
    assert body["error"] == "internal"
    assert "secret internals" not in body["detail"] and "(ref " in body["detail"]
    ref = body["detail"].split("(ref ")[1].split(")")[0]
    assert any(ref in rec.getMessage() and rec.exc_info for rec in caplog.records)  # logged, with its traceback


async def test_openapi_needs_a_viewer_and_documents_the_error_body(secured, tokens):
    assert (await secured.get("/openapi.json")).status_code == 401
    schema = (await secured.get("/openapi.json", headers=bearer(tokens, "viewer"))).json()
    assert "/orders" in schema["paths"]
    responses = schema["paths"]["/orders"]["post"]["responses"]
    assert responses["422"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/ErrorBody"}
    assert {"401", "403", "404", "409", "400"} <= set(responses)
    assert "HTTPValidationError" not in json.dumps(schema)
    assert "401" not in schema["paths"]["/health"]["get"]["responses"]
    docs = await secured.get("/docs", params={"token": bearer(tokens, "viewer")["Authorization"].split()[1]})
    assert docs.status_code == 200 and "/openapi.json?token=" in docs.text


async def test_cors_is_off_by_default(secured):
    response = await secured.get("/health", headers={"Origin": "http://evil.example"})
    assert "access-control-allow-origin" not in response.headers


async def test_websocket_takes_its_token_from_the_query(tokens):
    async with InProcessServer(sample_app(tokens)) as srv:
        token = bearer(tokens, "operator")["Authorization"].split()[1]
        async with websockets.connect(f"ws://127.0.0.1:{srv.port}/ws?token={token}") as ws:
            assert json.loads(await ws.recv()) == {"role": "operator"}
        with pytest.raises(websockets.exceptions.InvalidStatus):
            async with websockets.connect(f"ws://127.0.0.1:{srv.port}/ws"):
                pass


async def test_open_server_serves_loopback_clients_with_every_role():
    async with InProcessServer(sample_app(TokenRegistry())) as srv:
        async with httpx.AsyncClient(base_url=srv.url, trust_env=False) as client:
            assert (await client.get("/items/known")).json()["role"] == "admin"
            assert (await client.post("/orders", json={"ticker": "MSFT", "quantity": 1})).status_code == 201


async def test_open_server_refuses_non_loopback_peers():
    app = sample_app(TokenRegistry())
    transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://sample") as client:
        response = await client.get("/items/known")
    assert response.status_code == 401
    assert response.json()["detail"] == "no tokens are configured, so only loopback clients are served (not 203.0.113.7)"


def test_every_route_but_health_needs_a_role(tokens):
    assert unprotected_routes(sample_app(tokens)) == ["GET /health"]


async def test_a_route_without_role_check_stops_the_service_from_starting(tokens):
    app = sample_app(tokens)

    @app.get("/leaky")
    async def leaky() -> dict:
        return {}

    with pytest.raises(RuntimeError, match=r"sample_service: route\(s\) without a role check: GET /leaky"):
        async with app.router.lifespan_context(app):
            pass


# -- run_service in a real subprocess ----------------------------------------

SERVICE_SCRIPT = textwrap.dedent("""
    import sys
    sys.path.insert(0, {root!r})
    from backend.apps.common import ViewerDep, create_service_app, protected_router, run_service

    def create_app(settings, registry):
        app = create_service_app("demo_service", "0.0.1", settings, registry)
        router = protected_router()

        @router.get("/whoami")
        async def whoami(role: ViewerDep):
            return {{"role": role.name}}

        app.include_router(router)
        return app

    sys.exit(run_service(create_app, "demo_service", "trading_service_port"))
""")


@pytest.fixture
def service_script(tmp_path) -> Path:
    script = tmp_path / "demo_service.py"
    script.write_text(SERVICE_SCRIPT.format(root=str(ROOT)))
    return script


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("EVOTRADERS_")}
    env.update(extra)
    return env


def run_refused(script: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(script), *args], capture_output=True, text=True, timeout=60,
                          env=env or clean_env(), cwd=script.parent)


def test_runner_refuses_a_wide_bind_without_tokens(service_script):
    result = run_refused(service_script, "--host", "0.0.0.0", "--port", str(free_port()))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "demo_service: refusing to bind 0.0.0.0 without tokens: set EVOTRADERS_ADMIN_TOKEN (and operator/viewer "
        "tokens) or EVOTRADERS_TOKENS_FILE, or bind 127.0.0.1"
    ]


def test_runner_names_the_holder_of_a_busy_port(service_script):
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        result = run_refused(service_script, "--port", str(port))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"demo_service: port {port} on 127.0.0.1 is already in use by pid {os.getpid()} (")


def test_runner_reports_a_bad_setting_in_one_line(service_script):
    result = run_refused(service_script, env=clean_env(TRADING_SERVICE_PORT="eighty"))
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert result.stderr.startswith("demo_service: invalid setting TRADING_SERVICE_PORT")


async def test_runner_serves_under_the_supervisor_and_stops_cleanly_on_sigterm(service_script, tmp_path):
    tokens = generate_registry()
    port = free_port()
    spec = ProcessSpec("demo_service", [sys.executable, str(service_script), "--port", str(port)],
                       env=clean_env(**tokens.as_env()), cwd=tmp_path, port=port,
                       health_url=f"http://127.0.0.1:{port}/health", ready_timeout=30, grace_seconds=10,
                       log_path=tmp_path / "demo.log")
    async with ProcessSupervisor() as sup:
        proc = sup.add(spec)
        await proc.start()
        assert await proc.wait_ready(60) is ProcessStatus.healthy
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", trust_env=False) as client:
            assert (await client.get("/whoami")).status_code == 401
            response = await client.get("/whoami", headers=bearer(tokens, "viewer"))
            assert response.json() == {"role": "viewer"}
        await proc.stop()
    assert proc.last_exit.reason == "stopped: exited with code 0"  # graceful, not killed
    log = (tmp_path / "demo.log").read_text()
    assert "GET /whoami" not in log  # no access-log noise by default
    assert "Uvicorn running on" in log and "Application shutdown complete" in log
