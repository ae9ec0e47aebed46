"""Role checks for service routes: ``role: ViewerDep`` / ``OperatorDep`` / ``AdminDep``.

The token comes from ``Authorization: Bearer <token>`` or, for GETs and
WebSockets only (EventSource and browser WebSocket clients cannot set
headers), from ``?token=``. The role is :func:`role_for_request`'s: the
token's role, or admin for a loopback client of an open server (one with no
token configured). Missing or unknown token -> 401 with ``WWW-Authenticate:
Bearer``; too weak a role -> 403 "requires operator role, token has viewer".

    router = protected_router()           # every route at least viewer

    @router.post("/runs/{run_id}/pause")
    async def pause(run_id: str, role: OperatorDep) -> ...

The token registry lives on ``app.state.registry`` (set by ``create_service_app``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from functools import lru_cache
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, HTTPException, WebSocketException, status
from fastapi.routing import APIRoute, APIWebSocketRoute
from starlette.requests import HTTPConnection
from starlette.routing import Mount

from backend.security.tokens import Role, TokenRegistry, bearer_token, role_for_request

__all__ = [
    "AdminDep", "OperatorDep", "Role", "ViewerDep", "protected_router", "require_role", "unprotected_routes",
]

_ROLE_ATTR = "__evotraders_min_role__"
_QUERY_TOKEN_METHODS = ("GET", "HEAD")


def presented_token(conn: HTTPConnection) -> str | None:
    """The bearer token of a request, from the header or (GET/WebSocket only) ``?token=``."""
    token = bearer_token(conn.headers.get("authorization"))
    if token:
        return token
    # Never for writes: a token in a POST URL ends up in logs and buys nothing.
    if conn.scope["type"] == "websocket" or conn.scope.get("method") in _QUERY_TOKEN_METHODS:
        return conn.query_params.get("token") or None
    return None


def _registry(conn: HTTPConnection) -> TokenRegistry:
    registry = getattr(conn.app.state, "registry", None)
    if not isinstance(registry, TokenRegistry):
        raise RuntimeError("app.state.registry is not set: build the app with create_service_app()")
    return registry


def _refuse(conn: HTTPConnection, code: int, detail: str) -> Exception:
    if conn.scope["type"] == "websocket":
        # 1008 = policy violation; the reason is the same one line an HTTP client gets.
        return WebSocketException(code=status.WS_1008_POLICY_VIOLATION, reason=detail[:120])
    headers = {"WWW-Authenticate": "Bearer"} if code == 401 else None
    return HTTPException(status_code=code, detail=detail, headers=headers)


@lru_cache(maxsize=None)
def require_role(minimum: Role) -> Callable[..., Any]:
    """A FastAPI dependency that returns the caller's :class:`Role` if it is at least ``minimum``."""

    async def dependency(conn: HTTPConnection) -> Role:
        registry = _registry(conn)
        token = presented_token(conn)
        peer = conn.client.host if conn.client else None
        role = role_for_request(registry, token, peer)
        if role is None:
            if not registry.configured:
                detail = f"no tokens are configured, so only loopback clients are served (not {peer})"
            elif token is None:
                detail = "missing bearer token (send Authorization: Bearer <token>)"
            else:
                detail = "invalid token"
            raise _refuse(conn, 401, detail)
        if role < minimum:
            raise _refuse(conn, 403, f"requires {minimum.name} role, token has {role.name}")
        return role

    dependency.__name__ = f"require_{minimum.name}"
    setattr(dependency, _ROLE_ATTR, minimum)
    return dependency


ViewerDep = Annotated[Role, Depends(require_role(Role.viewer))]
OperatorDep = Annotated[Role, Depends(require_role(Role.operator))]
AdminDep = Annotated[Role, Depends(require_role(Role.admin))]


def protected_router(minimum: Role = Role.viewer, **kwargs: Any) -> APIRouter:
    """An ``APIRouter`` whose every route needs at least ``minimum`` (routes may ask for more)."""
    dependencies = [Depends(require_role(minimum)), *kwargs.pop("dependencies", [])]
    return APIRouter(dependencies=dependencies, **kwargs)


def _guarded(dependant: Any) -> bool:
    for dep in getattr(dependant, "dependencies", ()):
        if getattr(dep.call, _ROLE_ATTR, None) is not None or _guarded(dep):
            return True
    return False


def _route_views(app: FastAPI) -> Iterable[Any]:
    """Every route as served: FastAPI >= 0.120 keeps included routers nested and
    exposes their effective routes (with the router's dependencies) as contexts."""
    try:
        from fastapi.routing import iter_route_contexts
    except ImportError:  # older FastAPI: include_router() copies routes into app.routes
        return list(app.routes)
    return list(iter_route_contexts(app.routes))


def unprotected_routes(app: FastAPI, public_paths: Iterable[str] = ()) -> list[str]:
    """Routes that need no role ("GET /x", "WS /y", "MOUNT /static"), other than ``public_paths``."""
    public = set(public_paths)
    found: list[str] = []
    for view in _route_views(app):
        route = getattr(view, "original_route", view)
        path = getattr(view, "path", None) or getattr(route, "path", "")
        if path in public:
            continue
        guarded = _guarded(getattr(view, "dependant", None)) or any(
            getattr(dep.dependency, _ROLE_ATTR, None) is not None for dep in getattr(view, "dependencies", None) or ()
        )
        if isinstance(route, APIRoute):
            if not guarded:
                found.extend(f"{method} {path}" for method in sorted(getattr(view, "methods", None) or ()))
        elif isinstance(route, APIWebSocketRoute):
            if not guarded:
                found.append(f"WS {path}")
        elif isinstance(route, Mount):
            found.append(f"MOUNT {path}")
        else:  # a bare Starlette route cannot use our dependencies
            found.append(f"ROUTE {path}")
    return found


def check_routes_protected(app: FastAPI, service: str, public_paths: Sequence[str]) -> None:
    """Refuse to serve a route that needs no role (the service would leak it to anyone)."""
    missing = unprotected_routes(app, public_paths)
    if missing:
        raise RuntimeError(f"{service}: route(s) without a role check: {', '.join(missing)} "
                           "(add a ViewerDep/OperatorDep/AdminDep parameter, or list the path in public_paths)")
