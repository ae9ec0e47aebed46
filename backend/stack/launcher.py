"""StackLauncher: start the local stack, or find the one that runs, and start a run on it.

The one place (Qt-free) where ``evotraders stack up`` and the desk decide
what "start the local stack" means:

- a stack another process owns (its ``stack.json`` lock names a live pid):
  nothing is spawned; the result says where it answers, to attach to it;
- ports already taken with no lock (a stack started by hand, another
  program): nothing is left running; the result names the port and holder
  and where to attach to what listens there;
- otherwise the stack is started and its statuses returned.

A run (the desk's demo run, ``stack up``'s default run) is created and
started through a :class:`RunStarter` (``backend.clients.services.RuntimeServiceClient``,
the desk's and the CLI's) as soon as runtime_service answers, so it can
overlap the other services' start-up.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Literal, Protocol

if TYPE_CHECKING:
    from backend.supervisor.ports import PortError

# The heavy parts (the stack, psutil, token files) are imported when used: the desk
# imports this module before its first paint.

# The desk's one-click run: the embedded default workspace, paced for a person
# to watch, with large orders, new shorts and concentrated positions held for approval.
DEMO_RUN: dict[str, Any] = {
    "workspace": "default",
    "pace_seconds": 1.0,
    "approval": {"mode": "threshold", "notional_threshold": 10000.0, "timeout_seconds": 600.0,
                 "on_timeout": "reject"},
}


class RunStarter(Protocol):
    """What starting a run needs from a runtime_service client (``RuntimeServiceClient`` has it)."""

    async def create_run(self, body: dict[str, Any]) -> str: ...

    async def start_run(self, run_id: str, *, paused: bool = False, pace: float | None = None) -> dict[str, Any]: ...


@dataclass(frozen=True)
class StackEndpoint:
    """Where a local stack's four services answer, and the admin token to use (None: an open stack).

    Args:
        urls: ``{agent, trading, news, runtime}`` -> ``http://host:port``.
        admin_token: the stack's admin token (from its tokens file), or None.
        owner_pid: the pid of the process that owns the stack, when known.
    """

    urls: dict[str, str]
    admin_token: str | None = field(default=None, repr=False)
    owner_pid: int | None = None

    @classmethod
    def from_lock(cls, lock: dict[str, Any]) -> "StackEndpoint":
        """The stack a ``stack.json`` lock describes (its tokens file read for the admin token)."""
        return cls(dict(lock["urls"]), _admin_token(lock.get("tokens_file")),
                   int(lock["pid"]) if lock.get("pid") is not None else None)


@dataclass(frozen=True)
class LaunchResult:
    """What :meth:`StackLauncher.launch` did.

    ``kind``: ``started`` (ours, ``statuses`` per service), ``running`` (another
    process's stack: attach to ``endpoint``), ``ports_taken`` (``error`` names the
    port and holder; nothing of ours is left running; ``endpoint`` is what listens there).
    ``reason`` is the one line to show when it is not ``started``.
    """

    kind: Literal["started", "running", "ports_taken"]
    endpoint: StackEndpoint
    statuses: dict[str, str] = field(default_factory=dict)
    reason: str = ""
    error: "PortError | None" = None

    @property
    def started(self) -> bool:
        return self.kind == "started"

    @property
    def problems(self) -> dict[str, str]:
        """Services of a started stack that did not become healthy: ``{name: status}``."""
        return {name: status for name, status in self.statuses.items() if status != "healthy"}


class StackLauncher:
    """Starts one local stack (a ``LocalStack``, or anything with its surface) or finds the running one.

    Args:
        stack: the stack to start (``state_dir``, ``urls``, ``tokens``, ``supervisor``,
            ``await up(progress)``, ``await down()``).
    """

    def __init__(self, stack: Any) -> None:
        self.stack = stack
        self.running = False  # our stack is up (launch succeeded, stop not called yet)

    @property
    def endpoint(self) -> StackEndpoint:
        """Where our own stack answers, with its admin token."""
        from backend.security.tokens import Role

        tokens = self.stack.tokens
        token = tokens.tokens.get(Role.admin) if tokens.configured else None
        return StackEndpoint(dict(self.stack.urls), token)

    def running_elsewhere(self) -> LaunchResult | None:
        """A ``running`` result if another live process owns a stack in our state directory, else None."""
        from backend.stack.local_stack import read_lock

        lock = read_lock(Path(self.stack.state_dir))
        if lock is None:
            return None
        found = StackEndpoint.from_lock(lock)
        return LaunchResult("running", found, reason=(
            f"A local stack is already running (app pid {found.owner_pid}, agent on {found.urls.get('agent')})"))

    async def launch(self, progress: Callable[[Any], None] | None = None) -> LaunchResult:
        """Start the stack unless one runs already or its ports are taken (see the module docstring)."""
        from backend.supervisor.ports import PortError

        found = self.running_elsewhere()
        if found is not None:
            return found
        try:
            statuses = await self.stack.up(progress=progress)
        except PortError as err:
            # Never a second stack beside whatever listens there: clean up, offer to look at it.
            await self.stack.down()
            tokens = Path(self.stack.state_dir) / "tokens.json"
            there = StackEndpoint(dict(self.stack.urls), _admin_token(tokens if tokens.exists() else None))
            return LaunchResult("ports_taken", there, reason=str(err), error=err)
        self.running = True
        return LaunchResult("started", self.endpoint, statuses)

    async def start_run(self, runs: RunStarter, body: dict[str, Any] | None = None, *, paused: bool = False,
                        pace: float | None = None) -> dict[str, Any]:
        """Create and start a run (default :data:`DEMO_RUN`) as soon as runtime_service answers.

        May be called while :meth:`launch` is still bringing the other services up
        (the Gateway does not need them to start). Returns ``{run_id, **gateway}``;
        the client's errors propagate.
        """
        wait = getattr(self.stack, "wait_runtime", None)
        if wait is not None:
            status = await wait()
            if status != "healthy":
                raise RuntimeError(f"runtime_service is {status}; cannot start a run")
        from backend.supervisor.forkserver import trace  # a no-op unless EVOTRADERS_STARTUP_TRACE is set

        trace("launcher create_run")
        run_id = await runs.create_run(dict(DEMO_RUN if body is None else body))
        trace("launcher start_run")
        gateway = await runs.start_run(run_id, paused=paused, pace=pace)
        return {"run_id": run_id, **(gateway or {})}

    async def stop(self) -> None:
        """Stop our stack (its services and, through them, their Gateways)."""
        self.running = False
        await self.stack.down()


def _admin_token(tokens_file: str | Path | None) -> str | None:
    if not tokens_file:
        return None
    from backend.security.tokens import Role, read_tokens_file

    return read_tokens_file(Path(tokens_file)).tokens.get(Role.admin)
