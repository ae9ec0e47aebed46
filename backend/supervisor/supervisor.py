"""ProcessSupervisor: a named set of child processes, started in order, stopped in reverse.

Used by the RuntimeController (one Gateway per run), by ``evotraders stack``
(the four services) and, embedded, by the desktop app. Qt-free: the desktop
app connects its models to the :attr:`ProcessSupervisor.event` signal (psygnal).

    async with ProcessSupervisor() as sup:
        sup.add(ProcessSpec("trading_service", [sys.executable, "-m", "backend.apps.trading_service"],
                            health_url="http://127.0.0.1:8001/health", port=8001,
                            restart=RestartPolicy.on_failure, log_path=logs / "trading_service.log"))
        await sup.start_all()
        ...
    # leaving the block stops everything, last started first
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass

from backend.signals import Signal, emit_logged
from backend.supervisor.forkserver import ENV_VAR as FORKSERVER_ENV
from backend.supervisor.managed_process import ManagedProcess
from backend.supervisor.restart_policy import Clock
from backend.supervisor.process_spec import ProcessEvent, ProcessSpec, ProcessStatus

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Reload:
    """The last :meth:`ProcessSupervisor.reload` of a process: how many so far, when (epoch s), and why."""

    count: int
    at: float
    reason: str


class ProcessSupervisor:
    """Owns several :class:`ManagedProcess` objects by name.

    Args:
        clock: monotonic seconds handed to every process (uptime, restart rule; tests inject one).
        forkserver: address of a preloading fork server for ``python -m`` children
            (default: ``EVOTRADERS_FORKSERVER`` from the environment, else none).

    Signals (psygnal, see :mod:`backend.signals`), relaying every process's,
    including processes added after the observer connected:
        ``event(ProcessEvent)``: every status change of any process.
        ``line(ProcessEvent)``: every output line of any process.
    """

    event = Signal(object)
    line = Signal(object)

    def __init__(self, clock: Clock = time.monotonic, forkserver: str | None = None) -> None:
        self._clock = clock
        # A stack's fork server hands itself on to its children's supervisors (runtime_service's Gateways).
        self.forkserver = forkserver if forkserver is not None else os.environ.get(FORKSERVER_ENV) or None
        self._procs: dict[str, ManagedProcess] = {}
        self._start_order: list[str] = []
        self.reloads: dict[str, Reload] = {}  # per process, its last reload (``stack up --reload``)

    # -- membership ---------------------------------------------------------

    def add(self, spec: ProcessSpec) -> ManagedProcess:
        """Register a process (not started yet)."""
        if spec.name in self._procs:
            raise ValueError(f"a process named {spec.name!r} is already supervised")
        proc = ManagedProcess(spec, self._clock, self.forkserver)
        # Bound methods, held weakly by the process: the supervisor owns it anyway.
        proc.event.connect(self._relay_event)
        proc.line.connect(self._relay_line)
        self._procs[spec.name] = proc
        return proc

    async def remove(self, name: str) -> None:
        """Stop a process and forget it."""
        proc = self.get(name)
        await proc.stop()
        self._procs.pop(name, None)
        if name in self._start_order:
            self._start_order.remove(name)

    def get(self, name: str) -> ManagedProcess:
        try:
            return self._procs[name]
        except KeyError:
            known = ", ".join(self._procs) or "none"
            raise KeyError(f"no process named {name!r} (known: {known})") from None

    def __getitem__(self, name: str) -> ManagedProcess:
        return self.get(name)

    def __contains__(self, name: object) -> bool:
        return name in self._procs

    def __iter__(self) -> Iterator[ManagedProcess]:
        return iter(list(self._procs.values()))

    def __len__(self) -> int:
        return len(self._procs)

    @property
    def processes(self) -> list[ManagedProcess]:
        return list(self._procs.values())

    def snapshot(self) -> list[dict]:
        """``as_dict()`` of every process, in the order they were added."""
        return [proc.as_dict() for proc in self._procs.values()]

    def _relay_event(self, event: ProcessEvent) -> None:
        # Logged here too, so a failing supervisor observer does not silence the process's own.
        emit_logged(self.event, event, logger=log, what=f"a status observer of the supervisor ({event.name})")

    def _relay_line(self, event: ProcessEvent) -> None:
        emit_logged(self.line, event, logger=log, what=f"a line observer of the supervisor ({event.name})")

    # -- control ------------------------------------------------------------

    async def start(self, name: str, *, wait_ready: bool = False, timeout: float | None = None) -> ManagedProcess:
        """Start one process (see :meth:`ManagedProcess.start` for the errors it raises)."""
        proc = self.get(name)
        await proc.start()
        if name in self._start_order:
            self._start_order.remove(name)
        self._start_order.append(name)
        if wait_ready:
            await proc.wait_ready(timeout if timeout is not None else proc.spec.ready_timeout + 5.0)
        return proc

    async def start_all(self, *, wait_ready: bool = True, parallel: bool = False) -> dict[str, ProcessStatus]:
        """Start every process in the order added, each ready before the next.

        With ``parallel`` every process is spawned at once (still in order)
        and then all are awaited: independent services come up in the time
        of the slowest, not the sum. Errors propagate (a port conflict, an
        unspawnable command); the caller decides whether to ``stop_all()``.
        Returns each process's status.
        """
        if parallel:
            names = list(self._procs)
            # Spawned concurrently: a fork server forks them all as soon as it is ready.
            results = await asyncio.gather(*(self._procs[name].start() for name in names), return_exceptions=True)
            for name in names:
                if name in self._start_order:
                    self._start_order.remove(name)
                self._start_order.append(name)
            for result in results:
                if isinstance(result, BaseException):
                    raise result
            if wait_ready:
                await asyncio.gather(*(proc.wait_ready() for proc in self._procs.values()))
        else:
            for name in list(self._procs):
                await self.start(name, wait_ready=wait_ready)
        return {name: proc.status for name, proc in self._procs.items()}

    async def stop(self, name: str) -> None:
        await self.get(name).stop()

    async def reload(self, name: str, reason: str, *, timeout: float | None = None) -> ProcessStatus:
        """Restart a process on changed source and wait until it is ready; its status.

        Noted in :attr:`reloads` and as a ``[reload]`` line in its log (``reason``: what changed);
        the status events of the stop and start go to observers as usual.
        """
        proc = self.get(name)
        previous = self.reloads.get(name)
        self.reloads[name] = Reload((previous.count if previous else 0) + 1, time.time(), reason)
        await proc.stop()
        await self.start(name)
        proc._on_line(f"[reload] restarted: {reason}")
        return await proc.wait_ready(timeout if timeout is not None else proc.spec.ready_timeout + 5.0)

    async def stop_all(self) -> None:
        """Stop every process, the last started first."""
        started = [n for n in reversed(self._start_order) if n in self._procs]
        others = [n for n in self._procs if n not in started]
        for name in started + others:
            await self._procs[name].stop()

    async def __aenter__(self) -> "ProcessSupervisor":
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop_all()
