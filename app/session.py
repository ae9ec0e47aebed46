"""Session: which runtime the app is looking at, as whom, and how to reach it (Qt-free).

One :class:`Session` lives as long as the main window. Panels get it in
``attach(session)`` (see :mod:`app.panel_api`) and use:

- ``session.profile`` (:class:`app.models.profile.Profile`), ``session.role``
  (``"viewer"``/``"operator"``/``"admin"`` or None), ``session.read_only_reason``
  (None or one line) and ``session.denied(needed_role)`` (None or why not);
- ``session.client(service)`` -> :class:`app.net.http.ServiceClient` for
  ``"agent"``, ``"trading"``, ``"news"``, ``"runtime"``. Every request through it
  updates the service's connection state, so a failure shows at once;
- ``session.gateway`` -> the :class:`app.net.gateway_client.GatewayClient` of the
  watched run (or None) and ``session.run_id``;
- ``session.state(service)`` -> :class:`ServiceState` (also ``"gateway"``);
- ``session.add_listener(cb)``: ``cb(SessionEvent)`` on ``profile`` (switched
  runtime: reload), ``role``, ``connection`` (a service went up/down), ``run``
  (another run is watched), ``stack`` (local stack up/down);
- ``session.add_event_listener(cb)``: ``cb(frame_dict)`` for every Gateway event
  of whichever run is watched, across reconnects and run switches;
- ``await session.watch_run(run_id)``: follow a run's Gateway (asks runtime_service
  for its URL). A panel that starts a run calls this; on the Local profile the
  session also switches by itself to a run whose Gateway comes up
  (``session.follow_new_runs``, default True).

The local stack (a ``backend.runtime.stack.LocalStack``) is brought up with
:meth:`Session.start_local_stack` and stopped with :meth:`Session.stop_local_stack`
(also on :meth:`Session.close`); a stack another app instance runs is joined
with :meth:`Session.attach_running_stack`.
Callbacks run on the event-loop thread; they must be quick (no repaint:
views refresh on their own timers, see ``app/qt/bridge.py``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, Literal

from app.models.profile import LOCAL, Profile
from app.net.gateway_client import ConnectionState, GatewayClient
from app.net.http import ServiceClient, ServiceError

log = logging.getLogger(__name__)

HTTP_SERVICES: tuple[str, ...] = ("agent", "trading", "news", "runtime")
ROLE_ORDER = {"viewer": 1, "operator": 2, "admin": 3}
Status = Literal["unknown", "up", "down", "off"]
EventKind = Literal["profile", "role", "connection", "run", "stack"]


@dataclass(frozen=True)
class ServiceState:
    """Reachability of one service (or the Gateway).

    Args:
        service: agent, trading, news, runtime or gateway.
        status: unknown (not checked yet), up, down, off (nothing to reach, e.g. no run watched).
        detail: one line on why ("cannot reach http://127.0.0.1:8001 (ConnectError)").
        since: ``time.monotonic()`` of the last change.
    """

    service: str
    status: Status = "unknown"
    detail: str = ""
    since: float = 0.0

    @property
    def down(self) -> bool:
        return self.status == "down"


@dataclass(frozen=True)
class SessionEvent:
    """What session listeners are told; ``service``/``state`` only for ``connection``."""

    kind: EventKind
    service: str | None = None
    state: ServiceState | None = None


class _TrackedClient(ServiceClient):
    """A ServiceClient whose every outcome updates the session's connection state."""

    def __init__(self, session: "Session", *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._session = session

    async def request(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            result = await super().request(method, path, **kwargs)
        except ServiceError as err:
            if err.unreachable:
                self._session._set_state(self.service, "down", err.detail)
            else:  # it answered: it is up, whatever it thought of the request
                self._session._set_state(self.service, "up")
            raise
        self._session._set_state(self.service, "up")
        return result


class Session:
    """The runtime the app looks at; see the module docstring for the panel-facing API.

    Args:
        profile: the first profile (default: ``Local`` on the default ports).
        health_interval: seconds between ``GET /health`` probes of each service.
        gateway_options: keyword arguments for every :class:`GatewayClient`.
    """

    def __init__(self, profile: Profile | None = None, *, health_interval: float = 5.0,
                 gateway_options: dict[str, Any] | None = None) -> None:
        self.profile = profile or Profile(LOCAL)
        self.health_interval = health_interval
        self.gateway_options = dict(gateway_options or {})
        self.gateway: GatewayClient | None = None
        self.run_id: str | None = None
        self.stack: Any = None  # backend.runtime.stack.LocalStack the app started (or None)
        self.attached_stack: dict[str, Any] | None = None  # lock of another app's stack we attached to
        self._clients: dict[str, ServiceClient] = {}
        self._states: dict[str, ServiceState] = {}
        self._listeners: list[Callable[[SessionEvent], None]] = []
        self._event_listeners: list[Callable[[dict[str, Any]], None]] = []
        self._gateway_unsubs: list[Callable[[], None]] = []
        self._health_task: asyncio.Task[None] | None = None
        self._watch_since = 0.0
        # Local profile: switch to a run as soon as its Gateway comes up (a panel that pins
        # a run sets this False).
        self.follow_new_runs = True
        self._closed = False
        self._build_clients()

    # -- identity -----------------------------------------------------------------

    @property
    def role(self) -> str | None:
        """The role the servers grant: Gateway hello first, then the profile's, admin for the own stack."""
        if self.gateway is not None and self.gateway.role:
            return self.gateway.role
        if self.profile.role:
            return self.profile.role
        if self.profile.is_local:
            return "admin"  # the app owns (or attached to) the stack and holds its admin token
        return None

    @property
    def read_only_reason(self) -> str | None:
        """None if the user may change things, else the one-line reason controls show."""
        role = self.role
        if role is None:
            return f"read-only: role on '{self.profile.name}' not confirmed yet"
        if role == "viewer":
            return f"read-only: viewer token on '{self.profile.name}'"
        return None

    def denied(self, needed: str) -> str | None:
        """None if the role allows ``needed`` (viewer/operator/admin), else why not."""
        role = self.role
        if role is not None and ROLE_ORDER.get(role, 0) >= ROLE_ORDER[needed]:
            return None
        return f"needs the {needed} role (you are {role or 'unconfirmed'} on '{self.profile.name}')"

    @property
    def title(self) -> str:
        """"Local (admin) - run demo" style: what the title and status bars show."""
        where = self.profile.name
        run = f" - run {self.run_id}" if self.run_id else ""
        return f"{where} ({self.role or 'role unknown'}){run}"

    # -- observers ----------------------------------------------------------------

    def add_listener(self, callback: Callable[[SessionEvent], None]) -> Callable[[], None]:
        self._listeners.append(callback)
        return lambda: self._listeners.remove(callback) if callback in self._listeners else None

    def add_event_listener(self, callback: Callable[[dict[str, Any]], None]) -> Callable[[], None]:
        self._event_listeners.append(callback)
        return lambda: self._event_listeners.remove(callback) if callback in self._event_listeners else None

    def state(self, service: str) -> ServiceState:
        return self._states.get(service) or ServiceState(service)

    def states(self) -> dict[str, ServiceState]:
        return {name: self.state(name) for name in (*HTTP_SERVICES, "gateway")}

    def client(self, service: str) -> ServiceClient:
        try:
            return self._clients[service]
        except KeyError:
            raise KeyError(f"no service named {service!r} (known: {', '.join(HTTP_SERVICES)})") from None

    # -- switching ----------------------------------------------------------------

    async def open(self, profile: Profile) -> None:
        """Look at another runtime: new clients, new Gateway, fresh states; emits ``profile``."""
        await self._drop_connections()
        self.profile = profile
        self._build_clients()
        self._emit(SessionEvent("profile"))
        self._emit(SessionEvent("role"))
        if profile.gateway_url and not profile.is_local:
            self.watch_gateway(profile.gateway_url)
        self.start_monitoring()

    def start_monitoring(self) -> None:
        """Probe every service's /health periodically (idempotent)."""
        if self._health_task is None or self._health_task.done():
            self._health_task = asyncio.get_running_loop().create_task(self._monitor(), name="health monitor")

    async def watch_run(self, run_id: str, gateway_url: str | None = None) -> None:
        """Follow ``run_id``'s Gateway (URL from runtime_service unless given)."""
        if gateway_url is None:
            info = await self.client("runtime").get(f"/runs/{run_id}/gateway")
            gateway_url = (info or {}).get("url")
            if not gateway_url:
                raise ServiceError("runtime", 409, "not_running", f"run {run_id!r} has no running Gateway")
        self.watch_gateway(gateway_url, run_id)

    def watch_gateway(self, url: str, run_id: str | None = None) -> GatewayClient:
        """Connect to a Gateway URL (replacing the current one); emits ``run``."""
        self._close_gateway_soon()
        client = GatewayClient(url, self.profile.token, **self.gateway_options)
        self.gateway = client
        self.run_id = run_id
        self._watch_since = time.monotonic()
        self._gateway_unsubs = [client.add_listener(self._on_gateway_event),
                                client.add_state_listener(self._on_gateway_state)]
        client.start()
        self._emit(SessionEvent("run"))
        return client

    # -- local stack --------------------------------------------------------------

    async def start_local_stack(self, stack: Any, progress: Callable[[Any], None] | None = None) -> dict[str, str]:
        """Bring ``stack`` (a LocalStack) up, then look at it as the ``Local`` profile."""
        self.stack = stack
        self._emit(SessionEvent("stack"))
        try:
            statuses = await stack.up(progress=progress)
        finally:
            self._emit(SessionEvent("stack"))
        from backend.security.tokens import Role

        token = stack.tokens.tokens.get(Role.admin) if stack.tokens.configured else None
        await self.open(local_profile(stack.urls, token))
        return statuses

    async def attach_running_stack(self, lock: dict[str, Any]) -> None:
        """Look at a stack another instance owns (its ``stack.json`` lock); we never stop it."""
        token = None
        if lock.get("tokens_file"):
            from pathlib import Path

            from backend.security.tokens import Role, read_tokens_file

            token = read_tokens_file(Path(lock["tokens_file"])).tokens.get(Role.admin)
        self.attached_stack = lock
        await self.open(local_profile(lock["urls"], token))
        self._emit(SessionEvent("stack"))

    async def stop_local_stack(self) -> None:
        """Stop every process the app started (services and, through them, Gateways)."""
        stack, self.stack = self.stack, None
        self._close_gateway_soon()
        if stack is not None:
            await stack.down()
        self._emit(SessionEvent("stack"))

    # -- teardown -----------------------------------------------------------------

    async def close(self, timeout: float = 5.0) -> None:
        """Stop monitoring, disconnect, and stop the owned stack within ``timeout`` seconds."""
        if self._closed:
            return
        self._closed = True
        await self._drop_connections()
        if self.stack is not None:
            try:
                await asyncio.wait_for(self.stop_local_stack(), timeout)
            except TimeoutError:
                log.error("local stack did not stop within %ss", timeout)

    # -- internals ----------------------------------------------------------------

    def _build_clients(self) -> None:
        import httpx

        p = self.profile
        urls = {"agent": p.agent_url, "trading": p.trading_url, "news": p.news_url, "runtime": p.runtime_url}
        # One transport for the four clients: one connection pool, and one TLS context (~80 ms to
        # build) instead of four -- none at all for plain http:// (the local stack).
        tls = any(url.startswith("https:") for url in urls.values())
        transport = httpx.AsyncHTTPTransport() if tls else httpx.AsyncHTTPTransport(verify=False)
        self._clients = {name: _TrackedClient(self, name, url, p.token, transport=transport)
                         for name, url in urls.items()}
        self._states = {name: ServiceState(name, since=time.monotonic()) for name in HTTP_SERVICES}
        self._states["gateway"] = ServiceState("gateway", "off", "no run watched", time.monotonic())

    async def _drop_connections(self) -> None:
        if self._health_task is not None:
            self._health_task.cancel()
            await asyncio.gather(self._health_task, return_exceptions=True)
            self._health_task = None
        gateway = self._detach_gateway()
        if gateway is not None:
            await gateway.close()
        for client in self._clients.values():
            await client.aclose()

    def _detach_gateway(self) -> GatewayClient | None:
        for unsub in self._gateway_unsubs:
            unsub()
        self._gateway_unsubs = []
        gateway, self.gateway, self.run_id = self.gateway, None, None
        if gateway is not None:
            self._set_state("gateway", "off", "no run watched")
        return gateway

    def _close_gateway_soon(self) -> None:
        gateway = self._detach_gateway()
        if gateway is not None:
            asyncio.get_running_loop().create_task(gateway.close())

    def _on_gateway_event(self, frame: dict[str, Any]) -> None:
        if frame.get("type") == "hello":
            if self.run_id is None and frame.get("run_id"):
                self.run_id = str(frame["run_id"])
                self._emit(SessionEvent("run"))
            self._emit(SessionEvent("role"))
        for callback in list(self._event_listeners):
            try:
                callback(frame)
            except Exception:  # one panel's bug must not starve the others
                log.exception("event listener %r failed on %s", callback, frame.get("type"))

    def _on_gateway_state(self, state: ConnectionState) -> None:
        if state.status == "connected":
            self._set_state("gateway", "up")
        elif state.status in ("reconnecting", "closed") or state.detail:
            retry = f" - retrying in {state.retry_in:.1f}s" if state.retry_in else ""
            self._set_state("gateway", "down", f"{state.detail or state.status}{retry}")

    def _set_state(self, service: str, status: Status, detail: str = "") -> None:
        old = self._states.get(service)
        if old is not None and old.status == status and old.detail == detail:
            return
        new = ServiceState(service, status, detail, time.monotonic())
        if old is not None and old.status == status:
            new = replace(new, since=old.since)
        self._states[service] = new
        self._emit(SessionEvent("connection", service, new))

    def _emit(self, event: SessionEvent) -> None:
        for callback in list(self._listeners):
            try:
                callback(event)
            except Exception:
                log.exception("session listener %r failed on %s", callback, event.kind)

    async def _monitor(self) -> None:
        while True:
            await asyncio.gather(*(self._probe(name) for name in HTTP_SERVICES))
            if self.follow_new_runs and self.profile.is_local and self.state("runtime").status == "up":
                await self._follow_active_run()
            await asyncio.sleep(self.health_interval)

    async def _probe(self, service: str) -> None:
        try:
            await self.client(service).get("/health")
        except ServiceError:
            pass  # the tracked client recorded it

    async def _follow_active_run(self) -> None:
        """Local profile: follow the newest run whose Gateway is up.

        Switches when nothing is watched, when a run started after we began
        watching ours (someone pressed Start), or when ours is gone.
        """
        try:
            runs = await self.client("runtime").get("/runs")
        except ServiceError:
            return
        live = [r for r in runs or [] if ((r.get("gateway") or {}).get("url")
                                          and (r.get("gateway") or {}).get("status") == "healthy")]
        if not live:
            return
        newest = min(live, key=lambda r: float(r["gateway"].get("uptime_s") or 0.0))
        if newest["run_id"] == self.run_id:
            return
        watching_for = time.monotonic() - self._watch_since
        ours_alive = any(r["run_id"] == self.run_id for r in live)
        started_since = float(newest["gateway"].get("uptime_s") or 0.0) < watching_for
        if self.gateway is None or not ours_alive or started_since:
            self.watch_gateway(newest["gateway"]["url"], newest["run_id"])


def local_profile(urls: dict[str, str], token: str | None) -> Profile:
    """The ``Local`` profile of a stack from its service URLs (``{agent, trading, news, runtime}``)."""
    return Profile(LOCAL, agent_url=urls["agent"], trading_url=urls["trading"], news_url=urls["news"],
                   runtime_url=urls["runtime"], gateway_url="", token=token, role="admin")
