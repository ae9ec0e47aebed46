"""``docker`` mode: one locked-down container per skill call.

The container runs ``python3 -I -S -B /sandbox/runner.py /sandbox/request.json``
from ``SKILL_SANDBOX_IMAGE`` with the skill (a staged copy) at ``/skill`` and
the runner plus its request at ``/sandbox``, both bind-mounted read-only;
read-only root, a small ``/tmp`` tmpfs, ``network_mode`` from the limits
(``none`` by default), memory (swap equal, so no swap), CPU and pid limits, all
capabilities dropped, ``no-new-privileges`` and an unprivileged user.

The blocking SDK calls run in a worker thread; the container is removed in that
thread's ``finally``, and a cancelled call kills it at once and waits for the
removal before re-raising, so no container outlives its call. Bind mounts need
the engine on this host (a remote ``DOCKER_HOST`` cannot see the staged files).
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import threading
import time
from typing import Any

from backend.skills.spec import SkillSpec
from backend.sandbox.outcome import RawOutcome, build_request, split_marker
from backend.sandbox.staging import StagedCall
from backend.sandbox.limits import SandboxLimits
from backend.sandbox.worker_threads import BackendUnavailable, WorkerThreadBackend, short_error as _short

DEFAULT_HOST = "unix:///var/run/docker.sock"
OFFLINE_IMAGE = "evotraders/skill-python:3.11"
LABEL = "evotraders.sandbox"
log = logging.getLogger(__name__)
SETUP_HINT = ("start one with `sudo scripts/docker_sandbox_setup.sh` and "
              "`export DOCKER_HOST=unix:///tmp/evotraders-docker/docker.sock`, "
              "or point DOCKER_HOST at a running dockerd")


class DockerSandboxBackend(WorkerThreadBackend):
    """Runs each skill call in a fresh container.

    Args:
        image: the Python image (``SKILL_SANDBOX_IMAGE``); it needs ``python3`` on PATH.
        pull_policy: ``never`` (missing image -> backend_unavailable) or ``missing``.
        base_url: engine address; default ``DOCKER_HOST`` or the standard socket.
        user: uid:gid inside the container.
        pids_limit: most processes the container may hold.
        tmp_size: size of the ``/tmp`` tmpfs (counts against the memory limit).
        concurrency: calls in flight at once (each holds one thread).
    """

    name = "docker"

    def __init__(self, image: str = OFFLINE_IMAGE, *, pull_policy: str = "never", base_url: str | None = None,
                 user: str = "65534:65534", pids_limit: int = 64, tmp_size: str = "64m",
                 concurrency: int = 8, client_timeout: float = 30.0) -> None:
        self.image, self.pull_policy, self.user = image, pull_policy, user
        self.base_url = base_url or os.environ.get("DOCKER_HOST") or DEFAULT_HOST
        self.pids_limit, self.tmp_size, self.client_timeout = pids_limit, tmp_size, client_timeout
        super().__init__(concurrency, "docker-sandbox")
        self._client: Any = None
        self._image_ready = False
        self._lock = threading.Lock()

    # -- engine ---------------------------------------------------------------
    def client(self) -> Any:
        """The SDK client, created on first use; raises :class:`BackendUnavailable`."""
        import docker
        import requests

        with self._lock:
            if self._client is None:
                try:
                    self._client = docker.DockerClient(base_url=self.base_url, version="auto",
                                                       timeout=self.client_timeout, max_pool_size=32)
                except (docker.errors.DockerException, requests.RequestException) as exc:
                    raise BackendUnavailable(
                        f"cannot reach the Docker engine at {self.base_url} (DOCKER_HOST): {_short(exc)}; "
                        f"{SETUP_HINT}") from None
            return self._client

    def _ensure_image(self, client: Any) -> None:
        import docker

        if self._image_ready:
            return
        try:
            client.images.get(self.image)
        except docker.errors.ImageNotFound:
            if self.pull_policy == "never":
                raise BackendUnavailable(
                    f"image {self.image} is not in the Docker engine at {self.base_url} and "
                    f"SKILL_SANDBOX_PULL_POLICY=never; fix: `sudo scripts/docker_sandbox_setup.sh` builds "
                    f"{OFFLINE_IMAGE} offline (then set SKILL_SANDBOX_IMAGE={OFFLINE_IMAGE}), or "
                    f"`docker pull {self.image}` / `docker load -i <image.tar>`, "
                    f"or set SKILL_SANDBOX_PULL_POLICY=missing") from None
            try:
                client.images.pull(self.image)
            except docker.errors.DockerException as exc:
                raise BackendUnavailable(f"could not pull image {self.image}: {_short(exc)}") from None
        self._image_ready = True

    # -- calls ----------------------------------------------------------------
    def _call(self, spec: SkillSpec, payload: dict[str, Any], limits: SandboxLimits) -> _ContainerCall:
        return _ContainerCall(self, spec, payload, limits)  # its run's finally removes the container

    async def close(self) -> None:
        await super().close()
        if self._client is not None:
            with contextlib.suppress(Exception):
                self._client.close()
            self._client = None


class _ContainerCall:
    """One container's life, run in a worker thread from create to remove."""

    def __init__(self, backend: DockerSandboxBackend, spec: SkillSpec, payload: dict[str, Any],
                 limits: SandboxLimits) -> None:
        self.backend, self.spec, self.payload, self.limits = backend, spec, payload, limits
        self.name = f"evotraders-skill-{spec.name[:40].replace('_', '-')}-{secrets.token_hex(6)}"
        self.cancelled = threading.Event()

    def kill(self) -> None:
        """Stop the container now (from another thread); a no-op if it is gone or not yet created."""
        with contextlib.suppress(Exception):
            self.backend.client().api.kill(self.name)

    def run(self) -> RawOutcome:
        import docker
        import requests

        backend, limits = self.backend, self.limits
        client = backend.client()
        try:
            backend._ensure_image(client)
        except requests.RequestException as exc:
            raise BackendUnavailable(f"the Docker engine at {backend.base_url} stopped answering: "
                                     f"{_short(exc)}; {SETUP_HINT}") from None
        request = build_request(self.spec, self.payload, limits, skill_dir="/skill", apply_limits=False)
        staged = StagedCall(self.spec.path, request)
        created = False
        try:
            try:
                container = client.api.create_container(
                    backend.image, ["python3", "-I", "-S", "-B", "/sandbox/runner.py", "/sandbox/request.json"],
                    name=self.name, user=backend.user, working_dir="/tmp", hostname="sandbox",
                    environment={"HOME": "/tmp", "LANG": "C.UTF-8"},
                    labels={LABEL: "skill", "evotraders.skill": self.spec.name},
                    host_config=client.api.create_host_config(
                        mounts=[docker.types.Mount("/skill", str(staged.skill_dir), type="bind", read_only=True),
                                docker.types.Mount("/sandbox", str(staged.sandbox_dir), type="bind",
                                                   read_only=True)],
                        network_mode=limits.network, mem_limit=limits.memory_bytes,
                        memswap_limit=limits.memory_bytes, nano_cpus=int(limits.cpu_limit * 1e9),
                        pids_limit=backend.pids_limit, read_only=True,
                        tmpfs={"/tmp": f"rw,nosuid,nodev,noexec,size={backend.tmp_size},mode=1777"},
                        cap_drop=["ALL"], security_opt=["no-new-privileges"], ipc_mode="private",
                        log_config=docker.types.LogConfig(type="json-file",
                                                          config={"max-size": "16m", "max-file": "1"}),
                    ),
                )
                created = True
                if self.cancelled.is_set():
                    return RawOutcome(exit_status=None)
                client.api.start(container["Id"])
                timed_out = self._wait(client, container["Id"])
                state = client.api.inspect_container(container["Id"])["State"]
                out = client.api.logs(container["Id"], stdout=True, stderr=False).decode("utf-8", "replace")
                err = client.api.logs(container["Id"], stdout=False, stderr=True).decode("utf-8", "replace")
            except docker.errors.ImageNotFound:
                backend._image_ready = False
                raise BackendUnavailable(f"image {backend.image} disappeared from the engine; "
                                         f"rebuild it with `sudo scripts/docker_sandbox_setup.sh`") from None
            except (docker.errors.APIError, requests.RequestException) as exc:
                raise BackendUnavailable(f"the Docker engine at {backend.base_url} refused the call: "
                                         f"{_short(exc)}") from None
        finally:
            if created:
                self._remove(client)
            staged.cleanup()
        skill_out, envelope = split_marker(out, request["marker"])
        return RawOutcome(exit_status=state.get("ExitCode"), stdout=skill_out, stderr=err, envelope=envelope,
                          timed_out=timed_out, oom_killed=bool(state.get("OOMKilled")) and not timed_out)

    def _wait(self, client: Any, container_id: str) -> bool:
        """Wait for the exit; kill at the deadline or on cancellation. True if timed out."""
        import requests

        deadline = time.monotonic() + self.limits.timeout_s
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or self.cancelled.is_set():
                with contextlib.suppress(Exception):
                    client.api.kill(container_id)
                client.api.wait(container_id, timeout=30)
                return remaining <= 0
            try:
                # Short slices, so that a cancellation is noticed even if its kill was lost.
                client.api.wait(container_id, timeout=min(remaining, 1.0))
                return False
            except (requests.ConnectionError, requests.Timeout) as exc:
                # A slice that ends before the container does: requests says ReadTimeout, or
                # ConnectionError when urllib3 wrapped its timeout (seen on a loaded machine).
                if "timed out" not in str(exc).lower():
                    raise

    def _remove(self, client: Any) -> None:
        for _ in range(3):
            try:
                client.api.remove_container(self.name, force=True)
                return
            except Exception as exc:  # noqa: BLE001 - retried, then reported below
                if "No such container" in str(exc) or "404" in str(exc):
                    return
                if "already in progress" in str(exc):
                    return
                time.sleep(0.2)
        log.error("could not remove sandbox container %s; remove it with "
                                          "`docker rm -f %s`", self.name, self.name)


def list_sandbox_containers(client: Any) -> list[str]:
    """Names of every sandbox container on the engine, running or not (for tests and cleanup)."""
    return [c["Names"][0].lstrip("/") for c in client.api.containers(all=True, filters={"label": LABEL})]


__all__ = ["DockerSandboxBackend", "LABEL", "OFFLINE_IMAGE", "list_sandbox_containers"]
