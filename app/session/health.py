"""HealthMonitor: probe every service's ``/health`` periodically (Qt-free).

Waiting on other processes over HTTP is polling by nature; each probe goes
through the session's tracked client, so its outcome updates the service's
connection state.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from backend.clients.http import ServiceClient, ServiceError
from app.session.connections import HTTP_SERVICES


class HealthMonitor:
    """Every ``interval`` seconds: ``GET /health`` of each service and, alongside, ``after_round()``.

    Args:
        client: the current client of a service (the session's, which changes with the profile).
        interval: seconds between rounds.
        after_round: awaited with each round's probes (the session follows new runs there).
    """

    def __init__(self, client: Callable[[str], ServiceClient], interval: float,
                 after_round: Callable[[], Awaitable[None]]) -> None:
        self.client = client
        self.interval = interval
        self.after_round = after_round
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start probing (idempotent)."""
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run(), name="health monitor")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _run(self) -> None:
        while True:
            # after_round (which run is live) goes alongside the probes, not after them: on a fresh
            # profile the run is followed one round trip sooner.
            await asyncio.gather(*(self._probe(name) for name in HTTP_SERVICES), self.after_round())
            await asyncio.sleep(self.interval)

    async def _probe(self, service: str) -> None:
        try:
            await self.client(service).get("/health")
        except ServiceError:
            pass  # the tracked client recorded it
