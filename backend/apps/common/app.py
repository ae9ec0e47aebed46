"""``create_service_app``: the FastAPI app every service starts from.

It brings ``GET /health`` (no auth), ``GET /openapi.json`` and ``GET /docs``
(viewer), CORS off unless origins are given, JSON ``{error, detail}`` for
every error (see :mod:`.errors`), the token registry on ``app.state.registry``
and, at startup, a refusal to serve any route that has no role check.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import AsyncIterator, Callable, Sequence
from typing import TYPE_CHECKING, Any, Literal

from fastapi import FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse
from pydantic import BaseModel

from backend.apps.common.auth import ViewerDep, check_routes_protected, presented_token
from backend.apps.common.errors import ErrorBody, install_error_handlers
from backend.config import get_settings
from backend.security.tokens import TokenRegistry, registry_from_settings

if TYPE_CHECKING:
    from backend.config import Settings

Lifespan = Callable[[FastAPI], contextlib.AbstractAsyncContextManager[Any]]

ALWAYS_PUBLIC = ("/health",)

# Documented on every protected operation, so clients (and schemathesis) know the error shape.
_ERROR_RESPONSES = {
    "400": "The values cannot be used",
    "401": "Missing or invalid token",
    "403": "The token's role is too weak",
    "404": "Not found",
    "409": "Conflicts with the current state",
    "422": "Invalid input; detail names the field",
}


class HealthBody(BaseModel):
    """``GET /health``: the service is up."""

    status: Literal["ok"] = "ok"
    service: str
    version: str
    uptime_s: float


def service_config(settings: Settings | None, registry: TokenRegistry | None) -> tuple[Settings, TokenRegistry]:
    """What a service's ``create_app`` was given, defaulted: the environment's settings, their tokens."""
    settings = settings or get_settings()
    return settings, registry if registry is not None else registry_from_settings(settings)


def create_service_app(
    name: str,
    version: str,
    settings: Settings,
    registry: TokenRegistry,
    *,
    lifespan: Lifespan | None = None,
    description: str = "",
    cors_origins: Sequence[str] = (),
    public_paths: Sequence[str] = (),
    docs: bool = True,
) -> FastAPI:
    """A FastAPI app with the shared service behaviour; add routers, then serve it.

    Args:
        name: service name ("trading_service"), shown in /health, logs and errors.
        version: service version, shown in /health and the OpenAPI document.
        settings: the :class:`backend.config.Settings`, kept on ``app.state.settings``.
        registry: accepted tokens, kept on ``app.state.registry`` (empty: open loopback server).
        lifespan: the service's own startup/shutdown context, run inside the shared one.
        cors_origins: origins allowed by CORS; none (the default) means CORS stays off.
        public_paths: extra paths allowed to have no role check (``/health`` always is).
        docs: serve Swagger UI at ``/docs`` (``/docs?token=...`` when tokens are configured).
    """
    public = (*ALWAYS_PUBLIC, *public_paths)

    @contextlib.asynccontextmanager
    async def shared_lifespan(app: FastAPI) -> AsyncIterator[Any]:
        check_routes_protected(app, name, public)
        if lifespan is None:
            yield None
            return
        async with lifespan(app) as state:
            yield state

    app = FastAPI(
        title=name,
        version=version,
        description=description,
        lifespan=shared_lifespan,
        openapi_url=None,  # served below, behind the viewer role
        docs_url=None,
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.registry = registry
    app.state.service_name = name
    app.state.service_version = version
    started = time.monotonic()
    app.state.started_monotonic = started

    @app.get("/health", response_model=HealthBody, tags=["service"])
    async def health() -> HealthBody:
        """Liveness: answers 200 while the service runs. Needs no token."""
        return HealthBody(service=name, version=version, uptime_s=round(time.monotonic() - started, 3))

    @app.get("/openapi.json", include_in_schema=False)
    async def openapi_document(_: ViewerDep) -> JSONResponse:
        return JSONResponse(app.openapi())

    if docs:
        @app.get("/docs", include_in_schema=False)
        async def swagger_ui(request: Request, _: ViewerDep) -> HTMLResponse:
            token = presented_token(request)
            url = "/openapi.json" + (f"?token={token}" if token and registry.configured else "")
            return get_swagger_ui_html(openapi_url=url, title=f"{name} API")

    if cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=list(cors_origins), allow_methods=["*"],
                           allow_headers=["Authorization", "Content-Type"])
    install_error_handlers(app, name)
    app.openapi = _openapi_with_errors(app, public)  # type: ignore[method-assign]
    return app


def _openapi_with_errors(app: FastAPI, public: Sequence[str]) -> Callable[[], dict[str, Any]]:
    """FastAPI's OpenAPI generator, with our error body documented in place of its own 422 shape."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = FastAPI.openapi(app)
        schemas = schema.setdefault("components", {}).setdefault("schemas", {})
        schemas["ErrorBody"] = ErrorBody.model_json_schema()
        error_content = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}
        for path, operations in schema.get("paths", {}).items():
            if path in public:
                continue
            for operation in operations.values():
                responses = operation.get("responses") if isinstance(operation, dict) else None
                if responses is None:
                    continue
                for code, description in _ERROR_RESPONSES.items():
                    if code not in responses or code == "422":
                        responses[code] = {"description": description, "content": error_content}
        for unused in ("HTTPValidationError", "ValidationError"):  # FastAPI's 422 shape, now replaced
            if f"#/components/schemas/{unused}" not in json.dumps(schema):
                schemas.pop(unused, None)
        app.openapi_schema = schema
        return schema

    return openapi
