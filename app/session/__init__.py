"""Session: which runtime the app is looking at, as whom, and how to reach it (Qt-free).

One :class:`Session` lives as long as the main window. Panels get it in
``attach(session)`` (see :mod:`app.panel_api`) and use:

- ``session.profile`` (:class:`app.models.profile.Profile`), ``session.role``
  (``"viewer"``/``"operator"``/``"admin"`` or None), ``session.read_only_reason``
  (None or one line) and ``session.denied(needed_role)`` (None or why not);
- ``session.client(service)`` -> :class:`backend.clients.http.ServiceClient` for
  ``"agent"``, ``"trading"``, ``"news"``, ``"runtime"``. Every request through it
  updates the service's connection state, so a failure shows at once;
- ``session.gateway`` -> the :class:`app.net.gateway_client.GatewayClient` of the
  watched run (or None) and ``session.run_id``;
- ``session.state(service)`` -> :class:`ServiceState` (also ``"gateway"``);
- signal ``session.changed(SessionEvent)`` on ``profile`` (switched runtime:
  reload), ``role``, ``connection`` (a service went up/down), ``run`` (another run
  is watched), ``stack`` (local stack up/down): ``session.changed.connect(cb)``;
- signal ``session.gateway_event(event)`` for every Gateway event of whichever run
  is watched, across reconnects and run switches; ``session.frame_refused(refusal)``
  for every frame that is no valid event;
- ``await session.watch_run(run_id)``: follow a run's Gateway (asks runtime_service
  for its URL). A panel that starts a run calls this; on the Local profile, and on
  a remote one with no hand-set Gateway URL, the session also switches by itself
  to a run whose Gateway comes up (``session.follow_new_runs``, default True), at
  the URL runtime_service returns.

The pieces, each in its own module: roles (:mod:`app.session.roles`), clients and
connection states (:mod:`app.session.connections`), health probes
(:mod:`app.session.health`), the watched run's Gateway
(:mod:`app.session.run_following`) and the local stack (:mod:`app.session.local_stack`,
over :class:`backend.stack.launcher.StackLauncher`): a stack is brought up
with :meth:`Session.start_local_stack`, stopped with :meth:`Session.stop_local_stack`
(also on :meth:`Session.close`), and another instance's is joined with
:meth:`Session.attach_running_stack`.
Callbacks run on the event-loop thread; they must be quick (no repaint:
views refresh on their own timers, see ``app/qt/bridge.py``). ``gateway_event``
comes thousands of times a second and is emitted with psygnal's ``emit_fast``
(no lock): connect and disconnect its listeners outside its callbacks.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from psygnal import Signal

from app.models.profile import Profile, local_profile, local_profile_from_settings
from app.net.gateway_client import GatewayClient
from backend.clients.http import ServiceClient
from app.session import roles
from app.session.connections import HTTP_SERVICES, ConnectionStates, ServiceState, Status, build_clients
from app.session.events import EventKind, SessionEvent, emit_logged
from app.session.health import HealthMonitor
from app.session.local_stack import LocalStackLink
from app.session.run_following import RunFollower

if TYPE_CHECKING:
    from backend.stack.launcher import LaunchResult, StackEndpoint

log = logging.getLogger(__name__)

ROLE_ORDER = roles.ROLE_ORDER


class Session:
    """The runtime the app looks at; see the module docstring for the panel-facing API.

    Args:
        profile: the first profile (default: ``Local`` at the ports of ``backend.config.Settings``).
        health_interval: seconds between ``GET /health`` probes of each service.
        gateway_options: keyword arguments for every :class:`GatewayClient`.
    """

    changed = Signal(object)  # SessionEvent
    gateway_event = Signal(object)  # an event of backend.schema.events
    frame_refused = Signal(object)  # a FrameRefused: a Gateway frame that is no valid event

    def __init__(self, profile: Profile | None = None, *, health_interval: float = 5.0,
                 gateway_options: dict[str, Any] | None = None) -> None:
        self.profile = profile or local_profile_from_settings()
        self.connections = ConnectionStates()
        self.connections.changed.connect(self._on_state)
        self.runs = RunFollower(self.connections, gateway_options)
        self.runs.run_changed.connect(self._on_run_changed)
        self.runs.role_changed.connect(self._on_role_changed)
        self.runs.event.connect(self._on_gateway_event)
        self.runs.frame_refused.connect(self._on_frame_refused)
        self.health = HealthMonitor(self.client, health_interval, self._after_health_round)
        self.local = LocalStackLink()
        self._clients: dict[str, ServiceClient] = build_clients(self.profile, self.connections)
        self._closed = False
        # The user stopped the local stack: its services are down on purpose, not lost.
        self.stopped_by_user = False

    # -- identity -----------------------------------------------------------------

    @property
    def role(self) -> str | None:
        """The role the servers grant: Gateway hello first, then the profile's, admin for the own stack."""
        granted = self.gateway.role if self.gateway is not None else None
        return roles.effective_role(self.profile, granted or self.runs.learned_role)

    @property
    def read_only_reason(self) -> str | None:
        """None if the user may change things, else the one-line reason controls show."""
        return roles.read_only_reason(self.profile, self.role)

    def denied(self, needed: str) -> str | None:
        """None if the role allows ``needed`` (viewer/operator/admin), else why not."""
        return roles.denied(self.profile, self.role, needed)

    @property
    def title(self) -> str:
        """"Local (admin) - run demo" style: what the title and status bars show."""
        return roles.title(self.profile, self.role, self.run_id)

    # -- what panels read -----------------------------------------------------------

    @property
    def gateway(self) -> GatewayClient | None:
        return self.runs.gateway

    @property
    def run_id(self) -> str | None:
        return self.runs.run_id

    @property
    def follow_new_runs(self) -> bool:
        return self.runs.follow_new_runs

    @follow_new_runs.setter
    def follow_new_runs(self, value: bool) -> None:
        self.runs.follow_new_runs = value

    @property
    def health_interval(self) -> float:
        return self.health.interval

    @property
    def stack(self) -> Any:
        """The ``backend.stack.local_stack.LocalStack`` this app started (or None)."""
        return self.local.stack

    @property
    def attached_stack(self) -> StackEndpoint | None:
        """Another instance's stack this session attached to (or None); it is never stopped from here."""
        return self.local.attached

    def state(self, service: str) -> ServiceState:
        return self.connections.get(service)

    def states(self) -> dict[str, ServiceState]:
        return self.connections.all()

    def client(self, service: str) -> ServiceClient:
        try:
            return self._clients[service]
        except KeyError:
            raise KeyError(f"no service named {service!r} (known: {', '.join(HTTP_SERVICES)})") from None

    # -- switching ----------------------------------------------------------------

    async def open(self, profile: Profile) -> None:
        """Look at another runtime: new clients, new Gateway, fresh states; emits ``profile``."""
        await self._drop_connections()
        self.stopped_by_user = False
        self.profile = profile
        self.runs.forget_role()
        self.connections.reset()
        self._clients = build_clients(profile, self.connections)
        self._emit("profile")
        self._emit("role")
        if profile.gateway_url and not profile.is_local:
            self.watch_gateway(profile.gateway_url)
        self.start_monitoring()

    def start_monitoring(self) -> None:
        """Probe every service's /health periodically (idempotent)."""
        self.health.start()

    async def watch_run(self, run_id: str, gateway_url: str | None = None) -> None:
        """Follow ``run_id``'s Gateway (URL from runtime_service unless given)."""
        await self.runs.watch_run(self.client("runtime"), self.profile.token, run_id, gateway_url)

    def watch_gateway(self, url: str, run_id: str | None = None) -> GatewayClient:
        """Connect to a Gateway URL (replacing the current one); emits ``run``."""
        return self.runs.watch_gateway(url, self.profile.token, run_id)

    # -- local stack --------------------------------------------------------------

    async def start_local_stack(self, stack: Any, progress: Callable[[Any], None] | None = None) -> LaunchResult:
        """Launch ``stack`` (a ``StackLauncher``, or a ``LocalStack`` to launch), then look at it as ``Local``.

        Returns the launcher's result: when it is not ``started`` (another instance's
        stack, ports taken) nothing of ours runs and the profile is unchanged.
        """
        from backend.stack.launcher import StackLauncher

        launcher = stack if isinstance(stack, StackLauncher) else StackLauncher(stack)
        result = await self.local.start(launcher, progress, lambda: self._emit("stack"))
        if result.started:
            await self.open(local_profile(result.endpoint.urls, result.endpoint.admin_token))
        return result

    async def attach_running_stack(self, endpoint: StackEndpoint) -> None:
        """Look at a stack another instance owns (see ``StackLauncher.running_elsewhere``); we never stop it."""
        self.local.attach(endpoint)
        await self.open(local_profile(endpoint.urls, endpoint.admin_token))
        self._emit("stack")

    async def open_local(self) -> None:
        """Look at the ``Local`` profile: our stack, else the attached one, else Settings' ports."""
        endpoint = self.local.endpoint
        if endpoint is self.local.attached and endpoint is not None:
            await self.attach_running_stack(endpoint)
        elif endpoint is not None:
            await self.open(local_profile(endpoint.urls, endpoint.admin_token))
        else:
            await self.open(local_profile_from_settings())

    async def stop_local_stack(self) -> None:
        """Stop every process the app started (services and, through them, Gateways)."""
        self.runs.close_soon()
        owned = self.local.launcher is not None
        await self.local.stop()
        self.stopped_by_user = owned and not self._closed
        self._emit("stack")

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

    async def _drop_connections(self) -> None:
        await self.health.stop()
        await self.runs.close()
        for client in self._clients.values():
            await client.aclose()

    async def _after_health_round(self) -> None:
        # A remote profile with no hand-set Gateway URL follows the run runtime_service says is live,
        # at the URL it returns (the Gateway's published address), exactly as the Local profile does.
        following = self.profile.is_local or not self.profile.gateway_url
        if following and not self.state("runtime").down:  # unknown (a fresh profile) or up
            await self.runs.follow_active_run(self.client("runtime"), self.profile.token)

    def _emit(self, kind: EventKind, service: str | None = None, state: ServiceState | None = None) -> None:
        emit_logged(self.changed, SessionEvent(kind, service, state))

    def _on_state(self, state: ServiceState) -> None:
        self._emit("connection", state.service, state)

    def _on_run_changed(self) -> None:
        self._emit("run")

    def _on_role_changed(self) -> None:
        self._emit("role")

    def _on_gateway_event(self, event: Any) -> None:
        emit_logged(self.gateway_event, event, fast=True)

    def _on_frame_refused(self, refusal: Any) -> None:
        emit_logged(self.frame_refused, refusal)


__all__ = ["HTTP_SERVICES", "ROLE_ORDER", "EventKind", "ServiceState", "Session", "SessionEvent", "Status",
           "local_profile"]
