"""Plain HTTP on the Gateway's port: ``/health``, ``/metrics`` and JSON errors.

These requests are answered from the WebSocket server's ``process_request``
hook, before any upgrade, so the Gateway needs no second port.

- ``GET /health`` -> 200 ``{status, run_id, mode, clients, current_date, stage, ...}``
  (503 with ``status: "error"`` if the driver cannot report).
- ``GET /metrics`` -> 200 ``{hub: totals, clients: [per-client counts]}``.
- any other plain HTTP request -> 404 JSON.
"""

from __future__ import annotations

import email.utils
import http
import json
import logging
from typing import Any

from websockets.datastructures import Headers
from websockets.http11 import Request, Response

from backend.schema.events import PROTOCOL_VERSION
from gateway.driver import RunDriver
from gateway.hub import EventHub

log = logging.getLogger(__name__)


def json_response(status: http.HTTPStatus, payload: dict[str, Any],
                  extra_headers: dict[str, str] | None = None) -> Response:
    """A complete HTTP response with a JSON body (the connection then closes)."""
    body = json.dumps(payload).encode()
    headers = Headers([
        ("Date", email.utils.formatdate(usegmt=True)),
        ("Connection", "close"),
        ("Content-Length", str(len(body))),
        ("Content-Type", "application/json"),
        ("Cache-Control", "no-store"),
    ])
    for name, value in (extra_headers or {}).items():
        headers[name] = value
    return Response(status.value, status.phrase, headers, body)


def health_payload(driver: RunDriver, hub: EventHub) -> tuple[http.HTTPStatus, dict[str, Any]]:
    """The body of ``GET /health``: the driver's health plus transport figures."""
    base = {"run_id": driver.run_id, "mode": driver.mode, "protocol_version": PROTOCOL_VERSION}
    try:
        reported = dict(driver.health())
    except Exception as err:
        log.error("driver.health() failed", exc_info=err)
        return http.HTTPStatus.SERVICE_UNAVAILABLE, {
            **base, "status": "error", "message": f"run health unavailable: {type(err).__name__}",
            "clients": hub.client_count,
        }
    payload = {"status": "ok", "current_date": None, "stage": None, **base, **reported}
    payload["clients"] = hub.client_count
    payload["hub"] = hub.totals()
    return http.HTTPStatus.OK, payload


def is_websocket_upgrade(request: Request) -> bool:
    return any("websocket" in value.lower() for value in request.headers.get_all("Upgrade"))


def http_route(request: Request, path: str, driver: RunDriver, hub: EventHub) -> Response | None:
    """Answer a plain HTTP request; None lets the WebSocket handshake go on."""
    if path == "/health":
        status, payload = health_payload(driver, hub)
        return json_response(status, payload)
    if path == "/metrics":
        return json_response(http.HTTPStatus.OK, {"hub": hub.totals(), "clients": hub.client_stats()})
    if not is_websocket_upgrade(request):
        return json_response(http.HTTPStatus.NOT_FOUND, {
            "error": f"not found: {path}; HTTP paths are /health and /metrics, "
                     "WebSocket clients upgrade on any other path",
        })
    return None
