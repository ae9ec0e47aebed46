"""What the docker and kubernetes launchers share: one :class:`SupervisedWorkload` per run."""

from __future__ import annotations

import logging
from typing import Any

from backend.control_plane.gateway_launchers.base import GatewayLaunch
from backend.control_plane.gateway_launchers.public_url import gateway_url
from backend.control_plane.gateway_launchers.workload import SupervisedWorkload, Workload
from backend.signals import Signal, emit_logged
from backend.supervisor.process_spec import ProcessSpec, RestartPolicy

log = logging.getLogger(__name__)


class WorkloadLauncher:
    """A launcher whose Gateways run outside this process tree (containers, Pods).

    Subclasses build one :class:`Workload` per launch and say where a client
    (``natural_address``) and this process (``control_address``) reach it.
    """

    kind = "remote"
    event = Signal(object)

    def __init__(self, public_url: str | None = None) -> None:
        self.public_url = public_url
        self._handles: dict[str, SupervisedWorkload] = {}

    def _relay(self, event: Any) -> None:
        emit_logged(self.event, event, logger=log, what=f"an observer of the {self.kind} launcher")

    # -- to implement ---------------------------------------------------------------
    def _workload(self, launch: GatewayLaunch, previous: Workload | None) -> Workload:
        raise NotImplementedError

    def natural_address(self, handle: SupervisedWorkload) -> tuple[str, int] | None:
        raise NotImplementedError

    def control_address(self, handle: SupervisedWorkload) -> tuple[str, int] | None:
        raise NotImplementedError

    # -- handles ----------------------------------------------------------------------
    def get(self, run_id: str) -> SupervisedWorkload | None:
        return self._handles.get(run_id)

    def handles(self) -> list[SupervisedWorkload]:
        return list(self._handles.values())

    def url(self, run_id: str, handle: SupervisedWorkload) -> str | None:
        address = self.natural_address(handle)
        return None if address is None else gateway_url(self.public_url, run_id, *address)

    def control_url(self, handle: SupervisedWorkload) -> str | None:
        address = self.control_address(handle)
        return None if address is None else f"ws://{address[0]}:{address[1]}/"

    def health_url(self, handle: SupervisedWorkload) -> str | None:
        address = self.control_address(handle)
        return None if address is None else f"http://{address[0]}:{address[1]}/health"

    # -- control ------------------------------------------------------------------------
    async def launch(self, launch: GatewayLaunch, *, wait: bool = True) -> SupervisedWorkload:
        previous = self._handles.pop(launch.run_id, None)
        if previous is not None:
            await previous.stop()
        spec = ProcessSpec(name=launch.name, argv=["gateway", *launch.args], log_path=launch.log_path,
                           ready_timeout=launch.ready_timeout, restart=RestartPolicy.on_failure,
                           grace_seconds=launch.grace_seconds, progress=launch.progress,
                           **dict(launch.restart_fields))
        handle = SupervisedWorkload(spec, self._workload(launch, previous.workload if previous else None))
        handle.event.connect(self._relay)
        self._handles[launch.run_id] = handle
        await handle.start()
        if wait:
            await handle.wait_ready(launch.ready_timeout + 5.0)
        return handle

    async def stop(self, run_id: str) -> None:
        handle = self._handles.get(run_id)
        if handle is not None:
            await handle.stop()

    async def shutdown(self) -> None:
        for handle in self.handles():
            await handle.stop()
