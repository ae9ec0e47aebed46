"""RuntimeController: the runtime logic, embedded in runtime_service and the app.

It creates runs from workspaces, spawns one Gateway subprocess per active run
through a :class:`ProcessSupervisor` (restarted on failure, so a killed
Gateway comes back and resumes its run), stops and restarts it, relays
pause/resume to it over WebSocket, and reports run history and Gateway
health. ``runtime_service`` is a thin HTTP layer over this class; the desktop
app embeds the very same class in-process.
"""

from __future__ import annotations

import logging
import sys
from typing import TYPE_CHECKING, Any

import httpx

from backend.errors import BadRequestError, ConflictError, NotFoundError, UnavailableError
from backend.paths import PROJECT_ROOT
from backend.control_plane.gateway_command import COMMAND_TIMEOUT_S, send_command
from backend.schema.commands import Command, Pause, Resume, SetPace
from backend.control_plane.gateway_restart import GatewayRestartPolicy, checkpoint_probe
from backend.supervisor.ports import free_port
from backend.supervisor.process_spec import ProcessSpec, ProcessStatus, RestartPolicy
from backend.supervisor.supervisor import ProcessSupervisor
from backend.security.tokens import Role, TokenRegistry
from backend.signals import Signal, emit_logged
from backend.storage.run_store import RunStore

if TYPE_CHECKING:
    from backend.config import Settings

log = logging.getLogger(__name__)

GATEWAY_PREFIX = "gateway-"
FINISHED_RUN_STATUSES = ("completed", "failed", "stopped")


def settings_env(settings: Settings) -> dict[str, str]:
    """The environment that gives a child process settings equal to ``settings``.

    Derived from every field of :class:`~backend.config.Settings`. The role
    tokens and the tokens file are blanked (a child inherits its parent's
    environment): a caller hands the tokens a child needs explicitly, e.g.
    ``TokenRegistry.as_env()``.
    """
    from backend.config import TOKEN_FIELDS, env_name, settings_to_env

    return {**settings_to_env(settings, exclude=TOKEN_FIELDS),
            **{env_name(name): "" for name in TOKEN_FIELDS}}


class RuntimeController:
    """Spawns, watches, restarts and stops the Gateway of each run.

    Args:
        settings: runtime settings (data roots, service URLs, sandbox).
        store: the runs/ store.
        supervisor: process supervisor to use (default: a private one).
        registry: tokens handed to each Gateway (empty: open, loopback only).
        host: interface the Gateways bind.
        restart_policy: when a crashed Gateway is restarted and when it is given up on.
        command_timeout: seconds a pause/resume/pace relay may take before it is a 504.

    Signals (psygnal, see :mod:`backend.signals`):
        ``changed(info)``: :meth:`gateway_info` of a run on every status change of its Gateway process.
    """

    changed = Signal(object)

    def __init__(self, settings: Settings, store: RunStore | None = None, supervisor: ProcessSupervisor | None = None,
                 registry: TokenRegistry | None = None, host: str = "127.0.0.1",
                 restart_policy: GatewayRestartPolicy | None = None,
                 command_timeout: float = COMMAND_TIMEOUT_S) -> None:
        self.settings = settings
        self.restart_policy = restart_policy or GatewayRestartPolicy()
        self.command_timeout = command_timeout
        self.store = store or RunStore.from_settings(settings)
        self.supervisor = supervisor or ProcessSupervisor()
        self.registry = registry or TokenRegistry()
        self.host = host
        self.supervisor.event.connect(self._on_process_event)  # held weakly: a dropped controller stops listening

    # -- observers ----------------------------------------------------------------
    def _on_process_event(self, event: Any) -> None:
        name = getattr(event, "name", None) or getattr(getattr(event, "process", None), "name", "")
        if not str(name).startswith(GATEWAY_PREFIX):
            return
        run_id = str(name)[len(GATEWAY_PREFIX):]
        emit_logged(self.changed, self.gateway_info(run_id), logger=log, what="an observer of the runtime controller")

    # -- runs -------------------------------------------------------------------------
    def create_run(self, workspace: str = "default", run_id: str | None = None,
                   overrides: dict[str, Any] | None = None) -> str:
        return self.store.create_run(workspace, run_id=run_id, overrides=overrides)

    def list_runs(self) -> list[dict[str, Any]]:
        return [self._with_gateway(row) for row in self.store.list_runs()]

    def run_summary(self, run_id: str) -> dict[str, Any]:
        return self._with_gateway(self.store.summary(run_id))

    def _with_gateway(self, row: dict[str, Any]) -> dict[str, Any]:
        """The history row plus its Gateway; a run whose Gateway was given up on says so.

        Its runtime_state.json still says what the killed Gateway last wrote
        ("running"), so the status comes from the supervisor instead.
        """
        info = row["gateway"] = self.gateway_info(row["run_id"])
        row["status_detail"] = None
        if info.get("gave_up") and row.get("status") not in FINISHED_RUN_STATUSES:
            row["status"] = "crashed"
            row["status_detail"] = (f"the Gateway was not restarted: {info.get('message')}; "
                                    f"start the run again once the cause is fixed")
        return row

    def run_state(self, run_id: str) -> dict[str, Any]:
        self.store.require(run_id)
        return {"runtime_state": self.store.read_runtime_state(run_id),
                "server_state": self.store.read_server_state(run_id)}

    # -- the Gateway process -----------------------------------------------------------
    def _name(self, run_id: str) -> str:
        self.store.paths(run_id)  # validates the id
        return GATEWAY_PREFIX + run_id

    def _process(self, run_id: str) -> Any | None:
        name = self._name(run_id)
        return self.supervisor.get(name) if name in self.supervisor else None

    def gateway_info(self, run_id: str) -> dict[str, Any]:
        proc = self._process(run_id)
        if proc is None:
            return {"status": "stopped", "pid": None, "port": None, "url": None, "restarts": 0, "last_exit": None,
                    "gave_up": False, "message": ""}
        last = proc.last_exit
        return {
            "status": proc.status.value, "pid": proc.pid, "port": proc.port,
            "url": f"ws://{self.host}:{proc.port}/" if proc.port else None,
            "restarts": proc.restarts, "gave_up": proc.gave_up, "message": proc.message,
            "last_exit": None if last is None else last.model_dump(mode="json"),
            "uptime_s": proc.uptime,
        }

    async def start_run(self, run_id: str, *, paused: bool = False, pace: float | None = None,
                        port: int | None = None, wait: bool = True) -> dict[str, Any]:
        """Spawn the run's Gateway (restarted on failure) and wait until it is healthy."""
        paths = self.store.require(run_id)
        proc = self._process(run_id)
        if proc is not None and proc.status.running:
            raise ConflictError(f"run {run_id!r} already has a running Gateway (pid {proc.pid})")
        if proc is not None:
            await self.supervisor.remove(proc.name)
        port = port or free_port(self.host)
        argv = [sys.executable, "-m", "gateway", "--run-id", run_id, "--host", self.host, "--port", str(port)]
        if paused:
            argv.append("--paused")
        if pace is not None:
            if pace < 0:
                raise BadRequestError("pace must be >= 0 seconds per day")
            argv += ["--pace", str(pace)]
        from backend.sandbox.settings_store import SandboxSettingsStore

        # New Gateways run their skills in the sandbox an admin chose last.
        effective = SandboxSettingsStore(self.settings).apply(self.settings)
        env = {**settings_env(effective), **self.registry.gateway_env(run_id)}  # its own run credential, never the secret
        spec = ProcessSpec(
            name=self._name(run_id), argv=argv, env=env, cwd=PROJECT_ROOT,
            log_path=paths.logs_dir / "gateway.log", health_url=f"http://{self.host}:{port}/health",
            ready_timeout=60.0, restart=RestartPolicy.on_failure, grace_seconds=10.0, host=self.host, port=port,
            progress=checkpoint_probe(self.store, run_id), **self.restart_policy.spec_fields(),
        )
        self.supervisor.add(spec)
        await self.supervisor.start(spec.name, wait_ready=wait)
        return self.gateway_info(run_id)

    async def stop_run(self, run_id: str) -> dict[str, Any]:
        """Stop the Gateway: SIGTERM (it finishes the current stage and flushes), SIGKILL after the grace."""
        self.store.require(run_id)
        proc = self._process(run_id)
        if proc is None:
            raise NotFoundError(f"run {run_id!r} has no Gateway")
        await self.supervisor.stop(proc.name)
        return self.gateway_info(run_id)

    async def restart_run(self, run_id: str) -> dict[str, Any]:
        proc = self._process(run_id)
        port = proc.port if proc is not None else None
        if proc is not None:
            await self.supervisor.stop(proc.name)
        return await self.start_run(run_id, port=port)

    async def _command(self, run_id: str, command: Command) -> dict[str, Any]:
        """Send one command to the run's Gateway as admin and return its reply (503/504 when it cannot)."""
        info = self.gateway_info(run_id)
        status = info["status"]
        if status in (ProcessStatus.starting.value, ProcessStatus.restarting.value):
            raise UnavailableError(f"run {run_id!r}: its Gateway is {status}; try again in a moment")
        if status not in (ProcessStatus.healthy.value, ProcessStatus.unhealthy.value) or not info["url"]:
            raise ConflictError(f"run {run_id!r} has no running Gateway")
        token = self.registry.tokens.get(Role.admin) or self.registry.tokens.get(Role.operator)
        return await send_command(run_id, info["url"], token, command, self.command_timeout)

    async def pause(self, run_id: str) -> dict[str, Any]:
        return await self._command(run_id, Pause())

    async def resume(self, run_id: str) -> dict[str, Any]:
        return await self._command(run_id, Resume())

    async def set_pace(self, run_id: str, seconds: float) -> dict[str, Any]:
        return await self._command(run_id, SetPace(seconds=seconds))

    async def gateway_health(self, run_id: str) -> dict[str, Any] | None:
        info = self.gateway_info(run_id)
        if not info["port"]:
            return None
        try:
            async with httpx.AsyncClient(timeout=2.0) as client:
                response = await client.get(f"http://{self.host}:{info['port']}/health")
            return response.json()
        except (httpx.HTTPError, ValueError):
            return None

    def logs(self, run_id: str, tail: int = 200) -> list[str]:
        proc = self._process(run_id)
        if proc is not None:
            return proc.lines()[-tail:]
        path = self.store.require(run_id).logs_dir / "gateway.log"
        if not path.is_file():
            return []
        return path.read_text(encoding="utf-8", errors="replace").splitlines()[-tail:]

    def follow(self, run_id: str):
        proc = self._process(run_id)
        if proc is None:
            raise NotFoundError(f"run {run_id!r} has no Gateway")
        return proc.follow(backlog=0, forever=True)

    async def shutdown(self) -> None:
        """Stop every Gateway this controller started."""
        for proc in list(self.supervisor.processes):
            if proc.name.startswith(GATEWAY_PREFIX):
                await self.supervisor.stop(proc.name)


