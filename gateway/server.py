"""The Gateway's WebSocket server: authentication, greeting, commands, fan-out.

Connection life cycle:

1. HTTP request. ``/health`` and ``/metrics`` are answered as plain HTTP;
   other non-upgrade requests get 404. An upgrade is authenticated from a
   ``token`` query parameter or an ``Authorization: Bearer`` header (see
   :func:`backend.security.tokens.role_for_request`); a refused one gets an
   HTTP 401/403 JSON response and is never upgraded.
2. ``hello`` then ``initial_state`` are sent first; the client joins the fan-out
   in the same loop turn as its state is snapshotted, so every later event
   reaches it exactly once. ``?curves=incremental`` on the URL asks for
   incremental curves (``team_summary`` carries the day's points only); without
   it (or with ``curves=bounded``) each ``team_summary`` carries every curve,
   decimated to a bounded number of points (docs/protocol.md, "Curves");
   ``hello.curves`` says which this connection gets.
3. Frames from the client are commands (:mod:`gateway.commands`); replies go
   behind the events already queued for that client.
"""

from __future__ import annotations

import asyncio
import http
import logging
import weakref
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from backend.schema.events import CURVE_MODES, CURVES_QUERY, Error, Hello, InitialState
from backend.security.tokens import (
    Role,
    TokenRegistry,
    bearer_token,
    check_bind_allowed,
    is_loopback,
    role_for_request,
)
from gateway.commands import CommandDispatcher
from gateway.driver import RunDriver
from gateway.health import http_route, json_response
from gateway.hub import DEFAULT_QUEUE_BYTES, EventHub

log = logging.getLogger(__name__)

DEFAULT_MAX_FRAME_BYTES = 64 * 1024
# The library's own limit sits well above ours so that an oversized command is
# answered with `error` instead of closing the connection (1009).
LIBRARY_MAX_SIZE_FLOOR = 1024 * 1024


def _single_header(request: Request, name: str) -> str | None:
    values = request.headers.get_all(name)
    return values[0] if len(values) == 1 else None


def _origin_is_loopback(origin: str) -> bool:
    try:
        return is_loopback(urlsplit(origin).hostname)
    except ValueError:
        return False


class GatewayServer:
    """The WebSocket Gateway of one run.

    Args:
        driver: the run whose events are streamed and which commands act on.
        host, port: where to listen; port 0 picks a free port (see :attr:`port`).
        registry: accepted tokens; empty means an open server (loopback only).
        max_frame_bytes: largest client frame accepted (bigger ones get ``error``).
        queue_size: frames that may wait per client before it is closed with 1013.
        queue_bytes: payload bytes that may wait per client before it is closed with 1013.
        write_limit: per-connection socket buffer (bytes) above which frames queue.
        ping_interval, ping_timeout, close_timeout: WebSocket keepalive and close
            timing, in seconds (passed to ``websockets``).
        compression: ``None`` (default) or ``"deflate"``; deflate costs ~35 % CPU.
        allowed_origins: extra browser ``Origin`` values an open server accepts
            (loopback origins are always accepted).
    """

    def __init__(
        self,
        driver: RunDriver,
        host: str = "127.0.0.1",
        port: int = 8765,
        registry: TokenRegistry | None = None,
        max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES,
        queue_size: int = 1024,
        *,
        queue_bytes: int = DEFAULT_QUEUE_BYTES,
        write_limit: int = 64 * 1024,
        ping_interval: float | None = 20.0,
        ping_timeout: float | None = 20.0,
        close_timeout: float = 10.0,
        compression: str | None = None,
        allowed_origins: tuple[str, ...] = (),
    ) -> None:
        self.driver = driver
        self.host = host
        self.registry = registry if registry is not None else TokenRegistry()
        check_bind_allowed(host, self.registry)
        self.max_frame_bytes = max_frame_bytes
        self.hub = EventHub(queue_size=queue_size, write_high=write_limit, queue_bytes=queue_bytes)
        self.commands = CommandDispatcher(driver, self.hub, max_frame_bytes)
        self.allowed_origins = frozenset(allowed_origins)
        self._requested_port = port
        self._serve_options = dict(
            compression=compression,
            max_size=max(LIBRARY_MAX_SIZE_FLOOR, 4 * max_frame_bytes),
            write_limit=write_limit,
            ping_interval=ping_interval,
            ping_timeout=ping_timeout,
            close_timeout=close_timeout,
            server_header="evotraders-gateway",
        )
        self._roles: weakref.WeakKeyDictionary[ServerConnection, Role] = weakref.WeakKeyDictionary()
        self._incremental: weakref.WeakSet[ServerConnection] = weakref.WeakSet()
        self._server: Server | None = None
        self._listening = False

    # --- life cycle -----------------------------------------------------------

    async def start(self) -> None:
        """Listen; returns once the socket is bound."""
        if self._server is not None:
            raise RuntimeError("GatewayServer already started")
        self.hub.bind(asyncio.get_running_loop())
        self._server = await serve(
            self._handle, self.host, self._requested_port,
            process_request=self._process_request, **self._serve_options,
        )
        if not self._listening:  # subscribe once, however often it is restarted
            self.driver.event.connect(self.hub.publish)  # a bound method, held weakly: the hub is ours
            self._listening = True
        log.info("gateway listening on ws://%s:%d (run %s, %s)", self.host, self.port,
                 self.driver.run_id, "tokens" if self.registry.configured else "open, loopback only")

    async def stop(self) -> None:
        """Close every connection (1001 going away) and stop listening."""
        if self._server is None:
            return
        server, self._server = self._server, None
        server.close()
        await server.wait_closed()
        await self.commands.aclose()

    async def serve_forever(self) -> None:
        if self._server is None:
            await self.start()
        assert self._server is not None
        await self._server.serve_forever()

    @property
    def port(self) -> int:
        """The bound port (the real one when started with port 0)."""
        if self._server is None:
            raise RuntimeError("GatewayServer is not started")
        return self._server.sockets[0].getsockname()[1]

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"ws://{host}:{self.port}/"

    # --- handshake ------------------------------------------------------------

    def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        parts = urlsplit(request.path)
        response = http_route(request, parts.path, self.driver, self.hub)
        if response is not None:
            return response
        peer = connection.remote_address[0] if connection.remote_address else None
        refusal = self._refusal(request, parts.query, peer)
        if isinstance(refusal, Response):
            return refusal
        curves = parse_qs(parts.query).get(CURVES_QUERY, ["bounded"])
        if len(curves) != 1 or curves[0] not in CURVE_MODES:
            return json_response(http.HTTPStatus.BAD_REQUEST, Error(
                message=f"query parameter {CURVES_QUERY} must be given once, as one of "
                        f"{', '.join(CURVE_MODES)}; got {', '.join(map(repr, curves))}").to_wire())
        self._roles[connection] = refusal
        if curves[0] == "incremental":
            self._incremental.add(connection)
        return None

    def _refusal(self, request: Request, query: str, peer: str | None) -> Response | Role:
        """The role of an upgrade request, or the HTTP response refusing it."""
        token = parse_qs(query).get("token", [None])[0] or bearer_token(
            _single_header(request, "Authorization"))
        role = role_for_request(self.registry, token, peer)
        if role is None and self.registry.configured:
            message = ("invalid token" if token else
                       "missing token: pass ?token=<token> or an 'Authorization: Bearer <token>' header")
            return json_response(http.HTTPStatus.UNAUTHORIZED, Error(message=message).to_wire(),
                                 {"WWW-Authenticate": 'Bearer realm="evotraders-gateway"'})
        if role is None:
            return json_response(http.HTTPStatus.FORBIDDEN, Error(
                message="this Gateway has no tokens configured and accepts loopback clients only").to_wire())
        origin = _single_header(request, "Origin")
        if (not self.registry.configured and origin is not None and not _origin_is_loopback(origin)
                and origin not in self.allowed_origins):
            # Without tokens any web page open in a local browser could drive
            # the run through a loopback connection; only local pages may.
            return json_response(http.HTTPStatus.FORBIDDEN, Error(
                message=f"origin {origin} is not allowed; an open Gateway accepts loopback "
                        "origins only (configure tokens or allowed_origins)").to_wire())
        return role

    # --- connection -----------------------------------------------------------

    async def _handle(self, connection: ServerConnection) -> None:
        role = self._roles.pop(connection, None)
        if role is None:  # cannot happen: process_request refuses first
            await connection.close(1008, "not authenticated")
            return
        incremental = connection in self._incremental
        self._incremental.discard(connection)
        sub = self.hub.subscribe(connection, role, incremental=incremental)
        # No await between subscribing and snapshotting: events emitted before
        # are in the snapshot, events emitted after are in the stream.
        self.hub.send(sub, Hello(run_id=self.driver.run_id, server_mode=self.driver.mode,
                                 read_only=sub.read_only, role=role.name,
                                 curves="incremental" if incremental else "bounded"))
        try:
            self.hub.send(sub, InitialState(state=self.driver.snapshot_state()))
        except Exception as err:
            log.error("snapshot_state() failed", exc_info=err)
            self.hub.send(sub, Error(message=f"initial state unavailable: {type(err).__name__}; "
                                             "send get_state to retry"))
        try:
            async for message in connection:
                await self.commands.handle(sub, message)
        except ConnectionClosed:
            pass
        finally:
            self.hub.unsubscribe(sub)
