"""One supervised child process: spawn, output capture, health, restart, stop."""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from collections.abc import AsyncIterator, Callable
from datetime import datetime, timezone
from typing import TextIO

from backend.supervisor.child import Child, ForkedChild, spawn_child
from backend.supervisor.health import watch_health
from backend.supervisor.logbuffer import LogBuffer
from backend.supervisor.ports import PortError, check_port_free
from backend.supervisor.procgroup import (
    ProcessIdentity,
    group_members,
    signal_group,
    wait_group_gone,
)
from backend.supervisor.process_spec import (
    ProcessEvent,
    ProcessSpec,
    ProcessStatus,
)
from backend.supervisor.restart_policy import Clock, RestartDecision, RestartTracker
from backend.schema.process import ProcessExit
from backend.signals import Signal, emit_logged

log = logging.getLogger(__name__)

_FINAL = (ProcessStatus.healthy, ProcessStatus.unhealthy, ProcessStatus.crashed, ProcessStatus.stopped)


class ProcessStartError(RuntimeError):
    """A process could not be spawned (bad command, missing cwd, ...); the message says why."""


class ManagedProcess:
    """One child process under supervision, with observable state.

    The child runs in its own session (so its whole process group can be
    signalled), gets SIGKILL from Linux if the supervisor dies, and has its
    stdout and stderr merged, read line by line into :attr:`log` (a bounded
    ring) and appended to ``spec.log_path``. Use it from one event loop, the
    one whose thread spawned it.

    Args:
        spec: what to run and how to treat it (its restart rule: :mod:`backend.supervisor.restart_policy`).
        clock: monotonic seconds for uptime and the restart rule (injectable for tests).
        forkserver: address of a preloading fork server (:mod:`backend.supervisor.forkserver`)
            that forks ``python -m`` children; None (or the server gone): a fresh interpreter.

    Signals (psygnal, see :mod:`backend.signals`):
        ``event(ProcessEvent)``: every status change (``kind == "status"``).
        ``line(ProcessEvent)``: every output line (``kind == "line"``).
        A callback that raises is logged; supervision carries on.
    """

    event = Signal(object)
    line = Signal(object)

    def __init__(self, spec: ProcessSpec, clock: Clock = time.monotonic, forkserver: str | None = None) -> None:
        self.spec = spec
        self.forkserver = forkserver  # a fork server's address: ``python -m`` children are forked there
        self._clock = clock
        self._tracker = RestartTracker(spec, clock)
        self.log = LogBuffer(spec.log_lines)
        self.message = ""  # one line on the current state ("not healthy within 5s: ...")
        self.restarts = 0  # restarts since the last start()
        self.last_exit: ProcessExit | None = None
        self.started_at: datetime | None = None
        self._status = ProcessStatus.stopped
        self._started_mono: float | None = None
        self._proc: Child | ForkedChild | None = None
        self._identity: ProcessIdentity | None = None
        self._health: asyncio.Task | None = None
        self._task: asyncio.Task | None = None
        self._lock = asyncio.Lock()
        self._stop_requested = False
        self._stop_event = asyncio.Event()
        self._kill_note = ""
        self._log_file: TextIO | None = None
        self._waiters: list[tuple[frozenset[ProcessStatus], asyncio.Future]] = []
        self._output_seen = asyncio.Event()  # nudges the readiness probe (see health.watch_health)

    # -- observable state -------------------------------------------------

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def status(self) -> ProcessStatus:
        return self._status

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @property
    def identity(self) -> ProcessIdentity | None:
        """Pid plus start time of the running child, for recording in state files."""
        return self._identity

    @property
    def port(self) -> int | None:
        return self.spec.port

    @property
    def uptime(self) -> float | None:
        """Seconds since the current run was spawned, or None when not running."""
        if self._started_mono is None:
            return None
        return self._clock() - self._started_mono

    @property
    def gave_up(self) -> bool:
        """Down for good because restarts stopped making progress (until the next start())."""
        return self._tracker.gave_up and self._status is ProcessStatus.crashed

    @property
    def supervised(self) -> bool:
        """True from start() until it stops for good (including while restarting)."""
        return self._task is not None and not self._task.done()

    def lines(self) -> list[str]:
        return self.log.lines()

    def follow(self, backlog: int = 0, *, forever: bool = False) -> AsyncIterator[str]:
        """Live tail: ``async for line in proc.follow(backlog=50): ...`` (ends when it stops)."""
        return self.log.follow(backlog, forever=forever)

    async def wait_status(self, *statuses: ProcessStatus, timeout: float | None = None) -> ProcessStatus:
        """Wait until the status is one of ``statuses`` (transitions are never missed)."""
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
        """Wait until it is healthy, unhealthy, crashed or stopped; returns which."""
        return await self.wait_status(*_FINAL, timeout=timeout)

    def as_dict(self) -> dict:
        """A JSON-ready snapshot for APIs and the desktop stack panel."""
        return {
            "name": self.name,
            "status": self._status.value,
            "pid": self.pid,
            "port": self.port,
            "started_at": self.started_at.isoformat() if self.started_at else None,
            "uptime_s": round(self.uptime, 3) if self.uptime is not None else None,
            "restarts": self.restarts,
            "gave_up": self.gave_up,
            "message": self.message,
            "last_exit": self.last_exit.model_dump(mode="json") if self.last_exit else None,
            "log_path": str(self.spec.log_path) if self.spec.log_path else None,
            "health_url": self.spec.health_url,
        }

    # -- control ------------------------------------------------------------

    async def start(self) -> None:
        """Spawn the process and supervise it; a no-op if it is already supervised.

        Raises:
            PortInUseError / PortError: ``spec.port`` is taken (nothing was spawned).
            ProcessStartError: the command could not be spawned.
            Either way the status becomes ``crashed`` and :attr:`last_exit` says why.
        """
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
                proc = await self._spawn()
            except BaseException:
                self._finish(ProcessStatus.crashed)
                raise
            self._task = asyncio.create_task(self._supervise(proc), name=f"supervise {self.name}")

    async def stop(self) -> None:
        """Stop it: SIGTERM to its process group, SIGKILL after ``grace_seconds``.

        Cancels a pending restart. Leaves the status ``stopped``.
        """
        async with self._lock:
            task = self._task
            if task is None or task.done():
                if self._status is ProcessStatus.crashed:
                    self._set_status(ProcessStatus.stopped)
                return
            self._stop_requested = True
            self._stop_event.set()
            proc = self._proc
            if proc is not None and proc.returncode is None:
                await self._terminate(proc)
            await asyncio.wait({task})

    async def restart(self) -> None:
        await self.stop()
        await self.start()

    # -- internals ----------------------------------------------------------

    async def _spawn(self) -> Child | ForkedChild:
        spec = self.spec
        self._set_status(ProcessStatus.starting)
        try:
            if spec.port is not None:
                check_port_free(spec.host, spec.port)
            proc = await spawn_child(spec, self._on_line, self.forkserver)
        except PortError as err:
            self._record(ProcessExit.not_started(f"not started: {err}"))
            raise
        except (OSError, ValueError) as err:
            reason = f"failed to start: {err}"
            self._record(ProcessExit.not_started(reason))
            raise ProcessStartError(f"{self.name}: {reason}") from None
        self._proc = proc
        self._identity = ProcessIdentity.of(proc.pid)
        self._started_mono = self._clock()
        self._tracker.spawned()
        self.started_at = datetime.now(timezone.utc)
        self.message = ""
        self._file_marker(f"started pid {proc.pid}: {' '.join(spec.argv)}")
        if spec.health_url:
            watch = watch_health(spec.health_url, ready_timeout=spec.ready_timeout,
                                 check_interval=spec.check_interval, report=self._health_reporter(proc),
                                 nudge=self._output_seen)
            self._health = asyncio.create_task(watch, name=f"health {self.name}")
        else:
            self._set_status(ProcessStatus.healthy)
        return proc

    async def _supervise(self, proc: Child | ForkedChild | None) -> None:
        try:
            while proc is not None:
                outcome = await self._await_exit(proc)
                proc = None
                if self._stop_requested:
                    self._finish(ProcessStatus.stopped)
                    return
                decision = self._decided(self._tracker.ended(outcome.exit_code, outcome.reason))
                if decision.delay is None:
                    # Exit 0 without a restart due is a normal end; anything else means it should be running.
                    ok = outcome.exit_code == 0 and not decision.gave_up
                    self._finish(ProcessStatus.stopped if ok else ProcessStatus.crashed)
                    return
                proc = await self._restart_after(decision.delay)
        except asyncio.CancelledError:
            # The loop is going away: take the group with us rather than orphan it.
            if self._proc is not None:
                signal_group(self._proc.pid, signal.SIGKILL)
                self._proc.close()
            self._finish(ProcessStatus.stopped)
            raise

    async def _restart_after(self, delay: float) -> Child | ForkedChild | None:
        while True:
            reason = self.last_exit.reason if self.last_exit else "ended"
            self._set_status(ProcessStatus.restarting)
            tracker = self._tracker
            self.message = (f"restarting in {delay:g}s after: {reason} "
                            f"(restart {tracker.without_progress} of at most {self.spec.max_restarts} since the "
                            f"last progress)")
            try:
                await asyncio.wait_for(self._stop_event.wait(), delay)
            except TimeoutError:
                pass
            if self._stop_requested:
                self._finish(ProcessStatus.stopped)
                return None
            self.restarts += 1
            try:
                proc = await self._spawn()
            except (PortError, ProcessStartError):
                reason = self.last_exit.reason if self.last_exit else "not started"
                decision = self._decided(self._tracker.not_spawned(reason))
                if decision.delay is None:
                    self._finish(ProcessStatus.crashed)
                    return None
                delay = decision.delay
                continue
            if self._stop_requested:  # stop() came while we were spawning
                await self._terminate(proc)
            return proc

    def _decided(self, decision: RestartDecision) -> RestartDecision:
        """Take the tracker's decision, setting the message when it stays down."""
        if decision.delay is None:
            self.message = decision.message
        return decision

    async def _await_exit(self, proc: Child | ForkedChild) -> ProcessExit:
        returncode = await proc.wait()
        requested = self._stop_requested  # read now: a stop() arriving during cleanup did not cause this exit
        if self._health is not None:
            self._health.cancel()
            self._health = None
        # Grandchildren left in the group go with their leader.
        await self._clean_group(proc.pid)
        # Read what is left in the pipe; a grandchild that escaped the group
        # (setsid) could hold it open forever, so only wait a little.
        await proc.output_done(timeout=2.0)
        proc.close()
        outcome = ProcessExit.from_returncode(
            returncode, self.log.tail(self.spec.outcome_lines),
            requested=requested, note=self._kill_note if requested else "",
        )
        self._kill_note = ""
        self._proc = None
        self._identity = None
        self._started_mono = None
        self.started_at = None
        self._record(outcome)
        return outcome

    async def _terminate(self, proc: Child | ForkedChild) -> None:
        grace = self.spec.grace_seconds
        deadline = time.monotonic() + grace
        signal_group(proc.pid, signal.SIGTERM)
        try:
            await asyncio.wait_for(proc.wait(), grace)
        except TimeoutError:
            pass
        remaining = max(0.0, deadline - time.monotonic())
        if proc.returncode is None or not await wait_group_gone(proc.pid, remaining):
            if proc.returncode is None:
                self._kill_note = f"after ignoring SIGTERM for {grace:g}s"
            signal_group(proc.pid, signal.SIGKILL)
            await proc.wait()

    async def _clean_group(self, pgid: int) -> None:
        if not group_members(pgid):
            return
        signal_group(pgid, signal.SIGTERM)
        if not await wait_group_gone(pgid, self.spec.grace_seconds):
            signal_group(pgid, signal.SIGKILL)
            await wait_group_gone(pgid, 2.0)

    def _on_line(self, line: str) -> None:
        self._output_seen.set()
        self.log.append(line)
        self._write_file(line)
        emit_logged(self.line, ProcessEvent(self.name, "line", self._status, line=line),
                    logger=log, what=f"a line observer of process {self.name}")

    def _health_reporter(self, proc: Child | ForkedChild) -> Callable[[bool, str], bool]:
        def report(healthy: bool, message: str) -> bool:
            if self._proc is not proc or self._stop_requested:
                return False  # this run is over or ending: its health no longer matters
            self.message = message
            self._set_status(ProcessStatus.healthy if healthy else ProcessStatus.unhealthy)
            return True

        return report

    # -- bookkeeping --------------------------------------------------------

    def _set_status(self, status: ProcessStatus) -> None:
        previous = self._status
        if status is previous:
            return
        self._status = status
        for wanted, fut in list(self._waiters):
            if status in wanted and not fut.done():
                fut.set_result(status)
        # A broken observer must not break supervision.
        emit_logged(self.event, ProcessEvent(self.name, "status", status, previous=previous),
                    logger=log, what=f"a status observer of process {self.name}")

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
            log.warning("process %s: cannot open log file %s: %s", self.name, path, err)

    def _write_file(self, line: str) -> None:
        if self._log_file is None:
            return
        try:
            self._log_file.write(line + "\n")
        except OSError as err:  # disk full etc.: keep supervising, stop writing
            log.warning("process %s: cannot write log file: %s", self.name, err)
            self._log_file.close()
            self._log_file = None

    def _file_marker(self, text: str) -> None:
        stamp = datetime.now(timezone.utc).isoformat(timespec="seconds")
        self._write_file(f"[supervisor {stamp}] {self.name}: {text}")

