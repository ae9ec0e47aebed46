"""The compose deployment (deploy/compose/compose.yaml) for a test or a bench: up on free ports, down, nothing left.

Built on ``evotraders deploy`` (:mod:`backend.cli.deploy`): its tokens file,
its container copy of it, its compose invocation and health wait. Each use is
one compose project of its own (``<prefix>-<random>``: its containers, its
``<name>-net`` network and ``<name>-data`` volume), with the four service
ports published on free ports of 127.0.0.1. On exit the deployment is taken
down as ``evotraders deploy down`` does, and :func:`leftovers` says what of it
is still on the engine (nothing, when teardown worked).

    with compose_deployment() as deployment:          # a tests.remote.remote_flow.Deployment
        ...
    async with running_deployment() as deployment:    # the same, up/down off the event loop
        ...

:func:`docker_or_skip` is the tests' gate: no engine (or no image and no way to
build it) skips, unless ``EVOTRADERS_REQUIRE_DOCKER=1`` (CI), where it fails.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import secrets
import shutil
import subprocess
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

from backend.cli import deploy
from backend.supervisor.ports import free_port

REQUIRE_ENV = "EVOTRADERS_REQUIRE_DOCKER"


def docker_client() -> Any:
    import docker

    return docker.from_env(timeout=30)


def docker_or_skip() -> None:
    """Skip (or fail under ``EVOTRADERS_REQUIRE_DOCKER=1``) when there is no engine to deploy on."""
    import pytest

    why = None
    try:
        client = docker_client()
        client.ping()
        client.close()
        deploy.compose_command()
    except Exception as err:  # noqa: BLE001 - any reason the engine or the compose CLI is unusable
        why = f"no Docker engine / compose CLI for the compose deployment ({type(err).__name__}: {err})"
    if why is None:
        return
    if os.environ.get(REQUIRE_ENV) == "1":
        pytest.fail(f"{why}; {REQUIRE_ENV}=1 requires it")
    pytest.skip(why)


def leftovers(name: str, containers: list[str] = ()) -> list[str]:
    """What of deployment ``name`` is still on the engine: its project's containers, the
    ``containers`` ids given (e.g. Gateway containers seen while it ran), its network, its volume."""
    import docker

    client = docker_client()
    try:
        found = [f"container {c.name}" for c in client.containers.list(
            all=True, filters={"label": f"com.docker.compose.project={name}"})]
        for cid in containers:
            try:
                found.append(f"container {client.containers.get(cid).name}")
            except docker.errors.NotFound:
                pass
        found += [f"network {n.name}" for n in client.networks.list(names=[f"{name}-net"]) if n.name == f"{name}-net"]
        found += [f"volume {v.name}" for v in client.volumes.list(filters={"name": f"{name}-data"})
                  if v.name == f"{name}-data"]
        return sorted(set(found))
    finally:
        client.close()


def containers_on_network(name: str) -> list[str]:
    """Ids of every container on the deployment's network (the services and the Gateways runtime_service started)."""
    client = docker_client()
    try:
        return [c.id for c in client.containers.list(all=True, filters={"network": f"{name}-net"})]
    finally:
        client.close()


def gateway_containers(name: str, run_id: str) -> list[str]:
    """Names of the running Gateway containers of ``run_id`` on deployment ``name``'s network."""
    client = docker_client()
    try:
        return [c.name for c in client.containers.list(filters={
            "network": f"{name}-net", "label": ["evotraders.component=gateway", f"evotraders.run-id={run_id}"]})]
    finally:
        client.close()


@contextlib.contextmanager
def compose_deployment(prefix: str = "evoremote", overrides: dict[str, str] | None = None) -> Iterator[Any]:
    """Up: a fresh project on free 127.0.0.1 ports with fresh tokens; yields a ``Deployment``; down on exit.

    ``overrides``: more of the compose file's variables (``SKILL_SANDBOX_MODE``, ``GATEWAY_PUBLIC_URL``, ...).
    """
    from tests.remote.remote_flow import Deployment

    name = deploy.check_name(f"{prefix}-{secrets.token_hex(3)}")
    secrets_dir = Path(tempfile.mkdtemp(prefix=f"{name}-secrets-"))
    tokens_path = secrets_dir / "tokens.json"
    image = os.environ.get("EVOTRADERS_IMAGE") or deploy.DEFAULT_IMAGE
    try:
        if not deploy.image_present(image):  # built as `evotraders deploy up` builds it: offline
            script = deploy.PROJECT_ROOT / "scripts" / "build_image.sh"
            if subprocess.run(["bash", str(script)], capture_output=True).returncode != 0:
                raise deploy.DeployError(f"image {image} is not on the engine and {script} failed to build it")
        tokens = deploy.ensure_tokens(tokens_path)
        env = deploy.compose_env(name, deploy.container_copy(tokens_path, image))
        env["EVOTRADERS_PUBLISH_HOST"] = "127.0.0.1"
        env.update(overrides or {})
        deploy.ensure_staging(Path(env["EVOTRADERS_STAGING_DIR"]))  # as `deploy up` does: uid 10001 stages there
        for var, _default in deploy.SERVICES.values():
            env[var] = str(free_port("127.0.0.1"))
        urls = deploy.service_urls(env)
        try:
            deploy.run_compose(name, env, "up", "--detach", "--remove-orphans")
            deploy.wait_healthy(urls)
            yield Deployment("compose", {svc.removesuffix("-service"): url for svc, url in urls.items()},
                             {role: tokens[role] for role in ("viewer", "operator", "admin")}, project=name)
        finally:
            seen = containers_on_network(name)  # the services and every Gateway container runtime_service started
            deploy.deploy_down(argparse.Namespace(name=name))  # exactly `evotraders deploy down`
            left = leftovers(name, seen)
            if left:
                raise AssertionError(f"compose deployment {name} left {', '.join(left)} behind")
    finally:
        shutil.rmtree(secrets_dir, ignore_errors=True)


@contextlib.asynccontextmanager
async def running_deployment(project_prefix: str = "evoremote",
                             overrides: dict[str, str] | None = None) -> AsyncIterator[Any]:
    """:func:`compose_deployment` for async code: up and down run in a worker thread, off the event loop."""
    cm = compose_deployment(project_prefix, overrides)
    deployment = await asyncio.to_thread(cm.__enter__)
    try:
        yield deployment
    except BaseException as err:
        if not await asyncio.to_thread(cm.__exit__, type(err), err, err.__traceback__):
            raise
    else:
        await asyncio.to_thread(cm.__exit__, None, None, None)


__all__ = ["REQUIRE_ENV", "compose_deployment", "containers_on_network", "docker_or_skip", "gateway_containers",
           "leftovers",
           "running_deployment"]
