"""Reachability of each service and the Gateway, and the HTTP clients that report it (Qt-free)."""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from typing import Any, Literal

from psygnal import Signal

from app.models.profile import Profile
from backend.clients.http import ServiceClient, ServiceError

HTTP_SERVICES: tuple[str, ...] = ("agent", "trading", "news", "runtime")
Status = Literal["unknown", "up", "down", "off"]


@dataclass(frozen=True)
class ServiceState:
    """Reachability of one service (or the Gateway).

    Args:
        service: agent, trading, news, runtime or gateway.
        status: unknown (not checked yet), up, down, off (nothing to reach, e.g. no run watched).
        detail: one line on why ("cannot reach http://127.0.0.1:8001 (ConnectError)").
        since: ``time.monotonic()`` of the last change.
        reached: whether the service was up at some point since the profile opened.
    """

    service: str
    status: Status = "unknown"
    detail: str = ""
    since: float = 0.0
    reached: bool = False

    @property
    def down(self) -> bool:
        return self.status == "down"

    @property
    def lost(self) -> bool:
        """Down after it was reached: what the desk shows is its last known data."""
        return self.status == "down" and self.reached


class ConnectionStates:
    """The :class:`ServiceState` of every service and the Gateway; ``changed(state)`` on every change."""

    changed = Signal(object)

    def __init__(self) -> None:
        self._states: dict[str, ServiceState] = {}
        self.reset()

    def reset(self) -> None:
        """Fresh states for a new profile (no signal: the profile switch says it all)."""
        now = time.monotonic()
        self._states = {name: ServiceState(name, since=now) for name in HTTP_SERVICES}
        self._states["gateway"] = ServiceState("gateway", "off", "no run watched", now)

    def get(self, service: str) -> ServiceState:
        return self._states.get(service) or ServiceState(service)

    def all(self) -> dict[str, ServiceState]:
        return {name: self.get(name) for name in (*HTTP_SERVICES, "gateway")}

    def set(self, service: str, status: Status, detail: str = "") -> None:
        old = self._states.get(service)
        if old is not None and old.status == status and old.detail == detail:
            return
        reached = status == "up" or (old is not None and old.reached)
        new = ServiceState(service, status, detail, time.monotonic(), reached)
        if old is not None and old.status == status:
            new = replace(new, since=old.since)
        self._states[service] = new
        self.changed.emit(new)


class TrackedClient(ServiceClient):
    """A ServiceClient whose every outcome updates the service's :class:`ServiceState`."""

    def __init__(self, states: ConnectionStates, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._states = states

    async def request(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            result = await super().request(method, path, **kwargs)
        except ServiceError as err:
            if err.unreachable:
                self._states.set(self.service, "down", err.detail)
            else:  # it answered: it is up, whatever it thought of the request
                self._states.set(self.service, "up")
            raise
        self._states.set(self.service, "up")
        return result


def build_clients(profile: Profile, states: ConnectionStates) -> dict[str, ServiceClient]:
    """One tracked client per HTTP service of ``profile``, sharing one transport."""
    import httpx

    urls = {"agent": profile.agent_url, "trading": profile.trading_url, "news": profile.news_url,
            "runtime": profile.runtime_url}
    # One transport for the four clients: one connection pool, and one TLS context (~80 ms to
    # build) instead of four -- none at all for plain http:// (the local stack).
    tls = any(url.startswith("https:") for url in urls.values())
    transport = httpx.AsyncHTTPTransport() if tls else httpx.AsyncHTTPTransport(verify=False)
    return {name: TrackedClient(states, name, url, profile.token, transport=transport) for name, url in urls.items()}
