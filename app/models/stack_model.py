"""StackModel: one row per process of the runtime being looked at (Qt-free).

Sources, combined:

- a ``ProcessSupervisor`` (the local stack the app started: agent, trading,
  news, runtime/controller) -- :meth:`StackModel.bind_supervisor`; rows follow its
  status events and control goes straight to the supervisor;
- the Gateways of runs, as ``runtime_service`` reports them (``GET /runs`` ->
  ``gateway``) -- :meth:`StackModel.set_gateways`; controlled through the
  runtime service (start/stop/restart of the run);
- for a runtime the app does not own (remote, or another instance's stack),
  the services' reachability -- :meth:`StackModel.set_remote`; read-only rows.

Views read :meth:`rows` on a timer (uptime ticks) and whenever ``changed`` fires:
``changed("row", name)`` when one row changed, ``changed("row", None)`` for the whole table.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from app.models.observable import ObservableModel
from backend.supervisor.restart_policy import RESTART_REQUESTED_EXIT

SERVICE_ORDER = ("agent", "trading", "news", "runtime")
LABELS = {"agent": "agent service", "trading": "trading service", "news": "news service",
          "runtime": "runtime service (controller)"}
GATEWAY_PREFIX = "gateway-"


@dataclass
class ProcessRow:
    """What the Stack panel shows for one process.

    Args:
        name: supervisor name (``agent``) or ``gateway-<run_id>``.
        label: for humans ("trading service", "Gateway of run demo").
        kind: ``service`` (local, controllable), ``gateway`` (through runtime_service) or
            ``remote`` (reachability only).
        status: stopped/starting/healthy/unhealthy/crashed/restarting, or unreachable/unknown for remote rows.
        uptime_s: seconds running at ``as_of`` (monotonic), or None.
        last_exit: the last exit reason ("exited with code 3"), or "".
        message: the supervisor's one line on the current state.
        gave_up: crashed and not restarted again: its restarts stopped making progress
            (``message`` says after how many and why).
        reloaded: when and why it was last restarted on changed source (``stack up --reload``), or "".
    """

    name: str
    label: str
    kind: str
    status: str = "stopped"
    pid: int | None = None
    port: int | None = None
    uptime_s: float | None = None
    as_of: float = 0.0
    restarts: int = 0
    last_exit: str = ""
    message: str = ""
    gave_up: bool = False
    reloaded: str = ""

    @property
    def status_text(self) -> str:
        """The status as shown: "crashed, gave up" for a process no longer restarted."""
        return f"{self.status}, gave up" if self.gave_up else self.status

    @property
    def detail(self) -> str:
        """The one line shown beside the status: why it gave up, else a reload it is running since,
        else the last exit, else the message."""
        if self.gave_up:
            return self.message
        if self.reloaded and self.status in ("starting", "healthy", "unhealthy"):
            return self.reloaded
        return self.last_exit or self.message

    def uptime(self, now: float | None = None) -> float | None:
        if self.uptime_s is None:
            return None
        return self.uptime_s + ((now if now is not None else time.monotonic()) - self.as_of)

    @property
    def run_id(self) -> str | None:
        return self.name[len(GATEWAY_PREFIX):] if self.name.startswith(GATEWAY_PREFIX) else None


def format_uptime(seconds: float | None) -> str:
    if seconds is None:
        return ""
    seconds = int(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


class StackModel(ObservableModel):
    """The rows of the Stack panel (see the module docstring).

    Args:
        clock: monotonic clock (injectable for tests).
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.clock = clock
        self.supervisor: Any = None
        self.embedded: Any = None
        self.runtime: Any = None  # a ServiceClient of runtime_service, for Gateway rows
        self._services: dict[str, ProcessRow] = {}
        self._gateways: dict[str, ProcessRow] = {}
        self._remote: dict[str, ProcessRow] = {}
        self._unsubscribe: Callable[[], None] | None = None
        self.version = 0

    # -- reading --------------------------------------------------------------

    def rows(self) -> list[ProcessRow]:
        services = sorted(self._services.values(), key=_service_key)
        remote = sorted(self._remote.values(), key=_service_key)
        return services + remote + sorted(self._gateways.values(), key=lambda r: r.name)

    def row(self, name: str) -> ProcessRow:
        for row in self.rows():
            if row.name == name:
                return row
        raise KeyError(f"no process named {name!r} in the stack")

    def process(self, name: str) -> Any:
        """The ``ManagedProcess`` behind a local row (for its live log), or None."""
        if self.supervisor is not None and name in self.supervisor:
            return self.supervisor.get(name)
        return None

    def controllable(self, name: str) -> str | None:
        """None if the row can be started/stopped from here, else why not."""
        row = self.row(name)
        if row.kind == "remote":
            return "this runtime's processes are managed by the host that runs them"
        if row.kind == "embedded":
            return "the runtime controller runs inside this app; stop the local stack to stop it"
        if row.kind == "gateway" and self.runtime is None:
            return "the runtime service is not reachable"
        return None

    # -- sources --------------------------------------------------------------

    def bind_supervisor(self, supervisor: Any, embedded: Any = None) -> None:
        """Follow a local stack's supervisor (replacing any previous source of service rows).

        ``embedded``: the in-process runtime service (controller) of the app's
        own stack, shown as the ``runtime`` row (pid = the app's).
        """
        self.unbind()
        self.supervisor = supervisor
        self.embedded = embedded
        self._remote = {}
        supervisor.event.connect(self._on_process_event)  # held weakly: the model may go first
        self._unsubscribe = lambda: supervisor.event.disconnect(self._on_process_event, missing_ok=True)
        for proc in supervisor.processes:
            self._services[proc.name] = self._row_of(proc)
        self.refresh_embedded()
        self._changed(None)

    def refresh_embedded(self) -> None:
        """Update the in-process runtime row (call from the view's refresh timer)."""
        emb = self.embedded
        if emb is None:
            return
        status = "healthy" if emb.running else "stopped"
        self._services["runtime"] = ProcessRow(
            "runtime", LABELS["runtime"] + " -- in this app", "embedded", status, emb.pid if emb.running else None,
            emb.port, emb.uptime, self.clock(), 0, "", "runs in the desktop app's process")

    def unbind(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
        self._unsubscribe = None
        self.supervisor = None
        self.embedded = None
        self._services = {}
        self._changed(None)

    def set_remote(self, states: dict[str, Any], not_started: bool = False) -> None:
        """Reachability rows for a runtime the app does not own: ``{service: ServiceState}``.

        ``not_started``: the first run (nothing started, nothing reached yet): a service that
        does not answer is "not started", not a failure.
        """
        rows = {}
        for name in SERVICE_ORDER:
            state = states.get(name)
            status = {"up": "healthy", "down": "unreachable"}.get(getattr(state, "status", ""), "unknown")
            message = getattr(state, "detail", "")
            if not_started and status in ("unreachable", "unknown"):
                status, message = "not started", ""
            rows[name] = ProcessRow(name, LABELS[name], "remote", status, message=message, as_of=self.clock())
        if rows != self._remote:
            self._remote = rows
            self._changed(None)

    def clear_remote(self) -> None:
        if self._remote:
            self._remote = {}
            self._changed(None)

    def set_gateways(self, runs: list[dict[str, Any]]) -> None:
        """Gateway rows from runtime_service's ``GET /runs`` (runs whose Gateway ran in its lifetime)."""
        now = self.clock()
        rows = {}
        for run in runs:
            info = run.get("gateway") or {}
            if info.get("status", "stopped") == "stopped" and not info.get("last_exit") and not info.get("pid"):
                continue
            run_id = str(run.get("run_id"))
            last = info.get("last_exit") or {}
            reloaded = ""
            if last.get("exit_code") == RESTART_REQUESTED_EXIT:
                reloaded = "reloaded at a day boundary (source changed); its run resumed"
            rows[GATEWAY_PREFIX + run_id] = ProcessRow(
                GATEWAY_PREFIX + run_id, f"Gateway of run {run_id}", "gateway", str(info.get("status", "stopped")),
                info.get("pid"), info.get("port"), info.get("uptime_s"), now, int(info.get("restarts") or 0),
                str(last.get("reason") or ""), str(info.get("message") or ""), bool(info.get("gave_up")), reloaded)
        if {k: _comparable(v) for k, v in rows.items()} != {k: _comparable(v) for k, v in self._gateways.items()}:
            self._gateways = rows
            self._changed(None)
        else:
            self._gateways = rows

    # -- control --------------------------------------------------------------

    async def start(self, name: str) -> None:
        await self._control(name, "start")

    async def stop(self, name: str) -> None:
        await self._control(name, "stop")

    async def restart(self, name: str) -> None:
        await self._control(name, "restart")

    async def start_all(self) -> None:
        """Start every stopped or crashed local service, in stack order."""
        for row in self.rows():
            if row.kind == "service" and row.status in ("stopped", "crashed"):
                await self.start(row.name)

    async def stop_all(self) -> None:
        """Stop every Gateway, then every local service (last started first)."""
        for row in self.rows():
            if row.kind == "gateway" and row.status not in ("stopped", "crashed"):
                await self.stop(row.name)
        if self.supervisor is not None:
            await self.supervisor.stop_all()

    async def _control(self, name: str, verb: str) -> None:
        why = self.controllable(name)
        if why is not None:
            raise PermissionError(f"cannot {verb} {name}: {why}")
        row = self.row(name)
        if row.kind == "service":
            if verb == "restart":
                await self.supervisor.stop(name)
                verb = "start"
            await getattr(self.supervisor, verb)(name)
        else:
            await self.runtime.post(f"/runs/{row.run_id}/{verb}", {} if verb == "start" else None)

    # -- internals ------------------------------------------------------------

    def _on_process_event(self, event: Any) -> None:
        if getattr(event, "kind", "status") != "status" or self.supervisor is None:
            return
        if event.name in self.supervisor:
            self._services[event.name] = self._row_of(self.supervisor.get(event.name))
            self._changed(event.name)

    def _row_of(self, proc: Any) -> ProcessRow:
        last = proc.last_exit
        reload = (getattr(self.supervisor, "reloads", None) or {}).get(proc.name)
        reloaded = ""
        if reload is not None:
            at = time.strftime("%H:%M:%S", time.localtime(reload.at))
            times = f" ({reload.count} reloads)" if reload.count > 1 else ""
            reloaded = f"reloaded at {at}{times}: {reload.reason}"
        return ProcessRow(proc.name, LABELS.get(proc.name, proc.name), "service", proc.status.value, proc.pid,
                          proc.port, proc.uptime, self.clock(), proc.restarts, last.reason if last else "",
                          proc.message, bool(getattr(proc, "gave_up", False)), reloaded)

    def _changed(self, name: str | None) -> None:
        self.version += 1
        self._emit("row", name)


def _service_key(row: ProcessRow) -> tuple[int, str]:
    return (SERVICE_ORDER.index(row.name) if row.name in SERVICE_ORDER else len(SERVICE_ORDER), row.name)


def _comparable(row: ProcessRow) -> tuple:
    return (row.status, row.pid, row.port, row.restarts, row.last_exit, row.message, row.gave_up, row.reloaded)
