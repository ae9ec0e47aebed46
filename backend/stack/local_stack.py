"""LocalStack: the four services (or three, when the app embeds the runtime
controller) as supervised subprocesses on this machine.

Used by ``evotraders stack up`` and by the desktop app. With no tokens in the
environment a stack generates fresh random tokens, hands them to its children
and writes them to ``<state_dir>/tokens.json`` (0600) for local tools; a
``stack.json`` lock file records the owner pid and ports so a second
instance attaches instead of starting another stack
(:class:`backend.stack.launcher.StackLauncher` makes that decision).

With ``reload`` (``stack up --reload``, the desk's "Reload on source change")
a :class:`~backend.supervisor.watch.SourceWatcher` follows ``backend/`` and
``gateway/``: a saved service module restarts the services that import it at
once (:meth:`ProcessSupervisor.reload`), a saved Gateway module restarts
every running Gateway at its next day boundary, resuming its run. Such a
stack spawns fresh interpreters, never the preloading fork server (its
children would run the code it imported at start). runtime_service itself
restarting stops its Gateways after their current stage; the stack starts
those runs again, each resuming from its last completed day.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import psutil

from backend.paths import PROJECT_ROOT
from backend.signals import Signal, emit_logged
from backend.control_plane.controller import settings_env
from backend.stack.preload import fork_server_lists
from backend.supervisor.forkserver import ENV_VAR as FORKSERVER_ENV
from backend.supervisor.forkserver_process import ForkServerProcess
from backend.supervisor.ports import check_port_free, free_port
from backend.supervisor.process_spec import ProcessSpec, ProcessStatus, RestartPolicy
from backend.supervisor.supervisor import ProcessSupervisor
from backend.supervisor.watch import ReloadMap, ReloadPlan, SourceWatcher
from backend.security.run_credentials import RUN_SECRET_ENV
from backend.security.tokens import TokenRegistry, generate_registry, registry_from_settings, write_tokens_file
from backend.storage.atomic import atomic_write_json

if TYPE_CHECKING:
    from backend.config import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ServiceDef:
    name: str
    module: str
    port_setting: str
    url_setting: str


SERVICES = (
    ServiceDef("agent", "backend.apps.agent_service", "agent_service_port", "agent_service_url"),
    ServiceDef("trading", "backend.apps.trading_service", "trading_service_port", "trading_service_url"),
    ServiceDef("news", "backend.apps.news_service", "news_service_port", "news_service_url"),
    ServiceDef("runtime", "backend.apps.runtime_service", "runtime_service_port", "runtime_service_url"),
)


def default_state_dir(settings: Settings) -> Path:
    return Path(settings.runs_dir).parent / ".stack"


def read_lock(state_dir: Path) -> dict[str, Any] | None:
    """The running stack recorded in ``state_dir``, if its owner is still alive."""
    try:
        data = json.loads((state_dir / "stack.json").read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None
    try:
        proc = psutil.Process(int(data["pid"]))
        # A recycled pid is not our stack: the creation time must match.
        if abs(proc.create_time() - float(data["pid_started"])) > 1.0:
            return None
    except (psutil.Error, KeyError, ValueError):
        return None
    return data


class LocalStack:
    """The local services, supervised.

    Args:
        settings: base settings (data roots, default ports).
        state_dir: where tokens.json, stack.json and the services' logs go.
        ports: per service name, a port (0 = pick a free one); default from settings.
        include_runtime_service: False when the caller runs no runtime service at all.
        embed_runtime: serve runtime_service from this process, over an in-process
            RuntimeController whose Gateways are this process's children.
        reload: restart what a saved source file affects (see the module docstring).
        watch_root: the tree watched under reload (default: the project's own).

    Signals (psygnal, see :mod:`backend.signals`):
        ``reloaded(ReloadPlan)``: after each batch of changes was acted on.
    """

    reloaded = Signal(object)

    def __init__(self, settings: Settings, state_dir: Path | None = None, ports: dict[str, int] | None = None,
                 include_runtime_service: bool = True, host: str = "127.0.0.1", embed_runtime: bool = False,
                 reload: bool = False, watch_root: Path | None = None) -> None:
        self.settings = settings
        self.reload = reload
        self.watch_root = Path(watch_root or PROJECT_ROOT)
        self.watcher: SourceWatcher | None = None
        self._up_done = False
        self.state_dir = Path(state_dir or default_state_dir(settings))
        self.host = host
        # embed_runtime: runtime_service runs in this process (EmbeddedRuntimeService)
        # around an in-process RuntimeController -- the desktop app's local stack.
        self.embed_runtime = embed_runtime
        self.embedded: Any = None
        spawn_runtime = include_runtime_service and not embed_runtime
        self.services = [s for s in SERVICES if spawn_runtime or s.name != "runtime"]
        given = ports or {}
        self.ports: dict[str, int] = {}
        for svc in SERVICES:
            port = given.get(svc.name, getattr(settings, svc.port_setting))
            self.ports[svc.name] = port or free_port(host)
        configured = registry_from_settings(settings)
        self.generated_tokens = not configured.configured
        # The run secret derives each Gateway's approval-filing credential; a stack
        # configured without one makes a fresh one (it lives only in its children's environment).
        self.tokens: TokenRegistry = (configured if configured.configured else generate_registry()).with_run_secret()
        # One preloading fork server per stack (settings.stack_preload): the services and their
        # Gateways are forked from it, each still its own process; started by up().
        self.forkserver: ForkServerProcess | None = None
        self.supervisor = ProcessSupervisor()
        self.urls = {svc.name: f"http://{host}:{self.ports[svc.name]}" for svc in SERVICES}
        # Set once up() has handed the services to the supervisor (or failed before it could),
        # and once the embedded runtime service answers: what wait_runtime() awaits.
        self._spawned = asyncio.Event()
        self._embedded_up = asyncio.Event()

    @property
    def tokens_file(self) -> Path:
        return self.state_dir / "tokens.json"

    def child_env(self, service: str | None = None) -> dict[str, str]:
        """The environment of a service child; only agent_service (which verifies run
        credentials) and runtime_service (which derives them for its Gateways) get the run secret."""
        env = settings_env(self.settings)
        for svc in SERVICES:
            env[svc.url_setting.upper()] = self.urls[svc.name]
        env.update(self.tokens.as_env())
        env.update(self.tokens.run_secret_env() if service in ("agent", "runtime") else {RUN_SECRET_ENV: ""})
        if self.forkserver is not None and self.forkserver.address:
            env[FORKSERVER_ENV] = self.forkserver.address  # runtime_service forks its Gateways there too
        return env

    def child_settings(self) -> Any:
        """Settings as the children see them (for an embedded RuntimeController)."""
        updates = {svc.url_setting: self.urls[svc.name] for svc in SERVICES}
        return self.settings.model_copy(update=updates)

    def check_ports(self) -> None:
        """Every port must be free before anything is spawned (names the holder if not)."""
        for svc in self.services:
            check_port_free(self.host, self.ports[svc.name])
        if self.embed_runtime:
            check_port_free(self.host, self.ports["runtime"])

    def _specs(self) -> list[ProcessSpec]:
        specs = []
        # runtime_service first: a run's Gateway can start as soon as it answers,
        # while the other services are still importing.
        for svc in sorted(self.services, key=lambda s: s.name != "runtime"):
            port = self.ports[svc.name]
            specs.append(ProcessSpec(
                name=svc.name, argv=[sys.executable, "-m", svc.module, "--host", self.host, "--port", str(port)],
                env=self.child_env(svc.name), cwd=PROJECT_ROOT, log_path=self.state_dir / "logs" / f"{svc.name}.log",
                health_url=f"http://{self.host}:{port}/health", ready_timeout=30.0,
                restart=RestartPolicy.on_failure, max_restarts=3, backoff_base=0.5, backoff_cap=5.0,
                grace_seconds=5.0, host=self.host, port=port,
            ))
        return specs

    async def up(self, progress: Callable[[Any], None] | None = None) -> dict[str, str]:
        """Start every service and wait until all are healthy; returns their statuses."""
        try:
            return await self._up(progress)
        finally:
            self._spawned.set()
            self._embedded_up.set()  # wait_runtime() then sees whether it did come up

    async def wait_runtime(self) -> str:
        """Wait until runtime_service answers or failed; its status (``healthy`` when it serves).

        Awaitable while :meth:`up` is still starting the other services.
        """
        await self._spawned.wait()
        if self.embed_runtime:
            await self._embedded_up.wait()
            return "healthy" if self.embedded is not None and self.embedded.running else "stopped"
        if "runtime" not in self.supervisor:
            return "stopped"
        status = await self.supervisor.get("runtime").wait_status(
            ProcessStatus.healthy, ProcessStatus.unhealthy, ProcessStatus.crashed)
        return status.value

    async def _up(self, progress: Callable[[Any], None] | None) -> dict[str, str]:
        self.check_ports()
        self.state_dir.mkdir(parents=True, exist_ok=True)
        if self.generated_tokens:
            write_tokens_file(self.tokens_file, self.tokens)
        if self.settings.stack_preload and self.forkserver is None and not self.reload:
            # Started first and not awaited: it listens at once and forks each request
            # as soon as the shared modules are imported.
            self.forkserver = ForkServerProcess(self.state_dir / "logs" / "forkserver.log", cwd=PROJECT_ROOT)
            lists = fork_server_lists()
            await self.forkserver.start(lists["modules"], later=lists["later"], own=lists["own"],
                                        sibling_serves=lists["sibling_serves"],
                                        sibling_preloads=lists["sibling_preloads"])
            self.supervisor.forkserver = self.forkserver.address
        for spec in self._specs():
            if spec.name not in self.supervisor:
                self.supervisor.add(spec)
        for proc in self.supervisor.processes:
            proc.forkserver = self.supervisor.forkserver  # this up()'s server (or none)
        self._spawned.set()  # runtime_service is the supervisor's: wait_runtime() can follow it
        if progress is not None:
            self.supervisor.event.connect(progress)
        me = psutil.Process(os.getpid())
        atomic_write_json(self.state_dir / "stack.json", {
            "pid": os.getpid(), "pid_started": me.create_time(), "started_at": time.time(),
            "ports": self.ports, "urls": self.urls,
            "services": [s.name for s in self.services] + (["runtime"] if self.embed_runtime else []),
            "tokens_file": str(self.tokens_file) if self.generated_tokens else None,
        })
        # The services do not depend on each other to start: spawn them together.
        statuses = await self.supervisor.start_all(wait_ready=True, parallel=True)
        result = {name: status.value for name, status in statuses.items()}
        if self.embed_runtime:
            from backend.apps.runtime_service.embedded import EmbeddedRuntimeService

            self.embedded = EmbeddedRuntimeService(self.child_settings(), self.tokens, self.host,
                                                   self.ports["runtime"])
            await self.embedded.start()
            self._embedded_up.set()
            result["runtime"] = "healthy"
        self._up_done = True
        if self.reload:
            await self._start_watcher()
        return result

    # -- reload ------------------------------------------------------------------------

    async def set_reload(self, on: bool) -> None:
        """Turn reload on or off; on a running stack the watcher starts or stops at once.

        Turned on after a start with the fork server, restarts spawn fresh interpreters from then on.
        """
        self.reload = bool(on)
        if not self._up_done:
            return  # up() starts it
        if on:
            await self._start_watcher()
        elif self.watcher is not None:
            await self.watcher.stop()
            self.watcher = None

    async def _start_watcher(self) -> None:
        if self.watcher is not None:
            return
        for proc in self.supervisor.processes:
            proc.forkserver = None  # a fork server's children would run what it imported at start
        modules = {svc.name: svc.module for svc in self.services}
        self.watcher = SourceWatcher(ReloadMap(self.watch_root, modules), self._on_reload)
        await self.watcher.start()

    async def _on_reload(self, plan: ReloadPlan) -> None:
        why = plan.describe()
        names = [name for name in sorted(plan.services) if name in self.supervisor]
        if self.embed_runtime and any(path.startswith(("backend/apps/runtime_service/", "backend/control_plane/"))
                                      for path in plan.paths):
            log.warning("reload: the runtime controller runs inside this process; restart it to load %s",
                        ", ".join(plan.paths))
        runs: list[str] = []
        if "runtime" in names:
            runs = await self._running_runs()  # its Gateways stop with it: started again below
        statuses = await asyncio.gather(*(self.supervisor.reload(name, why) for name in names),
                                        return_exceptions=True)
        for name, status in zip(names, statuses):
            if isinstance(status, BaseException):
                log.warning("reload: %s did not come back: %s", name, status)
        if "runtime" in names:
            await self._start_runs(runs)
        elif plan.gateways:
            await self.restart_gateways_at_day_boundary()
        emit_logged(self.reloaded, plan, logger=log, what="a reload observer of the local stack")

    def _runtime_client(self) -> Any:
        from backend.clients.services import runtime_client
        from backend.security.tokens import Role

        return runtime_client(self.urls["runtime"], self.tokens.tokens.get(Role.admin), timeout=10.0)

    async def _list_runs(self, why: str) -> list[dict[str, Any]]:
        """runtime_service's run rows; none (and a warning naming ``why``) when it cannot answer."""
        from backend.clients.http import ServiceError

        client = self._runtime_client()
        try:
            return await client.list_runs()
        except ServiceError as err:
            log.warning("reload: cannot list %s: %s", why, err)
            return []
        finally:
            await client.http.aclose()

    async def _running_runs(self) -> list[str]:
        rows = await self._list_runs("runs before restarting runtime_service")
        live = (ProcessStatus.starting.value, ProcessStatus.healthy.value, ProcessStatus.unhealthy.value)
        return [row["run_id"] for row in rows if (row.get("gateway") or {}).get("status") in live]

    async def _start_runs(self, runs: list[str]) -> None:
        from backend.clients.http import ServiceError

        client = self._runtime_client()
        try:
            for run_id in runs:
                try:
                    await client.start_run(run_id)
                except ServiceError as err:
                    log.warning("reload: run %s was not started again: %s", run_id, err)
        finally:
            await client.http.aclose()

    async def restart_gateways_at_day_boundary(self) -> list[str]:
        """Ask every running Gateway to restart at its next day boundary; the run ids asked."""
        if self.embedded is not None:
            return await self.embedded.controller.restart_gateways_at_day_boundary()
        if "runtime" not in self.supervisor:
            return []
        from backend.control_plane.gateway_command import send_command
        from backend.errors import DomainError
        from backend.schema.commands import RestartAtDayBoundary
        from backend.security.tokens import Role

        rows = await self._list_runs("the running Gateways")
        asked = []
        for row in rows:
            info = row.get("gateway") or {}
            if info.get("status") not in (ProcessStatus.healthy.value, ProcessStatus.unhealthy.value):
                continue
            url = f"ws://{self.host}:{info['port']}/"
            try:
                await send_command(row["run_id"], url, self.tokens.tokens.get(Role.admin), RestartAtDayBoundary())
            except DomainError as err:
                log.warning("reload: the Gateway of run %s was not asked to restart: %s", row["run_id"], err)
                continue
            asked.append(row["run_id"])
        return asked

    async def down(self) -> None:
        """Stop every service (reverse order), then forget the lock."""
        if self.watcher is not None:
            await self.watcher.stop()
            self.watcher = None
        self._up_done = False
        if self.embedded is not None:
            await self.embedded.stop()  # its Gateways first
            self.embedded = None
        await self.supervisor.stop_all()
        if self.forkserver is not None:
            await self.forkserver.stop()
            self.forkserver = None
            self.supervisor.forkserver = None
        lock = self.state_dir / "stack.json"
        data = read_lock(self.state_dir)
        if data is None or int(data.get("pid", -1)) == os.getpid():
            lock.unlink(missing_ok=True)
