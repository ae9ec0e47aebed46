"""What every Gateway launcher shares: the launch request, the handle it returns, names and labels.

A launcher runs one Gateway per run somewhere (a child process, a
container, a Pod) and hands back a *handle* with the observable state of a
:class:`~backend.supervisor.managed_process.ManagedProcess` (status, pid,
port, restarts, gave_up, message, last_exit, uptime, log lines), so the
controller's ``gateway_info``, its restart rule and the desk's Stack panel do
not care where the Gateway runs.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import AsyncIterator, Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from backend.schema.process import ProcessExit
from backend.supervisor.process_spec import ProcessStatus

GATEWAY_PREFIX = "gateway-"
CONTAINER_PORT = 8765  # what a Gateway listens on inside its container or Pod

PART_OF = "app.kubernetes.io/part-of"
RUN_ID_LABEL = "evotraders.run-id"
COMPONENT_LABEL = "evotraders.component"

_LABEL_VALUE_RE = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9_.\-]{0,61}[A-Za-z0-9])?$")


class LauncherError(RuntimeError):
    """A launcher cannot be used as configured (no engine, no tokens, no cluster); the message says why."""


@dataclass(frozen=True)
class GatewayLaunch:
    """One Gateway to run, whatever launches it.

    Args:
        run_id: the run it serves.
        args: the Gateway's own arguments (``--run-id``, ``--paused``, ``--pace``), without host and port.
        env: its whole configuration (settings, its run credential), never the admin secret.
        log_path: the run's ``logs/gateway.log``.
        progress: the restart rule's progress probe (the run's checkpoint).
        restart_fields: ``GatewayRestartPolicy.spec_fields()``.
        port: the port asked for (subprocess: its bind port; others: a published port to keep).
    """

    run_id: str
    args: Sequence[str]
    env: Mapping[str, str]
    log_path: Path
    progress: Callable[[], Hashable] | None = None
    restart_fields: Mapping[str, Any] = field(default_factory=dict)
    port: int | None = None
    ready_timeout: float = 60.0
    grace_seconds: float = 10.0

    @property
    def name(self) -> str:
        return GATEWAY_PREFIX + self.run_id


class GatewayHandle(Protocol):
    """The observable state of one run's Gateway (a ManagedProcess has exactly these)."""

    name: str
    status: ProcessStatus
    pid: int | None
    port: int | None
    restarts: int
    gave_up: bool
    message: str
    last_exit: ProcessExit | None
    uptime: float | None

    def lines(self) -> list[str]: ...

    def follow(self, backlog: int = 0, *, forever: bool = False) -> AsyncIterator[str]: ...


def labels(run_id: str) -> dict[str, str]:
    """The labels on every object a launcher creates for ``run_id``."""
    return {PART_OF: "evotraders", RUN_ID_LABEL: label_value(run_id), COMPONENT_LABEL: "gateway"}


def label_value(run_id: str) -> str:
    """``run_id`` if it is a valid label value (63 characters, alphanumeric ends), else a stable digest."""
    if _LABEL_VALUE_RE.match(run_id):
        return run_id
    return "h" + hashlib.sha256(run_id.encode()).hexdigest()[:40]


def object_name(run_id: str, prefix: str = "evotraders-gw-", scope: str = "") -> str:
    """A DNS-1123 label for ``run_id``'s container, Pod or Service: lower case, 63 characters at most, unique.

    ``scope`` tells deployments sharing one engine apart (two with a run of the same id).
    """
    slug = re.sub(r"[^a-z0-9-]+", "-", run_id.lower()).strip("-")
    digest = hashlib.sha256(f"{scope}\0{run_id}".encode() if scope else run_id.encode()).hexdigest()[:8]
    room = 63 - len(prefix) - len(digest) - 1
    return f"{prefix}{slug[:room].strip('-') or 'run'}-{digest}"
