"""Value types of the process supervisor: what to run and its status.

How a run of a process ended is :class:`backend.schema.process.ProcessExit`.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$")


class ProcessStatus(str, enum.Enum):
    """Where a managed process stands.

    - ``stopped``: not running, and not meant to (never started, stopped, or exited 0).
    - ``starting``: spawned, waiting for its health URL to answer 200.
    - ``healthy``: running (and answering its health URL, if it has one).
    - ``unhealthy``: running, but its health URL did not answer 200 in time (or stopped answering).
    - ``crashed``: not running although it should be: it failed, could not start,
      or its restarts stopped making progress (``ManagedProcess.gave_up``).
    - ``restarting``: it ended and will be spawned again after a back-off delay.
    """

    stopped = "stopped"
    starting = "starting"
    healthy = "healthy"
    unhealthy = "unhealthy"
    crashed = "crashed"
    restarting = "restarting"

    @property
    def running(self) -> bool:
        return self in (ProcessStatus.starting, ProcessStatus.healthy, ProcessStatus.unhealthy)


class RestartPolicy(str, enum.Enum):
    """When to spawn a process again after it ends on its own."""

    never = "never"
    on_failure = "on-failure"  # after a non-zero exit or a signal
    always = "always"  # after any exit, including code 0


@dataclass(frozen=True)
class ProcessSpec:
    """How to run one child process and what to do when it ends.

    Args:
        name: unique name in its supervisor (letters, digits, ``_.-``).
        argv: the command; ``argv[0]`` is looked up on PATH.
        env: variables added to (or overriding) the parent's environment.
            ``PYTHONUNBUFFERED=1`` is added unless given, so Python children log promptly.
        cwd: working directory (default: the parent's).
        log_path: file the merged stdout/stderr is appended to (parents created).
        health_url: polled until it answers 200; without one, running means healthy.
        ready_timeout: seconds to become healthy before being marked unhealthy.
        check_interval: seconds between health checks once ready (None: check only at start).
        restart: restart policy after the process ends on its own.
        max_restarts: restarts in a row without progress allowed before staying ``crashed``
            (see :mod:`backend.supervisor.restart_policy` for the rule).
        backoff_base, backoff_cap: restart delay doubles from base up to cap.
        stable_after: a run at least this long ends a crash streak (its crash starts a new one)
            and counts as progress.
        progress: optional probe, called at each spawn and end, returning a hashable value
            that changes when the child got somewhere (a Gateway: its checkpoint's day
            count); a run after which it changed resets the count towards ``max_restarts``.
        grace_seconds: SIGTERM to SIGKILL delay when stopping the process group.
        host, port: checked to be free before every spawn (None: no check).
        log_lines: lines kept in the in-memory ring buffer.
        outcome_lines: log lines kept in each :class:`~backend.schema.process.ProcessExit`.
    """

    name: str
    argv: Sequence[str]
    env: Mapping[str, str] = field(default_factory=dict)
    cwd: Path | None = None
    log_path: Path | None = None
    health_url: str | None = None
    ready_timeout: float = 30.0
    check_interval: float | None = 5.0
    restart: RestartPolicy = RestartPolicy.never
    max_restarts: int = 5
    backoff_base: float = 0.5
    backoff_cap: float = 30.0
    stable_after: float = 30.0
    grace_seconds: float = 5.0
    host: str = "127.0.0.1"
    port: int | None = None
    log_lines: int = 1000
    outcome_lines: int = 20
    progress: Callable[[], Hashable] | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        if not NAME_RE.match(self.name):
            raise ValueError(f"invalid process name {self.name!r}: use letters, digits, '_', '.', '-'")
        if isinstance(self.argv, str) or not self.argv:
            raise ValueError(f"process {self.name}: argv must be a non-empty list of strings")
        object.__setattr__(self, "argv", tuple(str(a) for a in self.argv))
        object.__setattr__(self, "env", {str(k): str(v) for k, v in dict(self.env).items()})
        object.__setattr__(self, "restart", RestartPolicy(self.restart))
        if self.cwd is not None:
            object.__setattr__(self, "cwd", Path(self.cwd))
        if self.log_path is not None:
            object.__setattr__(self, "log_path", Path(self.log_path))
        for attr in ("ready_timeout", "backoff_base", "backoff_cap", "grace_seconds", "stable_after"):
            if getattr(self, attr) < 0:
                raise ValueError(f"process {self.name}: {attr} must not be negative")
        if self.check_interval is not None and self.check_interval <= 0:
            raise ValueError(f"process {self.name}: check_interval must be positive (or None)")
        if self.max_restarts < 0:
            raise ValueError(f"process {self.name}: max_restarts must not be negative")
        if self.port is not None and not 0 <= self.port <= 65535:
            raise ValueError(f"process {self.name}: port {self.port} is out of range")
        if self.log_lines < 1 or self.outcome_lines < 0:
            raise ValueError(f"process {self.name}: log_lines must be >= 1 and outcome_lines >= 0")


@dataclass(frozen=True)
class ProcessEvent:
    """What a listener is told: a status change (``kind="status"``) or a log line (``kind="line"``).

    Args:
        name: the process name.
        kind: "status" or "line".
        status: the status after the change (the current status for a line).
        previous: the status before the change (None for a line).
        line: the log line (None for a status change).
    """

    name: str
    kind: Literal["status", "line"]
    status: ProcessStatus
    previous: ProcessStatus | None = None
    line: str | None = None
