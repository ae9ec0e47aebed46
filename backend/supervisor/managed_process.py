"""One supervised child process: spawn, output capture, health, restart, stop."""

from __future__ import annotations

import asyncio
import logging
import signal
import time

from backend.supervisor.child import Child, ForkedChild, spawn_child
from backend.supervisor.ports import PortError, check_port_free
from backend.supervisor.procgroup import (
    ProcessIdentity,
    group_members,
    signal_group,
    wait_group_gone,
)
from backend.supervisor.process_spec import ProcessSpec, ProcessStatus
from backend.supervisor.restart_policy import Clock
from backend.supervisor.supervised import Supervised
from backend.schema.process import ProcessExit

log = logging.getLogger(__name__)


class ProcessStartError(RuntimeError):
    """A process could not be spawned (bad command, missing cwd, ...); the message says why."""


class ManagedProcess(Supervised):
    """One child process under supervision, with observable state.

    The child runs in its own session (so its whole process group can be
    signalled), gets SIGKILL from Linux if the supervisor dies, and has its
    stdout and stderr merged, read line by line into :attr:`log` (a bounded
    ring) and appended to ``spec.log_path``. Use it from one event loop, the
    one whose thread spawned it. The status, signals, restart loop and log
    file are :class:`~backend.supervisor.supervised.Supervised`'s.

    ``start()`` raises PortInUseError / PortError when ``spec.port`` is taken
    (nothing was spawned) and :class:`ProcessStartError` when the command could
    not be spawned; either way the status becomes ``crashed`` and
    :attr:`last_exit` says why. ``stop()`` sends SIGTERM to its process group,
    SIGKILL after ``grace_seconds``.

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

    _logger = log
    _noun = "process "
    _marker = "supervisor"
    _attempt_errors = (PortError, ProcessStartError)

    def __init__(self, spec: ProcessSpec, clock: Clock = time.monotonic, forkserver: str | None = None) -> None:
        super().__init__(spec, clock)
        self.forkserver = forkserver  # a fork server's address: ``python -m`` children are forked there
        self._proc: Child | ForkedChild | None = None
        self._identity: ProcessIdentity | None = None
        self._kill_note = ""
        self._output_seen = asyncio.Event()  # nudges the readiness probe (see health.watch_health)

    # -- observable state -------------------------------------------------

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

    async def restart(self) -> None:
        await self.stop()
        await self.start()

    # -- one attempt: a child process ------------------------------------------

    async def _spawn(self) -> None:
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
        self._spawned(f"started pid {proc.pid}: {' '.join(spec.argv)}", spec.health_url, nudge=self._output_seen)

    async def _await_exit(self) -> ProcessExit:
        proc = self._proc
        assert proc is not None  # _supervise awaits only a spawned child
        returncode = await proc.wait()
        requested = self._stop_requested  # read now: a stop() arriving during cleanup did not cause this exit
        self._cancel_health()
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
        self._ended(outcome)
        return outcome

    @property
    def _attempt_running(self) -> bool:
        return self._proc is not None and self._proc.returncode is None

    async def _terminate_attempt(self) -> None:
        proc = self._proc
        assert proc is not None  # called only while a child runs
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

    def _abandon(self) -> None:
        # The loop is going away: take the group with us rather than orphan it.
        if self._proc is not None:
            signal_group(self._proc.pid, signal.SIGKILL)
            self._proc.close()

    def _attempt(self) -> Child | ForkedChild | None:
        return self._proc

    def _is_current(self, attempt: object) -> bool:
        return self._proc is attempt

    def _on_line(self, line: str) -> None:
        self._output_seen.set()
        super()._on_line(line)
