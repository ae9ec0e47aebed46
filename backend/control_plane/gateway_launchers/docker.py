"""Gateways as docker containers, one per run (``GATEWAY_LAUNCHER=docker``), through the docker SDK.

Each attempt is a container of ``GATEWAY_IMAGE`` running ``gateway --run-id
... --host 0.0.0.0 --port 8765``, labelled (``base.labels``), on
``GATEWAY_DOCKER_NETWORK``, with the data volume (``GATEWAY_DOCKER_VOLUME``
at ``/data``; without one, this machine's runs/ and workspaces/ folders
bind-mounted at their own paths), a read-only root filesystem and its port
published on ``GATEWAY_PUBLISH_HOST``. The engine does not restart it: when
it ends, :class:`~.workload.SupervisedWorkload` applies the same progress
rule as for a child process and creates the next attempt on the same host
port. Its output is streamed from the engine into the run's
``logs/gateway.log``; stopping it removes the container.

This process reaches the Gateway by its container name on the network when
it is itself a container on that network (compose), else at the published
port.

When the run's skills will run in the docker sandbox (the floor
``SKILL_SANDBOX_MODE`` or the run's BOOTSTRAP, see :mod:`.skill_sandbox`),
the container gets what that sandbox needs: the engine's socket
(``GATEWAY_DOCKER_SOCKET``, its path on the engine's host; default the path
of this process's ``unix://`` ``DOCKER_HOST``) at ``/var/run/docker.sock``
with ``DOCKER_HOST`` pointing at it, the socket's group, and a staging folder
at the same path on the host and inside (``GATEWAY_DOCKER_STAGING_DIR``, as
``TMPDIR``): the sandbox bind-mounts each staged skill by its path, which the
engine resolves on its host. When any of that is missing the Gateway is not
started and the error says what to set: its skills never run with less
isolation than asked. (Copying the staged files in with ``put_archive``
instead would need no shared folder, but the engine refuses to copy into a
container whose root filesystem is read-only, as every skill container's is.)
A Pod-only mode (``kubernetes``) is refused the same way.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import tempfile
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from backend.control_plane.gateway_launchers.base import (
    COMPONENT_LABEL, CONTAINER_PORT, PART_OF, GatewayLaunch, LauncherError, labels, object_name,
)
from backend.control_plane.gateway_launchers.public_url import advertised_host
from backend.control_plane.gateway_launchers.remote import WorkloadLauncher
from backend.control_plane.gateway_launchers.skill_sandbox import effective_mode
from backend.control_plane.gateway_launchers.workload import LineSink, SupervisedWorkload, WorkloadError

if TYPE_CHECKING:
    from backend.config import Settings

log = logging.getLogger(__name__)

DATA_MOUNT = "/data"
SOCKET_MOUNT = "/var/run/docker.sock"  # where a Gateway container finds the engine
_PORT_KEY = f"{CONTAINER_PORT}/tcp"
WAIT_SLICE_S = 30.0  # one blocking wait on the engine; a slice that times out is simply waited again


def docker_client() -> Any:
    """A docker client from the environment (``DOCKER_HOST``); LauncherError when no engine answers."""
    import docker

    try:
        client = docker.from_env(timeout=60)
        client.ping()
    except Exception as err:  # noqa: BLE001 - every failure here means "no usable engine"
        raise LauncherError(f"the docker Gateway launcher cannot reach a docker engine "
                            f"({type(err).__name__}: {str(err)[:200]}); set DOCKER_HOST") from None
    return client


def exit_status(code: int) -> int:
    """An engine's exit code as a process return code: 128+N (killed by signal N) becomes -N."""
    return -(code - 128) if 128 < code < 128 + 65 else code


@dataclass(frozen=True)
class EngineAccess:
    """What a Gateway container needs for docker-sandboxed skills (paths on the engine's host)."""

    socket: str
    gid: int
    staging_dir: str

    def env(self) -> dict[str, str]:
        return {"DOCKER_HOST": f"unix://{SOCKET_MOUNT}", "TMPDIR": self.staging_dir,
                "EVOTRADERS_STAGING_DIR": self.staging_dir}

    def mounts(self) -> list[tuple[str, str]]:
        return [(self.socket, SOCKET_MOUNT), (self.staging_dir, self.staging_dir)]


def local_socket() -> str | None:
    """The socket path of this process's ``DOCKER_HOST`` (the SDK's default when unset); None if not unix://."""
    host = os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
    return host[len("unix://"):] if host.startswith("unix://") else None


def short(err: BaseException) -> str:
    explanation = getattr(err, "explanation", None)
    text = str(explanation or err)
    return text if len(text) < 300 else text[:300] + "..."


class DockerWorkload:
    """One run's Gateway container, attempt after attempt (see the module docstring)."""

    def __init__(self, client: Any, run_id: str, *, image: str, args: Sequence[str], env: Mapping[str, str],
                 network: str | None, volume: str | None, publish_host: str, data_dirs: Sequence[Path],
                 extra_mounts: Sequence[tuple[str, str]] = (), user: str | None = None,
                 entrypoint: Sequence[str] | None = None, engine: EngineAccess | None = None) -> None:
        self.client = client
        self.run_id = run_id
        # Scoped by the deployment's data: two deployments on one engine may both have a run "demo".
        self.container_name = object_name(run_id, scope=volume or (str(data_dirs[0]) if data_dirs else ""))
        self.image, self.args, self.env = image, list(args), {**env, **(engine.env() if engine else {})}
        self.engine = engine
        self.network, self.volume, self.publish_host = network, volume, publish_host
        self.data_dirs, self.extra_mounts, self.user = list(data_dirs), list(extra_mounts), user
        self.entrypoint = list(entrypoint) if entrypoint else None
        self.host_port: int | None = None  # kept across attempts: the Gateway's URL does not change
        self.health_url: str | None = None
        self.control_host: str | None = None
        self.ident: str | None = None
        self._container: Any = None

    @property
    def port(self) -> int | None:
        return self.host_port

    # -- the container -------------------------------------------------------------
    def _volumes(self) -> dict[str, dict[str, str]]:
        binds: dict[str, dict[str, str]] = {}
        if self.volume:
            binds[self.volume] = {"bind": DATA_MOUNT, "mode": "rw"}
        else:  # runtime_service on this machine: its own folders, at the same paths
            for folder in self.data_dirs:
                binds[str(folder)] = {"bind": str(folder), "mode": "rw"}
        for source, target in self.extra_mounts:
            binds[source] = {"bind": target, "mode": "ro"}
        for source, target in self.engine.mounts() if self.engine else ():
            binds[source] = {"bind": target, "mode": "rw"}
        return binds

    def _run(self, host_port: int | None) -> Any:
        command = ["gateway", *self.args, "--host", "0.0.0.0", "--port", str(CONTAINER_PORT)]
        # create + start, never containers.run: run() pulls a missing image, and nothing may be pulled.
        container = self.client.containers.create(
            self.image, command=command, entrypoint=self.entrypoint, name=self.container_name,
            labels=labels(self.run_id), environment={**self.env, "PYTHONUNBUFFERED": "1"},
            network=self.network, ports={_PORT_KEY: (self.publish_host, host_port)},
            volumes=self._volumes(), user=self.user, read_only=True, tmpfs={"/tmp": "rw,size=256m"},
            init=True, stop_signal="SIGTERM", group_add=[self.engine.gid] if self.engine else None,
        )
        container.start()
        return container

    def _create(self) -> None:
        import docker.errors

        try:
            try:
                container = self._run(self.host_port)
            except docker.errors.APIError as err:
                if self.host_port is None or "allocated" not in short(err) and "in use" not in short(err):
                    raise
                log.warning("%s: host port %s is taken; publishing on another", self.container_name, self.host_port)
                self._remove()
                container = self._run(None)
            container.reload()
            bindings = (container.attrs.get("NetworkSettings", {}).get("Ports") or {}).get(_PORT_KEY) or []
            if not bindings:
                raise WorkloadError(f"container {self.container_name} published no port "
                                    f"(status {container.status})")
            self.host_port = int(bindings[0]["HostPort"])
        except docker.errors.ImageNotFound:
            raise WorkloadError(f"image {self.image} not found on the docker engine; build it with "
                                f"scripts/build_image.sh (nothing is pulled)") from None
        except docker.errors.DockerException as err:
            raise WorkloadError(f"docker refused to start container {self.container_name}: {short(err)}") from None
        self._container = container
        self.ident = f"container {self.container_name} ({container.short_id})"
        self.control_host = self._control_host()
        port = CONTAINER_PORT if self.control_host == self.container_name else self.host_port
        self.health_url = f"http://{self.control_host}:{port}/health"

    def _control_host(self) -> str:
        """The container name when this process is a container on the same network, else the published host."""
        if self.network:
            try:
                attached = self.client.networks.get(self.network).attrs.get("Containers") or {}
            except Exception:  # noqa: BLE001 - no network info: use the published port
                attached = {}
            me = socket.gethostname()  # a container's hostname is its short id unless compose sets `hostname:`
            if any(cid.startswith(me) or (entry or {}).get("Name") == me for cid, entry in attached.items()):
                return self.container_name
        return advertised_host(self.publish_host)

    @property
    def control_port(self) -> int | None:
        return CONTAINER_PORT if self.control_host == self.container_name else self.host_port

    async def create(self) -> None:
        await asyncio.to_thread(self._create)

    def _stream(self, container: Any, sink: LineSink, loop: asyncio.AbstractEventLoop) -> int:
        import docker.errors
        import requests

        buffer = b""
        try:
            for chunk in container.logs(stream=True, follow=True, stdout=True, stderr=True):
                buffer += chunk
                *lines, buffer = buffer.split(b"\n")
                for line in lines:
                    loop.call_soon_threadsafe(sink, line.decode("utf-8", "replace").rstrip("\r"))
        except (docker.errors.DockerException, requests.RequestException) as err:
            loop.call_soon_threadsafe(sink, f"[launcher] log stream ended: {short(err)}")
        if buffer:
            loop.call_soon_threadsafe(sink, buffer.decode("utf-8", "replace"))
        for _ in range(1000):  # bounded: each slice is WAIT_SLICE_S
            try:
                return exit_status(int(container.wait(timeout=WAIT_SLICE_S)["StatusCode"]))
            except requests.exceptions.ReadTimeout:
                continue
            except docker.errors.NotFound:
                return -9  # removed under us (docker rm -f)
            except (docker.errors.DockerException, requests.RequestException) as err:
                raise WorkloadError(f"lost track of container {self.container_name}: {short(err)}") from None
        raise WorkloadError(f"container {self.container_name} did not end")

    async def wait_exit(self, sink: LineSink) -> int:
        container = self._container
        if container is None:
            raise WorkloadError("no container")
        loop = asyncio.get_running_loop()
        done: asyncio.Future[int] = loop.create_future()

        def work() -> None:
            try:
                result: Any = self._stream(container, sink, loop)
                ok = True
            except BaseException as err:  # noqa: BLE001 - handed to the loop
                result, ok = err, False

            def settle() -> None:
                if done.done():
                    return
                done.set_result(result) if ok else done.set_exception(result)

            loop.call_soon_threadsafe(settle)

        # A daemon thread: an engine that never answers must not hold the interpreter at exit.
        threading.Thread(target=work, name=f"docker-wait {self.container_name}", daemon=True).start()
        return await done

    def _terminate(self, grace: float) -> None:
        import docker.errors

        if self._container is None:
            return
        try:
            self._container.stop(timeout=max(1, int(round(grace))))
        except docker.errors.NotFound:
            pass
        except docker.errors.DockerException as err:
            log.warning("%s: stop failed (%s); killing it", self.container_name, short(err))
            try:
                self._container.kill()
            except docker.errors.DockerException:
                pass

    async def terminate(self, grace: float) -> None:
        await asyncio.to_thread(self._terminate, grace)

    def _remove(self) -> None:
        import docker.errors

        try:
            self.client.containers.get(self.container_name).remove(force=True)
        except docker.errors.NotFound:
            pass
        except docker.errors.DockerException as err:
            log.warning("%s: could not remove the container: %s", self.container_name, short(err))
        self._container = None

    async def remove(self) -> None:
        await asyncio.to_thread(self._remove)

    async def close(self) -> None:
        await self.remove()  # the container is all a run has on the engine


def data_owner(folder: Path) -> str | None:
    """``uid:gid`` owning ``folder`` (the container writes there as its owner), or None if absent."""
    try:
        st = os.stat(folder)
    except OSError:
        return None
    return f"{st.st_uid}:{st.st_gid}"


class DockerGatewayLauncher(WorkloadLauncher):
    """Gateway containers on a docker engine (see the module docstring).

    Args:
        settings: image, network, volume, publish host, public URL template, data folders.
        client: a docker client (default: from ``DOCKER_HOST``, checked on construction).
        extra_mounts: (host path, container path) pairs bind-mounted read-only (a test's stand-in image).
        entrypoint: overrides the image's entrypoint (a test's stand-in image).
    """

    kind = "docker"

    def __init__(self, settings: Settings, client: Any = None, *, extra_mounts: Sequence[tuple[str, str]] = (),
                 entrypoint: Sequence[str] | None = None) -> None:
        super().__init__(settings.gateway_public_url)
        self.settings = settings
        self.client = client or docker_client()
        self.extra_mounts, self.entrypoint = list(extra_mounts), entrypoint

    def engine_access(self, run_id: str) -> EngineAccess:
        """The engine's socket, its group and the staging folder for ``run_id``'s docker-sandboxed skills.

        Raises:
            WorkloadError: one of them is unknown or absent; the message names the setting.
        """
        s = self.settings
        why = f"run {run_id!r} runs its skills in the docker sandbox, so its Gateway container needs"
        local = local_socket()
        host_socket = s.gateway_docker_socket or local
        if not host_socket:
            raise WorkloadError(f"{why} the engine's socket: DOCKER_HOST={os.environ.get('DOCKER_HOST')} is not a "
                                f"unix:// socket; set GATEWAY_DOCKER_SOCKET to the socket's path on the engine's host")
        gid = None
        for candidate in (local, host_socket):
            try:
                gid = os.stat(candidate).st_gid if candidate else None
            except OSError:
                continue
            if gid is not None:
                break
        if gid is None:
            raise WorkloadError(f"{why} the engine's socket, and {host_socket} (GATEWAY_DOCKER_SOCKET) cannot be "
                                f"found here to learn its group; mount it into runtime_service or fix the path")
        staging = s.gateway_docker_staging_dir
        if staging is None:
            if s.gateway_docker_volume:
                raise WorkloadError(f"{why} a staging folder at the same path on the engine's host and inside: "
                                    f"set GATEWAY_DOCKER_STAGING_DIR (compose: EVOTRADERS_STAGING_DIR)")
            # runtime_service on the engine's host: a private folder of its own temp folder.
            staging = Path(tempfile.gettempdir()) / f"evotraders-gateway-staging-{os.getuid()}"
            staging.mkdir(mode=0o700, exist_ok=True)
            if staging.stat().st_uid != os.getuid():
                raise WorkloadError(f"{why} a staging folder; {staging} belongs to another user: "
                                    f"set GATEWAY_DOCKER_STAGING_DIR")
        if not Path(staging).is_dir():
            raise WorkloadError(f"{why} its staging folder GATEWAY_DOCKER_STAGING_DIR={staging}, which does not "
                                f"exist (it must be the same path on the engine's host and in runtime_service)")
        # Python's tempfile passes over a TMPDIR it cannot write (to /tmp, which the engine cannot see): refuse
        # instead. The Gateway runs as this process's user in compose (10001), as the data's owner on a host.
        if not os.access(staging, os.W_OK | os.X_OK):
            raise WorkloadError(f"{why} a staging folder it can write; GATEWAY_DOCKER_STAGING_DIR={staging} is not "
                                f"writable (`evotraders deploy up` makes it for uid 10001)")
        return EngineAccess(socket=host_socket, gid=gid, staging_dir=str(staging))

    def _workload(self, launch: GatewayLaunch, previous: Any) -> DockerWorkload:
        s = self.settings
        mode = effective_mode(s, launch)
        if mode == "kubernetes":
            raise WorkloadError(f"run {launch.run_id!r} runs its skills in the kubernetes sandbox, which a Gateway "
                                f"container cannot reach; use SKILL_SANDBOX_MODE=docker with GATEWAY_LAUNCHER=docker")
        engine = self.engine_access(launch.run_id) if mode == "docker" else None
        user = None if s.gateway_docker_volume else data_owner(s.runs_dir)
        workload = DockerWorkload(
            self.client, launch.run_id, image=s.gateway_image, args=launch.args, env=launch.env,
            network=s.gateway_docker_network, volume=s.gateway_docker_volume, publish_host=s.gateway_publish_host,
            data_dirs=[s.runs_dir, s.workspaces_dir], extra_mounts=self.extra_mounts, user=user,
            entrypoint=self.entrypoint, engine=engine)
        if launch.port:
            workload.host_port = launch.port
        elif isinstance(previous, DockerWorkload):
            workload.host_port = previous.host_port  # a restart keeps the URL clients know
        return workload

    def natural_address(self, handle: SupervisedWorkload) -> tuple[str, int] | None:
        port = handle.workload.port
        return None if port is None else (self.settings.gateway_publish_host, port)

    def control_address(self, handle: SupervisedWorkload) -> tuple[str, int] | None:
        workload = handle.workload
        if workload.control_host is None or workload.control_port is None:
            return None
        return workload.control_host, workload.control_port

    def leftovers(self) -> list[str]:
        """Names of containers labelled as this deployment's Gateways (running or not)."""
        found = self.client.containers.list(all=True, filters={"label": [f"{PART_OF}=evotraders",
                                                                         f"{COMPONENT_LABEL}=gateway"]})
        return [c.name for c in found]
