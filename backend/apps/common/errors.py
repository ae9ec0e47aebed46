"""Every error a service answers is JSON ``{"error": <code>, "detail": <one line>}``.

- request validation -> 422 ``validation_error``, ``detail`` naming the field(s)
  (plus ``fields``: one ``{field, location, message}`` per problem, for forms);
- ``HTTPException`` -> its status, ``error`` from the status ("not_found", "unauthorized");
- the domain errors of :mod:`backend.errors` -> 404 / 409 / 400 / 422 / 503 / 504;
- anything else -> 500 ``internal``, logged with a reference quoted in ``detail``.
"""

from __future__ import annotations

import errno
import http
import logging
import secrets
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from backend.errors import (
    BadRequestError, ConflictError, DomainError, ForbiddenPathError, InvalidInputError, NotFoundError,
    UnavailableError, UpstreamTimeoutError,
)

__all__ = [
    "BadRequestError", "ConflictError", "DomainError", "ErrorBody", "ForbiddenPathError", "NotFoundError",
    "describe_validation_errors", "error_response", "install_error_handlers",
]

log = logging.getLogger(__name__)

DOMAIN_STATUS: dict[type[DomainError], int] = {
    NotFoundError: 404,
    ConflictError: 409,
    BadRequestError: 400,  # ForbiddenPathError is a BadRequestError
    InvalidInputError: 422,
    UnavailableError: 503,
    UpstreamTimeoutError: 504,
}


class ErrorBody(BaseModel):
    """The JSON body of every error answer."""

    model_config = ConfigDict(extra="allow")

    error: str
    detail: Any


def error_code(status: int) -> str:
    """"not_found" for 404, "unauthorized" for 401, ... (snake_case of the reason phrase)."""
    if status >= 500:
        return "internal"
    try:
        phrase = http.HTTPStatus(status).phrase
    except ValueError:
        return "error"
    return phrase.lower().replace(" ", "_").replace("-", "_").replace("'", "")


def error_response(status: int, error: str, detail: Any, headers: dict[str, str] | None = None,
                   **extra: Any) -> JSONResponse:
    return JSONResponse({"error": error, "detail": detail, **extra}, status_code=status, headers=headers)


def describe_validation_errors(errors: Sequence[dict]) -> tuple[str, list[dict[str, str]]]:
    """One line naming each bad field ("quantity: Input should be greater than 0"), and the list."""
    fields: list[dict[str, str]] = []
    for err in errors:
        loc = [str(part) for part in err.get("loc", ())]
        where, path = (loc[0], loc[1:]) if loc else ("request", [])
        message = str(err.get("msg", "invalid value"))
        if err.get("type") == "json_invalid":
            reason = (err.get("ctx") or {}).get("error")
            fields.append({"field": "body", "location": "body",
                           "message": f"invalid JSON ({reason})" if reason else "invalid JSON"})
            continue
        if where == "body":
            name = ".".join(path) or "body"
        else:
            name = f"{where} parameter {'.'.join(path)}" if path else where
        fields.append({"field": ".".join(path) or where, "location": where, "message": f"{name}: {message}"})
    shown = [f["message"] for f in fields[:5]]
    if len(fields) > 5:
        shown.append(f"and {len(fields) - 5} more")
    return "; ".join(shown) or "invalid request", fields


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    detail, fields = describe_validation_errors(exc.errors())
    return error_response(422, "validation_error", detail, fields=fields)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    headers = dict(exc.headers) if exc.headers else None
    return error_response(exc.status_code, error_code(exc.status_code), exc.detail, headers)


async def _domain_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DomainError)
    status = next((code for cls, code in DOMAIN_STATUS.items() if isinstance(exc, cls)), 400)
    return error_response(status, exc.code, str(exc))


class InternalErrorMiddleware:
    """Turns an unhandled exception into 500 ``{"error": "internal"}`` and logs it once.

    A plain ASGI middleware (not ``BaseHTTPMiddleware``) so streaming answers
    such as server-sent events pass through untouched. The client gets a
    reference to quote, not the exception text.
    """

    def __init__(self, app: ASGIApp, service: str) -> None:
        self.app = app
        self.service = service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as exc:
            if not started and isinstance(exc, OSError) and exc.errno == errno.ENAMETOOLONG:
                # A backstop: names taken from a request are checked before they reach
                # the file system, but a route that forgot must still not answer 500.
                response = error_response(400, "bad_request", "a name in the request is too long for the file system")
                await response(scope, receive, send)
                return
            ref = secrets.token_hex(4)
            log.error("%s: unhandled %s in %s %s (ref %s)", self.service, type(exc).__name__,
                      scope.get("method"), scope.get("path"), ref, exc_info=exc)
            if started:  # too late for a JSON answer: let the server drop the connection
                raise
            response = error_response(500, "internal", f"internal error (ref {ref}); see the {self.service} log")
            await response(scope, receive, send)


def install_error_handlers(app: FastAPI, service: str) -> None:
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(DomainError, _domain_error)
    app.add_middleware(InternalErrorMiddleware, service=service)
