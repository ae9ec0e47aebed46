"""RunFollower: the Gateway of the watched run, and which run to watch (Qt-free).

It connects to a run's Gateway (replacing the previous one), forwards every
event and refused frame of whichever Gateway is current, keeps the
``gateway`` connection state, and on the Local profile switches by itself to
the newest run whose Gateway comes up (``follow_new_runs``).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from psygnal import Signal

from app.net.gateway_client import ConnectionState, GatewayClient
from backend.clients.http import ServiceClient, ServiceError
from backend.clients.services import RuntimeServiceClient
from app.session.connections import ConnectionStates
from app.session.events import emit_logged


class RunFollower:
    """The watched run's Gateway.

    Signals: ``run_changed()`` (another run, or none, is watched), ``role_changed()``
    (a Gateway's hello arrived), ``event(Event)`` for every Gateway event,
    ``frame_refused(FrameRefused)`` for every frame that is no valid event.

    Args:
        states: where the ``gateway`` connection state is kept.
        gateway_options: keyword arguments for every :class:`GatewayClient`.
    """

    run_changed = Signal()
    role_changed = Signal()
    event = Signal(object)
    frame_refused = Signal(object)

    def __init__(self, states: ConnectionStates, gateway_options: dict[str, Any] | None = None) -> None:
        self.states = states
        self.gateway_options = dict(gateway_options or {})
        self.gateway: GatewayClient | None = None
        self.run_id: str | None = None
        # Local profile: switch to a run as soon as its Gateway comes up (a panel that pins a run sets this False).
        self.follow_new_runs = True
        self._watch_since = 0.0
        # The role the last hello granted on this profile; kept when the run's Gateway goes away
        # (a finished run), so a remote desk stays as permissive as its token -- never more.
        self.learned_role: str | None = None

    def watch_gateway(self, url: str, token: str | None, run_id: str | None = None) -> GatewayClient:
        """Connect to a Gateway URL (replacing the current one); emits ``run_changed``."""
        self.close_soon()
        client = GatewayClient(url, token, **self.gateway_options)
        self.gateway = client
        self.run_id = run_id
        self._watch_since = time.monotonic()
        client.event_received.connect(self._on_event)
        client.frame_refused.connect(self._on_refused)
        client.state_changed.connect(self._on_state)
        client.start()
        self.run_changed.emit()
        return client

    async def watch_run(self, runtime: ServiceClient, token: str | None, run_id: str,
                        gateway_url: str | None = None) -> None:
        """Follow ``run_id``'s Gateway (its URL from runtime_service unless given)."""
        if gateway_url is None:
            info = await RuntimeServiceClient(runtime).gateway(run_id)
            gateway_url = (info or {}).get("url")
            if not gateway_url:
                raise ServiceError("runtime", 409, "not_running", f"run {run_id!r} has no running Gateway")
        self.watch_gateway(gateway_url, token, run_id)

    def detach(self) -> GatewayClient | None:
        """Stop forwarding the current Gateway (returned, still open); nothing is watched after."""
        gateway, self.gateway, self.run_id = self.gateway, None, None
        if gateway is not None:
            gateway.event_received.disconnect(self._on_event)
            gateway.frame_refused.disconnect(self._on_refused)
            gateway.state_changed.disconnect(self._on_state)
            self.states.set("gateway", "off", "no run watched")
        return gateway

    def close_soon(self) -> None:
        """Detach the current Gateway and close it in the background."""
        gateway = self.detach()
        if gateway is not None:
            asyncio.get_running_loop().create_task(gateway.close())

    async def close(self) -> None:
        gateway = self.detach()
        if gateway is not None:
            await gateway.close()

    async def follow_active_run(self, runtime: ServiceClient, token: str | None) -> None:
        """Follow the newest run whose Gateway is up (the Local profile, and a remote one with no Gateway URL set).

        Switches when nothing is watched, when a run started after we began
        watching ours (someone pressed Start), or when ours is gone.
        """
        if not self.follow_new_runs:
            return
        try:
            runs = await RuntimeServiceClient(runtime).list_runs()
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
            self.watch_gateway(newest["gateway"]["url"], token, newest["run_id"])

    def forget_role(self) -> None:
        """Another profile is looked at: what its servers grant is not known yet."""
        self.learned_role = None

    def _on_event(self, event: Any) -> None:
        if event.type == "hello":
            self.learned_role = event.role or self.learned_role
            if self.run_id is None and event.run_id:
                self.run_id = str(event.run_id)
                self.run_changed.emit()
            self.role_changed.emit()
        emit_logged(self.event, event, fast=True)

    def _on_refused(self, refusal: Any) -> None:
        emit_logged(self.frame_refused, refusal)

    def _on_state(self, state: ConnectionState) -> None:
        if state.status == "connected":
            self.states.set("gateway", "up")
        elif state.status in ("reconnecting", "closed") or state.detail:
            retry = f" - retrying in {state.retry_in:.1f}s" if state.retry_in else ""
            self.states.set("gateway", "down", f"{state.detail or state.status}{retry}")
