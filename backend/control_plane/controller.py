"""RuntimeController: the runtime logic, embedded in runtime_service and the app.

It creates runs from workspaces, launches one Gateway per active run through
the launcher ``GATEWAY_LAUNCHER`` names (a child process of a
:class:`ProcessSupervisor`, a docker container or a Kubernetes Pod; see
:mod:`backend.control_plane.gateway_launchers`), restarted on failure under
the progress rule so a killed Gateway comes back and resumes its run, stops
and restarts it, relays pause/resume to it over WebSocket, and reports run
history, Gateway health and the URL clients reach each Gateway at. ``runtime_service`` is a thin HTTP layer over this class; the desktop
app embeds the very same class in-process.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import httpx

from backend.control_plane.gateway_launchers import GATEWAY_PREFIX, GatewayLaunch, LauncherError, make_launcher
from backend.control_plane.gateway_launchers.workload import WorkloadError
from backend.errors import BadRequestError, ConflictError, NotFoundError, UnavailableError, UpstreamTimeoutError
from backend.control_plane.gateway_command import COMMAND_TIMEOUT_S, send_command
from backend.schema.commands import Command, Pause, RestartAtDayBoundary, Resume, SetPace
from backend.control_plane.gateway_restart import GatewayRestartPolicy, checkpoint_probe
from backend.supervisor.process_spec import ProcessStatus
from backend.supervisor.supervisor import ProcessSupervisor
from backend.security.tokens import Role, TokenRegistry
from backend.signals import Signal, emit_logged
from backend.storage.run_store import RunStore

if TYPE_CHECKING:
    from backend.config import Settings

log = logging.getLogger(__name__)

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
        host: interface the Gateways bind (subprocess launcher).
        restart_policy: when a crashed Gateway is restarted and when it is given up on.
        command_timeout: seconds a pause/resume/pace relay may take before it is a 504.
        launcher: where Gateways run (default: the one ``settings.gateway_launcher`` names).
        preferred_port: the port the first Gateway gets when it is free (a local stack's
            ``GATEWAY_PORT``); None: every Gateway gets a free port (subprocess launcher).

    Raises:
        LauncherError: the launcher cannot be used (no docker engine, no cluster, or a
            container launcher without tokens: its Gateways listen beyond loopback).

    Signals (psygnal, see :mod:`backend.signals`):
        ``changed(info)``: :meth:`gateway_info` of a run on every status change of its Gateway process.
    """

    changed = Signal(object)

    def __init__(self, settings: Settings, store: RunStore | None = None, supervisor: ProcessSupervisor | None = None,
                 registry: TokenRegistry | None = None, host: str = "127.0.0.1",
                 restart_policy: GatewayRestartPolicy | None = None,
                 command_timeout: float = COMMAND_TIMEOUT_S, launcher: Any = None,
                 preferred_port: int | None = None) -> None:
        self.settings = settings
        self.restart_policy = restart_policy or GatewayRestartPolicy()
        self.command_timeout = command_timeout
        self.store = store or RunStore.from_settings(settings)
        self.supervisor = supervisor or ProcessSupervisor()
        self.registry = registry or TokenRegistry()
        self.host = host
        self.launcher = launcher or make_launcher(settings, self.supervisor, host, preferred_port)
        if self.launcher.kind != "subprocess" and not self.registry.configured:
            raise LauncherError(f"the {self.launcher.kind} Gateway launcher needs tokens (its Gateways listen "
                                f"beyond loopback): set EVOTRADERS_ADMIN_TOKEN or EVOTRADERS_TOKENS_FILE")
        self.launcher.event.connect(self._on_process_event)  # held weakly: a dropped controller stops listening

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
        self._name(run_id)  # validates the id
        return self.launcher.get(run_id)

    def gateway_info(self, run_id: str) -> dict[str, Any]:
        proc = self._process(run_id)
        if proc is None:
            return {"status": "stopped", "pid": None, "port": None, "url": None, "restarts": 0, "last_exit": None,
                    "gave_up": False, "message": ""}
        last = proc.last_exit
        return {
            "status": proc.status.value, "pid": proc.pid, "port": proc.port,
            "url": self.launcher.url(run_id, proc),
            "restarts": proc.restarts, "gave_up": proc.gave_up, "message": proc.message,
            "last_exit": None if last is None else last.model_dump(mode="json"),
            "uptime_s": proc.uptime,
        }

    async def start_run(self, run_id: str, *, paused: bool = False, pace: float | None = None,
                        port: int | None = None, wait: bool = True) -> dict[str, Any]:
        """Launch the run's Gateway (restarted on failure) and wait until it is healthy."""
        paths = self.store.require(run_id)
        proc = self._process(run_id)
        if proc is not None and proc.status.running:
            raise ConflictError(f"run {run_id!r} already has a running Gateway (pid {proc.pid})")
        args = ["--run-id", run_id]
        if paused:
            args.append("--paused")
        if pace is not None:
            if pace < 0:
                raise BadRequestError("pace must be >= 0 seconds per day")
            args += ["--pace", str(pace)]
        from backend.sandbox.settings_store import SandboxSettingsStore

        # New Gateways run their skills in the sandbox an admin chose last.
        effective = SandboxSettingsStore(self.settings).apply(self.settings)
        env = {**settings_env(effective), **self.registry.gateway_env(run_id)}  # its own run credential, never the secret
        launch = GatewayLaunch(run_id=run_id, args=args, env=env, log_path=paths.logs_dir / "gateway.log",
                               progress=checkpoint_probe(self.store, run_id),
                               restart_fields=self.restart_policy.spec_fields(), port=port)
        try:
            await self.launcher.launch(launch, wait=wait)
        except WorkloadError as err:
            raise UnavailableError(f"run {run_id!r}: its Gateway could not be started: {err}") from None
        return self.gateway_info(run_id)

    async def stop_run(self, run_id: str) -> dict[str, Any]:
        """Stop the Gateway: SIGTERM (it finishes the current stage and flushes), SIGKILL after the grace."""
        self.store.require(run_id)
        proc = self._process(run_id)
        if proc is None:
            raise NotFoundError(f"run {run_id!r} has no Gateway")
        await self.launcher.stop(run_id)
        return self.gateway_info(run_id)

    async def restart_run(self, run_id: str) -> dict[str, Any]:
        proc = self._process(run_id)
        port = proc.port if proc is not None else None
        if proc is not None:
            await self.launcher.stop(run_id)
        return await self.start_run(run_id, port=port)

    async def _command(self, run_id: str, command: Command) -> dict[str, Any]:
        """Send one command to the run's Gateway as admin and return its reply (503/504 when it cannot)."""
        info = self.gateway_info(run_id)
        status = info["status"]
        if status in (ProcessStatus.starting.value, ProcessStatus.restarting.value):
            raise UnavailableError(f"run {run_id!r}: its Gateway is {status}; try again in a moment")
        proc = self._process(run_id)
        url = self.launcher.control_url(proc) if proc is not None else None
        if status not in (ProcessStatus.healthy.value, ProcessStatus.unhealthy.value) or not url:
            raise ConflictError(f"run {run_id!r} has no running Gateway")
        token = self.registry.tokens.get(Role.admin) or self.registry.tokens.get(Role.operator)
        return await send_command(run_id, url, token, command, self.command_timeout)

    async def pause(self, run_id: str) -> dict[str, Any]:
        return await self._command(run_id, Pause())

    async def resume(self, run_id: str) -> dict[str, Any]:
        return await self._command(run_id, Resume())

    async def set_pace(self, run_id: str, seconds: float) -> dict[str, Any]:
        return await self._command(run_id, SetPace(seconds=seconds))

    async def restart_at_day_boundary(self, run_id: str) -> dict[str, Any]:
        """Ask the run's Gateway to exit after the current day; its supervisor starts it again at once.

        The new process runs the current source and resumes the same run from the
        day's checkpoint (``stack up --reload`` sends this when Gateway code changed).
        """
        return await self._command(run_id, RestartAtDayBoundary())

    async def restart_gateways_at_day_boundary(self) -> list[str]:
        """:meth:`restart_at_day_boundary` for every running Gateway; the run ids asked.

        A Gateway that cannot be asked (starting, unreachable) is logged and skipped.
        """
        asked = []
        for proc in list(self.launcher.handles()):
            run_id = str(proc.name)[len(GATEWAY_PREFIX):]
            if proc.status not in (ProcessStatus.healthy, ProcessStatus.unhealthy):
                continue
            try:
                await self.restart_at_day_boundary(run_id)
            except (ConflictError, UnavailableError, UpstreamTimeoutError) as err:
                log.warning("reload: the Gateway of run %s was not asked to restart: %s", run_id, err)
                continue
            asked.append(run_id)
        return asked

    async def gateway_health(self, run_id: str) -> dict[str, Any] | None:
        proc = self._process(run_id)
        url = self.launcher.health_url(proc) if proc is not None else None
        if not url:
            return None
        try:
            # verify only for https (the CA bundle costs ~30 ms of CPU per client, for nothing over http)
            async with httpx.AsyncClient(timeout=2.0, trust_env=False, verify=url.startswith("https://")) as client:
                response = await client.get(url)
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
        await self.launcher.shutdown()


