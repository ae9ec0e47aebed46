"""Runtime plumbing: the process supervisor (spawn, watch, restart, stop
children), the runtime controller and the local stack.

Qt-free; the desktop app observes it through plain callbacks. Names are
imported lazily: every service imports ``backend.runtime.ports`` at start,
and should not pay for the supervisor (and httpx) it does not use.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "LogBuffer": "backend.runtime.logbuffer",
    "ManagedProcess": "backend.runtime.managed_process",
    "ProcessStartError": "backend.runtime.managed_process",
    "PortError": "backend.runtime.ports",
    "PortInUseError": "backend.runtime.ports",
    "check_port_free": "backend.runtime.ports",
    "find_port_holder": "backend.runtime.ports",
    "free_port": "backend.runtime.ports",
    "ProcessEvent": "backend.runtime.process_spec",
    "ProcessExit": "backend.schema.process",
    "ProcessSpec": "backend.runtime.process_spec",
    "ProcessStatus": "backend.runtime.process_spec",
    "RestartPolicy": "backend.runtime.process_spec",
    "backoff_delay": "backend.backoff",
    "ProcessIdentity": "backend.runtime.procgroup",
    "terminate_stale": "backend.runtime.procgroup",
    "ProcessSupervisor": "backend.runtime.supervisor",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'backend.runtime' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
