"""Runtime plumbing: the process supervisor (spawn, watch, restart, stop children).

Qt-free; the desktop app observes it through plain callbacks.
"""

from backend.runtime.logbuffer import LogBuffer
from backend.runtime.managed_process import ManagedProcess, ProcessStartError
from backend.runtime.ports import PortError, PortInUseError, check_port_free, find_port_holder, free_port
from backend.runtime.process_spec import (
    ProcessEvent,
    ProcessOutcome,
    ProcessSpec,
    ProcessStatus,
    RestartPolicy,
    backoff_delay,
)
from backend.runtime.procgroup import ProcessIdentity, terminate_stale
from backend.runtime.supervisor import ProcessSupervisor

__all__ = [
    "LogBuffer",
    "ManagedProcess",
    "PortError",
    "PortInUseError",
    "ProcessEvent",
    "ProcessIdentity",
    "ProcessOutcome",
    "ProcessSpec",
    "ProcessStartError",
    "ProcessStatus",
    "ProcessSupervisor",
    "RestartPolicy",
    "backoff_delay",
    "check_port_free",
    "find_port_holder",
    "free_port",
    "terminate_stale",
]
