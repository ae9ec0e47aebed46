"""The default launcher: each Gateway is a child process of this one (``GATEWAY_LAUNCHER=subprocess``).

The process supervisor spawns it, restarts it under the progress rule and
writes its output to the run's ``logs/gateway.log``. Ports: with a
``preferred_port`` (a local stack's ``GATEWAY_PORT``, 8765) the first
Gateway gets that port when it is free, so a web dashboard with its default
URL finds it; every later concurrent one gets a free port.
"""

from __future__ import annotations

import logging
import sys
from typing import TYPE_CHECKING, Any

from backend.control_plane.gateway_launchers.base import GATEWAY_PREFIX, GatewayLaunch
from backend.control_plane.gateway_launchers.public_url import advertised_host, gateway_url
from backend.paths import PROJECT_ROOT
from backend.signals import Signal, emit_logged
from backend.supervisor.ports import PortError, check_port_free, free_port
from backend.supervisor.process_spec import ProcessSpec, ProcessStatus, RestartPolicy
from backend.supervisor.supervisor import ProcessSupervisor

if TYPE_CHECKING:
    from backend.supervisor.managed_process import ManagedProcess

log = logging.getLogger(__name__)

_LIVE = (ProcessStatus.starting, ProcessStatus.healthy, ProcessStatus.unhealthy, ProcessStatus.restarting)
_DOWN = (ProcessStatus.restarting, ProcessStatus.crashed)
_SETTLED = (ProcessStatus.healthy, ProcessStatus.unhealthy, ProcessStatus.stopped, *_DOWN)


class SubprocessLauncher:
    """Gateways as supervised child processes bound to ``host``.

    Args:
        supervisor: the process supervisor that owns them.
        host: the interface they bind.
        public_url: the ``GATEWAY_PUBLIC_URL`` template, or None.
        preferred_port: the port the first Gateway gets when free (None: always a free port).
    """

    kind = "subprocess"
    event = Signal(object)

    def __init__(self, supervisor: ProcessSupervisor, host: str = "127.0.0.1", public_url: str | None = None,
                 preferred_port: int | None = None) -> None:
        self.supervisor = supervisor
        self.host = host
        self.public_url = public_url
        self.preferred_port = preferred_port
        supervisor.event.connect(self._relay)  # held weakly

    def _relay(self, event: Any) -> None:
        if str(getattr(event, "name", "")).startswith(GATEWAY_PREFIX):
            emit_logged(self.event, event, logger=log, what="an observer of the subprocess launcher")

    # -- handles ----------------------------------------------------------------------
    def get(self, run_id: str) -> ManagedProcess | None:
        name = GATEWAY_PREFIX + run_id
        return self.supervisor.get(name) if name in self.supervisor else None

    def handles(self) -> list[ManagedProcess]:
        return [p for p in self.supervisor.processes if p.name.startswith(GATEWAY_PREFIX)]

    def url(self, run_id: str, handle: Any) -> str | None:
        return gateway_url(self.public_url, run_id, self.host, handle.port) if handle.port else None

    def control_url(self, handle: Any) -> str | None:
        """Where this process reaches the Gateway (commands over WebSocket)."""
        return f"ws://{advertised_host(self.host)}:{handle.port}/" if handle.port else None

    def health_url(self, handle: Any) -> str | None:
        return f"http://{advertised_host(self.host)}:{handle.port}/health" if handle.port else None

    # -- control ------------------------------------------------------------------------
    def pick_port(self) -> int:
        """The preferred port if no Gateway of ours holds it and it is free, else a free port."""
        wanted = self.preferred_port
        if wanted and not any(p.port == wanted and p.status in _LIVE for p in self.handles()):
            try:
                check_port_free(self.host, wanted)
                return wanted
            except PortError:
                pass
        return free_port(self.host)

    def _spec(self, launch: GatewayLaunch, port: int) -> ProcessSpec:
        argv = [sys.executable, "-m", "gateway", *launch.args, "--host", self.host, "--port", str(port)]
        return ProcessSpec(
            name=launch.name, argv=argv, env=dict(launch.env), cwd=PROJECT_ROOT, log_path=launch.log_path,
            health_url=f"http://{advertised_host(self.host)}:{port}/health", ready_timeout=launch.ready_timeout,
            restart=RestartPolicy.on_failure, grace_seconds=launch.grace_seconds, host=self.host, port=port,
            progress=launch.progress, **dict(launch.restart_fields),
        )

    async def launch(self, launch: GatewayLaunch, *, wait: bool = True) -> ManagedProcess:
        if launch.name in self.supervisor:
            await self.supervisor.remove(launch.name)
        port = launch.port or self.pick_port()
        movable = not launch.port and port == self.preferred_port
        self.supervisor.add(self._spec(launch, port))
        try:
            proc = await self.supervisor.start(launch.name)
        except PortError:
            if not movable:
                raise
            proc = await self._move(launch, port)  # taken since pick_port looked
        if not wait:
            return proc
        timeout = launch.ready_timeout + 5.0
        status = await proc.wait_status(*_SETTLED, timeout=timeout)
        if movable and status in _DOWN and _lost_the_port(proc):
            proc = await self._move(launch, port)  # taken between the supervisor's check and the Gateway's bind
        await proc.wait_ready(timeout)
        return proc

    async def _move(self, launch: GatewayLaunch, port: int) -> ManagedProcess:
        """Another program took the preferred port meanwhile: the Gateway gets a free one instead."""
        log.info("%s: port %d was taken meanwhile; using a free port", launch.name, port)
        await self.supervisor.remove(launch.name)
        self.supervisor.add(self._spec(launch, free_port(self.host)))
        return await self.supervisor.start(launch.name)

    async def stop(self, run_id: str) -> None:
        await self.supervisor.stop(GATEWAY_PREFIX + run_id)

    async def shutdown(self) -> None:
        for proc in self.handles():
            await self.supervisor.stop(proc.name)


def _lost_the_port(proc: ManagedProcess) -> bool:
    if proc.status in (ProcessStatus.healthy, ProcessStatus.unhealthy):
        return False
    last = proc.last_exit
    text = " ".join([last.reason, *last.lines]).lower() if last is not None else ""
    return "already in use" in text
