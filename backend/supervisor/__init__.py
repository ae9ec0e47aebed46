"""The process supervisor: spawn children in their own process groups, capture
their output, wait for health, restart them by policy and stop them (SIGTERM,
then SIGKILL), last started first.

Qt-free; the desk observes it through plain callbacks. Names are imported
lazily: every service imports ``backend.supervisor.ports`` at start, and
should not pay for the supervisor (and httpx) it does not use.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "LogBuffer": "backend.supervisor.logbuffer",
    "ManagedProcess": "backend.supervisor.managed_process",
    "ProcessStartError": "backend.supervisor.managed_process",
    "PortError": "backend.supervisor.ports",
    "PortInUseError": "backend.supervisor.ports",
    "check_port_free": "backend.supervisor.ports",
    "find_port_holder": "backend.supervisor.ports",
    "free_port": "backend.supervisor.ports",
    "ProcessEvent": "backend.supervisor.process_spec",
    "ProcessExit": "backend.schema.process",
    "ProcessSpec": "backend.supervisor.process_spec",
    "ProcessStatus": "backend.supervisor.process_spec",
    "RestartPolicy": "backend.supervisor.process_spec",
    "backoff_delay": "backend.backoff",
    "ProcessIdentity": "backend.supervisor.procgroup",
    "terminate_stale": "backend.supervisor.procgroup",
    "ProcessSupervisor": "backend.supervisor.supervisor",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'backend.supervisor' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
