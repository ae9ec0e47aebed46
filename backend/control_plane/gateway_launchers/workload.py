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

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from datetime import datetime, timezone
from typing import Protocol, TextIO

from backend.schema.process import ProcessExit
from backend.signals import Signal, emit_logged
from backend.supervisor.health import watch_health
from backend.supervisor.logbuffer import LogBuffer
from backend.supervisor.process_spec import ProcessEvent, ProcessSpec, ProcessStatus
from backend.supervisor.restart_policy import RestartDecision, RestartTracker

log = logging.getLogger(__name__)

_FINAL = (ProcessStatus.healthy, ProcessStatus.unhealthy, ProcessStatus.crashed, ProcessStatus.stopped)
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


class SupervisedWorkload:
    """One run's Gateway outside this machine's process table, with a ManagedProcess's observable state.

    Args:
        spec: name, log file, restart policy and progress probe, ready timeout and grace
            (its argv and env are the workload's business).
        workload: how each attempt runs.

    Signals: ``event(ProcessEvent)`` on every status change, ``line(ProcessEvent)`` on every log line.
    """

    event = Signal(object)
    line = Signal(object)

    def __init__(self, spec: ProcessSpec, workload: Workload, clock: Callable[[], float] = time.monotonic) -> None:
        self.spec = spec
        self.workload = workload
        self._clock = clock
        self._tracker = RestartTracker(spec, clock)
        self.log = LogBuffer(spec.log_lines)
        self.message = ""
        self.restarts = 0
        self.last_exit: ProcessExit | None = None
        self.started_at: datetime | None = None
        self._status = ProcessStatus.stopped
        self._started_mono: float | None = None
        self._running = False
        self._health: asyncio.Task | None = None
        self._task: asyncio.Task | None = None
        self._lock = asyncio.Lock()
        self._stop_requested = False
        self._stop_event = asyncio.Event()
        self._log_file: TextIO | None = None
        self._waiters: list[tuple[frozenset[ProcessStatus], asyncio.Future]] = []

    # -- observable state (as ManagedProcess) ---------------------------------------
    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def status(self) -> ProcessStatus:
        return self._status

    @property
    def pid(self) -> None:
        return None  # not a process of this machine

    @property
    def port(self) -> int | None:
        return self.workload.port

    @property
    def uptime(self) -> float | None:
        return None if self._started_mono is None else self._clock() - self._started_mono

    @property
    def gave_up(self) -> bool:
        return self._tracker.gave_up and self._status is ProcessStatus.crashed

    @property
    def supervised(self) -> bool:
        return self._task is not None and not self._task.done()

    def lines(self) -> list[str]:
        return self.log.lines()

    def follow(self, backlog: int = 0, *, forever: bool = False) -> AsyncIterator[str]:
        return self.log.follow(backlog, forever=forever)

    async def wait_status(self, *statuses: ProcessStatus, timeout: float | None = None) -> ProcessStatus:
        wanted = frozenset(statuses)
        if self._status in wanted:
            return self._status
        fut: asyncio.Future = asyncio.get_running_loop().create_future()
        entry = (wanted, fut)
        self._waiters.append(entry)
        try:
            return await asyncio.wait_for(fut, timeout)
        except TimeoutError:
            names = ", ".join(sorted(s.value for s in wanted))
            raise TimeoutError(f"{self.name}: still {self._status.value} after {timeout}s "
                               f"(waiting for {names})") from None
        finally:
            if entry in self._waiters:
                self._waiters.remove(entry)

    async def wait_ready(self, timeout: float | None = None) -> ProcessStatus:
        return await self.wait_status(*_FINAL, timeout=timeout)

    # -- control ------------------------------------------------------------------
    async def start(self) -> None:
        """Create the first attempt and supervise it (WorkloadError: nothing runs, status crashed)."""
        async with self._lock:
            if self.supervised:
                return
            self._stop_requested = False
            self._stop_event = asyncio.Event()
            self._tracker.reset()
            self.restarts = 0
            self.log.open()
            self._open_log_file()
            try:
                await self._spawn()
            except BaseException:
                self._finish(ProcessStatus.crashed)
                raise
            self._task = asyncio.create_task(self._supervise(), name=f"supervise {self.name}")

    async def stop(self) -> None:
        """Stop the current attempt (SIGTERM, a kill after the grace), cancel a pending restart, remove it."""
        async with self._lock:
            task = self._task
            if task is None or task.done():
                if self._status is ProcessStatus.crashed:
                    self._set_status(ProcessStatus.stopped)
                await self.workload.close()
                return
            self._stop_requested = True
            self._stop_event.set()
            if self._running:
                await self.workload.terminate(self.spec.grace_seconds)
            await asyncio.wait({task})
            await self.workload.close()

    # -- internals ------------------------------------------------------------------
    async def _spawn(self) -> None:
        self._set_status(ProcessStatus.starting)
        try:
            await self.workload.remove()  # what a previous attempt left
            await self.workload.create()
        except WorkloadError as err:
            self._record(ProcessExit.not_started(f"not started: {err}"))
            raise
        self._running = True
        self._started_mono = self._clock()
        self._tracker.spawned()
        self.started_at = datetime.now(timezone.utc)
        self.message = ""
        self._file_marker(f"started {self.workload.ident}")
        if self.workload.health_url:
            watch = watch_health(self.workload.health_url, ready_timeout=self.spec.ready_timeout,
                                 check_interval=self.spec.check_interval, report=self._health_reporter())
            self._health = asyncio.create_task(watch, name=f"health {self.name}")
        else:
            self._set_status(ProcessStatus.healthy)

    async def _supervise(self) -> None:
        try:
            while True:
                outcome = await self._await_exit()
                if self._stop_requested:
                    self._finish(ProcessStatus.stopped)
                    return
                decision = self._decided(self._tracker.ended(outcome.exit_code, outcome.reason))
                if decision.delay is None:
                    ok = outcome.exit_code == 0 and not decision.gave_up
                    self._finish(ProcessStatus.stopped if ok else ProcessStatus.crashed)
                    return
                if not await self._restart_after(decision.delay):
                    return
        except asyncio.CancelledError:
            self._finish(ProcessStatus.stopped)
            raise

    async def _restart_after(self, delay: float) -> bool:
        while True:
            reason = self.last_exit.reason if self.last_exit else "ended"
            self._set_status(ProcessStatus.restarting)
            self.message = (f"restarting in {delay:g}s after: {reason} "
                            f"(restart {self._tracker.without_progress} of at most {self.spec.max_restarts} since "
                            f"the last progress)")
            try:
                await asyncio.wait_for(self._stop_event.wait(), delay)
            except TimeoutError:
                pass
            if self._stop_requested:
                self._finish(ProcessStatus.stopped)
                return False
            self.restarts += 1
            try:
                await self._spawn()
            except WorkloadError:
                reason = self.last_exit.reason if self.last_exit else "not started"
                decision = self._decided(self._tracker.not_spawned(reason))
                if decision.delay is None:
                    self._finish(ProcessStatus.crashed)
                    return False
                delay = decision.delay
                continue
            if self._stop_requested:
                await self.workload.terminate(self.spec.grace_seconds)
            return True

    async def _await_exit(self) -> ProcessExit:
        try:
            returncode = await self.workload.wait_exit(self._on_line)
        except WorkloadError as err:  # the engine or API lost track of it: counts as a crash
            self._on_line(f"[launcher] lost the Gateway: {err}")
            returncode = -9
        requested = self._stop_requested
        self._running = False
        if self._health is not None:
            self._health.cancel()
            self._health = None
        outcome = ProcessExit.from_returncode(returncode, self.log.tail(self.spec.outcome_lines),
                                              requested=requested)
        self._started_mono = None
        self.started_at = None
        self._record(outcome)
        return outcome

    def _decided(self, decision: RestartDecision) -> RestartDecision:
        if decision.delay is None:
            self.message = decision.message
        return decision

    def _on_line(self, line: str) -> None:
        self.log.append(line)
        self._write_file(line)
        emit_logged(self.line, ProcessEvent(self.name, "line", self._status, line=line),
                    logger=log, what=f"a line observer of {self.name}")

    def _health_reporter(self) -> Callable[[bool, str], bool]:
        ident = self.workload.ident

        def report(healthy: bool, message: str) -> bool:
            if not self._running or self._stop_requested or self.workload.ident != ident:
                return False
            self.message = message
            self._set_status(ProcessStatus.healthy if healthy else ProcessStatus.unhealthy)
            return True

        return report

    # -- bookkeeping (as ManagedProcess) ----------------------------------------------
    def _set_status(self, status: ProcessStatus) -> None:
        previous = self._status
        if status is previous:
            return
        self._status = status
        for wanted, fut in list(self._waiters):
            if status in wanted and not fut.done():
                fut.set_result(status)
        emit_logged(self.event, ProcessEvent(self.name, "status", status, previous=previous),
                    logger=log, what=f"a status observer of {self.name}")

    def _record(self, outcome: ProcessExit) -> None:
        self.last_exit = outcome
        self._file_marker(outcome.reason)

    def _finish(self, status: ProcessStatus) -> None:
        if status is ProcessStatus.crashed and not self.message and self.last_exit:
            self.message = self.last_exit.reason
        if status is ProcessStatus.stopped and self._stop_requested:
            self.message = ""
        self._set_status(status)
        self.log.close()
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    def _open_log_file(self) -> None:
        path = self.spec.log_path
        if path is None or self._log_file is not None:
            return
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._log_file = open(path, "a", encoding="utf-8", buffering=1)  # noqa: SIM115 - lives across awaits
        except OSError as err:
            log.warning("%s: cannot open log file %s: %s", self.name, path, err)

    def _write_file(self, line: str) -> None:
        if self._log_file is None:
            return
        try:
            self._log_file.write(line + "\n")
        except OSError as err:
            log.warning("%s: cannot write log file: %s", self.name, err)
            self._log_file.close()
            self._log_file = None

    def _file_marker(self, text: str) -> None:
        stamp = datetime.now(timezone.utc).isoformat(timespec="seconds")
        self._write_file(f"[launcher {stamp}] {self.name}: {text}")
