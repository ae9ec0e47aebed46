"""What every supervised thing shares: observable state, the restart loop, the log file.

:class:`Supervised` is the base of
:class:`~backend.supervisor.managed_process.ManagedProcess` (a child process
of this machine) and of the control plane's ``SupervisedWorkload`` (a Gateway
container or Pod). It holds the status and its waiters, the status and line
signals, the output ring buffer and the appended log file, the last exit,
the restart rule (:class:`~backend.supervisor.restart_policy.RestartTracker`)
and the supervision loop that applies it. A subclass says how one attempt
is spawned, awaited and terminated (the ``_spawn`` / ``_await_exit`` /
``_terminate_attempt`` hooks) and which spawn errors count as a failed
attempt (``_attempt_errors``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from datetime import datetime, timezone
from typing import Any, ClassVar, TextIO

from backend.schema.process import ProcessExit
from backend.signals import Signal, emit_logged
from backend.supervisor.health import Reporter, watch_health
from backend.supervisor.logbuffer import LogBuffer
from backend.supervisor.process_spec import ProcessEvent, ProcessSpec, ProcessStatus
from backend.supervisor.restart_policy import Clock, RestartDecision, RestartTracker

log = logging.getLogger(__name__)

FINAL = (ProcessStatus.healthy, ProcessStatus.unhealthy, ProcessStatus.crashed, ProcessStatus.stopped)


class Supervised:
    """One thing run under the restart rule, with observable state. Use it from one event loop.

    Signals (psygnal, see :mod:`backend.signals`):
        ``event(ProcessEvent)``: every status change (``kind == "status"``).
        ``line(ProcessEvent)``: every output line (``kind == "line"``).
        A callback that raises is logged; supervision carries on.
    """

    event = Signal(object)
    line = Signal(object)

    _logger: ClassVar[logging.Logger] = log  # where a subclass's warnings and observer failures go
    _noun: ClassVar[str] = ""  # put before the name in those messages ("process ")
    _marker: ClassVar[str] = "supervisor"  # the tag of the lines it writes into the log file itself
    _attempt_errors: ClassVar[tuple[type[Exception], ...]] = ()  # _spawn's errors that count as a failed attempt

    def __init__(self, spec: ProcessSpec, clock: Clock = time.monotonic) -> None:
        self.spec = spec
        self._clock = clock
        self._tracker = RestartTracker(spec, clock)
        self.log = LogBuffer(spec.log_lines)
        self.message = ""  # one line on the current state ("not healthy within 5s: ...")
        self.restarts = 0  # restarts since the last start()
        self.last_exit: ProcessExit | None = None
        self.started_at: datetime | None = None
        self._status = ProcessStatus.stopped
        self._started_mono: float | None = None
        self._health: asyncio.Task | None = None
        self._task: asyncio.Task | None = None
        self._lock = asyncio.Lock()
        self._stop_requested = False
        self._stop_event = asyncio.Event()
        self._log_file: TextIO | None = None
        self._waiters: list[tuple[frozenset[ProcessStatus], asyncio.Future]] = []

    # -- observable state -------------------------------------------------

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def status(self) -> ProcessStatus:
        return self._status

    @property
    def uptime(self) -> float | None:
        """Seconds since the current attempt was spawned, or None when not running."""
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
        return await self.wait_status(*FINAL, timeout=timeout)

    # -- control ------------------------------------------------------------

    async def start(self) -> None:
        """Spawn the first attempt and supervise it; a no-op if it is already supervised.

        A spawn error (see the subclass) is raised; nothing runs, the status
        becomes ``crashed`` and :attr:`last_exit` says why.
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
                await self._spawn()
            except BaseException:
                self._finish(ProcessStatus.crashed)
                raise
            self._task = asyncio.create_task(self._supervise(), name=f"supervise {self.name}")

    async def stop(self) -> None:
        """Stop the current attempt (see the subclass for how), cancel a pending restart; status ``stopped``."""
        async with self._lock:
            task = self._task
            if task is None or task.done():
                if self._status is ProcessStatus.crashed:
                    self._set_status(ProcessStatus.stopped)
            else:
                self._stop_requested = True
                self._stop_event.set()
                if self._attempt_running:
                    await self._terminate_attempt()
                await asyncio.wait({task})
            await self._released()

    # -- what a subclass provides -------------------------------------------

    async def _spawn(self) -> None:
        """Start one attempt: ``_set_status(starting)``, create it, then :meth:`_spawned`.

        A failure :meth:`_record` s a not-started exit and raises (one of
        :attr:`_attempt_errors` if the restart rule should try again).
        """
        raise NotImplementedError

    async def _await_exit(self) -> ProcessExit:
        """Wait for the current attempt to end, clean up after it and :meth:`_ended` it."""
        raise NotImplementedError

    @property
    def _attempt_running(self) -> bool:
        """An attempt runs that stop() must terminate."""
        raise NotImplementedError

    async def _terminate_attempt(self) -> None:
        """Ask the current attempt to stop (SIGTERM or the like, a kill after ``grace_seconds``)."""
        raise NotImplementedError

    def _attempt(self) -> Any:
        """What identifies the current attempt, for :meth:`_is_current`."""
        raise NotImplementedError

    def _is_current(self, attempt: Any) -> bool:
        """``attempt`` (from :meth:`_attempt`) is still the one running."""
        raise NotImplementedError

    def _abandon(self) -> None:
        """The event loop cancels supervision: take the attempt down rather than orphan it."""

    async def _released(self) -> None:
        """After stop(): remove what the run left (nothing by default)."""

    # -- the restart rule -----------------------------------------------------

    def _spawned(self, marker: str, health_url: str | None, nudge: asyncio.Event | None = None) -> None:
        """An attempt was created: start its clock, note ``marker`` in the log file, watch its health."""
        self._started_mono = self._clock()
        self._tracker.spawned()
        self.started_at = datetime.now(timezone.utc)
        self.message = ""
        self._file_marker(marker)
        if health_url:
            watch = watch_health(health_url, ready_timeout=self.spec.ready_timeout,
                                 check_interval=self.spec.check_interval, report=self._health_reporter(),
                                 nudge=nudge)
            self._health = asyncio.create_task(watch, name=f"health {self.name}")
        else:
            self._set_status(ProcessStatus.healthy)

    def _cancel_health(self) -> None:
        if self._health is not None:
            self._health.cancel()
            self._health = None

    def _ended(self, outcome: ProcessExit) -> None:
        """The attempt is over: stop its clock and record how it ended."""
        self._started_mono = None
        self.started_at = None
        self._record(outcome)

    async def _supervise(self) -> None:
        try:
            while True:
                outcome = await self._await_exit()
                if self._stop_requested:
                    self._finish(ProcessStatus.stopped)
                    return
                decision = self._decided(self._tracker.ended(outcome.exit_code, outcome.reason))
                if decision.delay is None:
                    # Exit 0 without a restart due is a normal end; anything else means it should be running.
                    ok = outcome.exit_code == 0 and not decision.gave_up
                    self._finish(ProcessStatus.stopped if ok else ProcessStatus.crashed)
                    return
                if not await self._restart_after(decision.delay):
                    return
        except asyncio.CancelledError:
            self._abandon()
            self._finish(ProcessStatus.stopped)
            raise

    async def _restart_after(self, delay: float) -> bool:
        """Wait ``delay`` (stop() cuts it short), then spawn again; False: it stays down (finished)."""
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
            except self._attempt_errors:
                reason = self.last_exit.reason if self.last_exit else "not started"
                decision = self._decided(self._tracker.not_spawned(reason))
                if decision.delay is None:
                    self._finish(ProcessStatus.crashed)
                    return False
                delay = decision.delay
                continue
            if self._stop_requested:  # stop() came while we were spawning
                await self._terminate_attempt()
            return True

    def _decided(self, decision: RestartDecision) -> RestartDecision:
        """Take the tracker's decision, setting the message when it stays down."""
        if decision.delay is None:
            self.message = decision.message
        return decision

    def _health_reporter(self) -> Reporter:
        attempt = self._attempt()

        def report(healthy: bool, message: str) -> bool:
            if self._stop_requested or not self._is_current(attempt):
                return False  # this attempt is over or ending: its health no longer matters
            self.message = message
            self._set_status(ProcessStatus.healthy if healthy else ProcessStatus.unhealthy)
            return True

        return report

    # -- bookkeeping --------------------------------------------------------

    @property
    def _who(self) -> str:
        return f"{self._noun}{self.name}"

    def _on_line(self, line: str) -> None:
        self.log.append(line)
        self._write_file(line)
        emit_logged(self.line, ProcessEvent(self.name, "line", self._status, line=line),
                    logger=self._logger, what=f"a line observer of {self._who}")

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
                    logger=self._logger, what=f"a status observer of {self._who}")

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
            self._logger.warning("%s: cannot open log file %s: %s", self._who, path, err)

    def _write_file(self, line: str) -> None:
        if self._log_file is None:
            return
        try:
            self._log_file.write(line + "\n")
        except OSError as err:  # disk full etc.: keep supervising, stop writing
            self._logger.warning("%s: cannot write log file: %s", self._who, err)
            self._log_file.close()
            self._log_file = None

    def _file_marker(self, text: str) -> None:
        stamp = datetime.now(timezone.utc).isoformat(timespec="seconds")
        self._write_file(f"[{self._marker} {stamp}] {self.name}: {text}")

