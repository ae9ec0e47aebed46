"""runtime_service served from this process, over an in-process RuntimeController.

The desktop app embeds the runtime controller (the architecture's control
plane) instead of spawning runtime_service: the Gateways are the app's own
children (so a SIGKILLed app leaves none behind), and the very same
runtime_service HTTP app is served on the app's event loop, so every panel
speaks one API whether it looks at the local stack or a remote one.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from typing import TYPE_CHECKING, Any, Iterator

import uvicorn

from backend.control_plane.controller import RuntimeController
from backend.security.tokens import TokenRegistry

if TYPE_CHECKING:
    from backend.config import Settings


class _QuietServer(uvicorn.Server):
    """A uvicorn server that leaves the host process's signal handling alone."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class EmbeddedRuntimeService:
    """The runtime controller plus its HTTP layer, on the running event loop.

    Args:
        settings: settings the controller hands its Gateways.
        registry: the stack's tokens (the same ones its services accept).
        host, port: where runtime_service listens.
    """

    name = "runtime"

    def __init__(self, settings: Settings, registry: TokenRegistry, host: str, port: int) -> None:
        from backend.apps.runtime_service.app import create_app

        self.host, self.port = host, port
        self.controller = RuntimeController(settings, registry=registry, host=host,
                                            preferred_port=settings.gateway_port)
        self.app = create_app(settings, registry, controller=self.controller)
        self._server: _QuietServer | None = None
        self._task: asyncio.Task[Any] | None = None
        self.started_at: float | None = None

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    @property
    def pid(self) -> int:
        return os.getpid()

    @property
    def uptime(self) -> float | None:
        return None if self.started_at is None else time.monotonic() - self.started_at

    async def start(self, timeout: float = 10.0) -> None:
        config = uvicorn.Config(self.app, host=self.host, port=self.port, log_level="warning",
                                access_log=False, lifespan="on", server_header=False, timeout_keep_alive=30)
        self._server = _QuietServer(config)
        self._task = asyncio.create_task(self._server.serve(), name="embedded-runtime-service")
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if self._task.done():
                self._task.result()  # raises what stopped it (e.g. the port was taken)
                raise RuntimeError("the embedded runtime service stopped while starting")
            if time.monotonic() > deadline:
                raise TimeoutError(f"the embedded runtime service did not listen on {self.port} in {timeout}s")
            await asyncio.sleep(0.02)
        self.started_at = time.monotonic()

    async def stop(self) -> None:
        """Stop every Gateway the controller started, then the HTTP server."""
        await self.controller.shutdown()
        if self._server is not None:
            self._server.should_exit = True
        if self._task is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._task, 10)
        self._task = None
        self.started_at = None
