"""A Gateway in a container or a Pod, supervised like a child process.

:class:`SupervisedWorkload` is the container/Pod counterpart of
:class:`~backend.supervisor.managed_process.ManagedProcess`: the same
statuses, the same restart rule (:class:`~backend.supervisor.restart_policy.RestartTracker`
with the run's checkpoint as the progress probe), the same health watch on
the Gateway's ``/health``, its output in the same ring buffer and appended to
the run's ``logs/gateway.log``. What differs is a :class:`Workload`: how one
attempt is created, awaited, stopped and removed (a docker container, a
Kubernetes Pod). Each restart is a new attempt (the old one is removed first).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Protocol

from backend.schema.process import ProcessExit
from backend.supervisor.process_spec import ProcessSpec, ProcessStatus
from backend.supervisor.supervised import Supervised

log = logging.getLogger(__name__)

LineSink = Callable[[str], None]


class WorkloadError(RuntimeError):
    """An attempt could not be created (image missing, API refused, ...); the message says why."""


class Workload(Protocol):
    """One way of running a Gateway attempt (see :mod:`.docker`, :mod:`.kubernetes`).

    ``create`` starts an attempt and makes ``health_url`` and ``port`` valid;
    ``wait_exit`` streams its output into ``sink`` and returns its exit status
    (negative: killed by that signal) when it ends; ``terminate`` asks it to
    stop (SIGTERM, then a kill after ``grace`` seconds); ``remove`` deletes
    what the attempt left; ``close`` deletes everything of the run (on stop).
    Every method may be called when nothing runs.
    """

    health_url: str | None
    port: int | None
    ident: str | None  # container id / Pod name of the current attempt

    async def create(self) -> None: ...

    async def wait_exit(self, sink: LineSink) -> int: ...

    async def terminate(self, grace: float) -> None: ...

    async def remove(self) -> None: ...

    async def close(self) -> None: ...


class SupervisedWorkload(Supervised):
    """One run's Gateway outside this machine's process table, with a ManagedProcess's observable state.

    The status, signals, restart loop and log file are
    :class:`~backend.supervisor.supervised.Supervised`'s; each attempt is a
    :class:`Workload`'s. ``start()`` raises :class:`WorkloadError` when the
    first attempt cannot be created (nothing runs, status crashed); ``stop()``
    terminates the current attempt (SIGTERM, a kill after the grace), cancels
    a pending restart and removes what the run left (``workload.close()``).

    Args:
        spec: name, log file, restart policy and progress probe, ready timeout and grace
            (its argv and env are the workload's business).
        workload: how each attempt runs.

    Signals: ``event(ProcessEvent)`` on every status change, ``line(ProcessEvent)`` on every log line.
    """

    _logger = log
    _noun = ""
    _marker = "launcher"
    _attempt_errors = (WorkloadError,)

    def __init__(self, spec: ProcessSpec, workload: Workload, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(spec, clock)
        self.workload = workload
        self._running = False

    # -- observable state (as ManagedProcess) ---------------------------------------
    @property
    def pid(self) -> None:
        return None  # not a process of this machine

    @property
    def port(self) -> int | None:
        return self.workload.port

    # -- one attempt: a container or a Pod ----------------------------------------------
    async def _spawn(self) -> None:
        self._set_status(ProcessStatus.starting)
        try:
            await self.workload.remove()  # what a previous attempt left
            await self.workload.create()
        except WorkloadError as err:
            self._record(ProcessExit.not_started(f"not started: {err}"))
            raise
        self._running = True
        self._spawned(f"started {self.workload.ident}", self.workload.health_url)

    async def _await_exit(self) -> ProcessExit:
        try:
            returncode = await self.workload.wait_exit(self._on_line)
        except WorkloadError as err:  # the engine or API lost track of it: counts as a crash
            self._on_line(f"[launcher] lost the Gateway: {err}")
            returncode = -9
        requested = self._stop_requested
        self._running = False
        self._cancel_health()
        outcome = ProcessExit.from_returncode(returncode, self.log.tail(self.spec.outcome_lines),
                                              requested=requested)
        self._ended(outcome)
        return outcome

    @property
    def _attempt_running(self) -> bool:
        return self._running

    async def _terminate_attempt(self) -> None:
        await self.workload.terminate(self.spec.grace_seconds)

    async def _released(self) -> None:
        await self.workload.close()

    def _attempt(self) -> str | None:
        return self.workload.ident

    def _is_current(self, attempt: object) -> bool:
        return self._running and self.workload.ident == attempt
