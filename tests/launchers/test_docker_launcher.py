"""The docker launcher against the real engine (``DOCKER_HOST``) with the service image.

The image is built offline by ``scripts/build_image.sh`` (cached by its
content hash, so a fresh tree rebuilds it and an unchanged one takes
seconds); nothing is pulled. Without an engine these tests skip with the
reason, except under ``EVOTRADERS_REQUIRE_DOCKER=1`` (CI), where they fail.
The controller runs here, so it reaches each Gateway container at its port
published on 127.0.0.1.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from websockets.asyncio.client import connect

from backend.config import load_settings
from backend.control_plane.controller import RuntimeController
from backend.control_plane.gateway_launchers.docker import DockerGatewayLauncher
from backend.control_plane.gateway_restart import GatewayRestartPolicy
from backend.security.tokens import Role
from backend.storage.run_store import RunStore
from tests.launchers.conftest import make_run
from tests.support.waiting import until

ROOT = Path(__file__).resolve().parents[2]
IMAGE = "evotraders/control-center:0.1.0"
DOCKER_HOST_DEFAULT = "unix:///tmp/evotraders-docker/docker.sock"

pytestmark = pytest.mark.timeout(900)  # the first build of the image takes minutes


def _unusable(reason: str) -> None:
    if os.environ.get("EVOTRADERS_REQUIRE_DOCKER") == "1":
        pytest.fail("EVOTRADERS_REQUIRE_DOCKER=1 but " + reason)
    print("SKIP docker launcher tests: " + reason, file=sys.stderr)
    pytest.skip(reason)


@pytest.fixture(scope="module")
def engine():
    """A client of the test engine with the service image built (offline), or a skip."""
    import docker

    host = os.environ.get("DOCKER_HOST") or DOCKER_HOST_DEFAULT
    os.environ.setdefault("DOCKER_HOST", host)
    try:
        client = docker.DockerClient(base_url=host, version="auto", timeout=60)
        client.ping()
    except Exception as exc:  # noqa: BLE001 - any failure means "no usable engine"
        _unusable(f"no usable Docker engine at {host} ({type(exc).__name__}); export DOCKER_HOST")
    for _ in range(2):  # once more if another test process was building the same image at the same moment
        built = subprocess.run([str(ROOT / "scripts" / "build_image.sh")], cwd=ROOT, capture_output=True, text=True,
                               timeout=420, env={**os.environ, "DOCKER_HOST": host})
        if built.returncode == 0:
            break
    else:
        pytest.fail(f"scripts/build_image.sh failed:\n{built.stdout[-2000:]}\n{built.stderr[-2000:]}")
    client.images.get(IMAGE)
    yield client
    client.close()


@pytest.fixture
def network(engine):
    """The deployment's network (a test's own), removed afterwards."""
    net = engine.networks.create(f"evotraders-test-{uuid.uuid4().hex[:8]}", labels={"evotraders.test": "launcher"})
    yield net.name
    net.reload()
    for container in net.containers:  # only what a failed test left
        container.remove(force=True)
    net.remove()


@pytest.fixture
async def docker_controller(engine, network, tmp_path, registry):
    settings = load_settings(runs_dir=tmp_path / "runs", workspaces_dir=tmp_path / "ws", gateway_launcher="docker",
                             gateway_image=IMAGE, gateway_docker_network=network, gateway_publish_host="127.0.0.1")
    store = RunStore.from_settings(settings)
    controller = RuntimeController(
        settings, store, registry=registry, launcher=DockerGatewayLauncher(settings, engine),
        restart_policy=GatewayRestartPolicy(max_restarts=1, backoff_base=0.05, backoff_cap=0.2))
    yield controller, store
    await controller.shutdown()


def _labelled(engine, run_id: str) -> list[str]:
    return [c.name for c in engine.containers.list(all=True, filters={"label": [
        "app.kubernetes.io/part-of=evotraders", "evotraders.component=gateway", f"evotraders.run-id={run_id}"]})]


async def test_a_gateway_container_serves_its_run_restarts_under_the_progress_rule_and_is_removed(
        docker_controller, engine, network, registry):
    controller, store = docker_controller
    run_id = make_run(store, f"dock-{uuid.uuid4().hex[:8]}")

    info = await controller.start_run(run_id, paused=True)
    assert info["status"] == "healthy", info
    # The URL clients get is the published host port; nothing was typed.
    assert info["url"] == f"ws://127.0.0.1:{info['port']}/"
    name = controller.launcher.get(run_id).workload.container_name
    container = engine.containers.get(name)
    assert _labelled(engine, run_id) == [container.name]
    assert network in container.attrs["NetworkSettings"]["Networks"]
    assert container.attrs["HostConfig"]["ReadonlyRootfs"] is True
    env = dict(item.split("=", 1) for item in container.attrs["Config"]["Env"])
    # The run credential, as a subprocess gets it; never a role token or the run secret.
    assert env["EVOTRADERS_RUN_TOKEN"] and not env.get("EVOTRADERS_RUN_SECRET")
    assert not set(env.values()) & set(registry.tokens.values())

    # A real WebSocket client at that URL gets the greeting (a viewer: read only).
    async with connect(info["url"], additional_headers={"Authorization": f"Bearer {registry.tokens[Role.viewer]}"},
                       max_size=None) as ws:
        assert [json.loads(await ws.recv())["type"] for _ in range(2)] == ["hello", "initial_state"]
    # The engine's log stream reaches the run's logs/gateway.log.
    log_file = store.paths(run_id).logs_dir / "gateway.log"
    await until(lambda: "gateway listening" in log_file.read_text(), what="the container's log in gateway.log")
    assert (await controller.pause(run_id))["command"] == "pause"  # commands reach it too

    # The container dies: a new one on the same host port (the same URL), under the progress rule.
    container.kill()
    await until(lambda: controller.gateway_info(run_id)["restarts"] == 1
                and controller.gateway_info(run_id)["status"] == "healthy", timeout=60, what="the Gateway restarted")
    again = controller.gateway_info(run_id)
    assert again["url"] == info["url"] and again["last_exit"]["signal"] == "SIGKILL"
    assert engine.containers.get(name).id != container.id

    # Paused, the run makes no progress: the next crash exhausts max_restarts=1 and it stays down.
    engine.containers.get(name).kill()
    await until(lambda: controller.gateway_info(run_id)["gave_up"], timeout=60, what="the controller gave up")
    assert controller.run_summary(run_id)["status"] == "crashed"

    # Started again and stopped: the container is removed, nothing labelled is left.
    assert (await controller.start_run(run_id, paused=True))["status"] == "healthy"
    stopped = await controller.stop_run(run_id)
    assert stopped["status"] == "stopped" and stopped["last_exit"]["requested"]
    assert _labelled(engine, run_id) == []


async def test_a_missing_image_is_a_clear_error_and_nothing_is_pulled(docker_controller, engine):
    controller, store = docker_controller
    controller.launcher.settings = controller.settings.model_copy(update={"gateway_image": "evotraders/nope:0"})
    run_id = make_run(store, f"dock-{uuid.uuid4().hex[:8]}")
    from backend.errors import UnavailableError

    with pytest.raises(UnavailableError, match="evotraders/nope:0 not found.*build_image"):
        await controller.start_run(run_id)
    assert _labelled(engine, run_id) == []


def test_runtime_service_with_gateway_launcher_docker_returns_the_published_url(engine, network, tmp_path):
    """GATEWAY_LAUNCHER=docker from the environment alone, served over HTTP: a viewer gets a URL that greets."""
    import asyncio

    import httpx

    from tests.support.service_process import ServiceProcess, service_env

    admin, viewer = "admin-token-for-docker-launcher", "viewer-token-for-docker-launcher"
    run_id = f"dock-http-{uuid.uuid4().hex[:8]}"
    env = service_env(tmp_path, EVOTRADERS_ADMIN_TOKEN=admin, EVOTRADERS_VIEWER_TOKEN=viewer,
                      GATEWAY_LAUNCHER="docker", GATEWAY_IMAGE=IMAGE, GATEWAY_DOCKER_NETWORK=network,
                      DOCKER_HOST=os.environ["DOCKER_HOST"])
    as_admin, as_viewer = {"Authorization": f"Bearer {admin}"}, {"Authorization": f"Bearer {viewer}"}
    with ServiceProcess("runtime_service", env).start(timeout=60) as service:
        created = httpx.post(f"{service.url}/runs", headers=as_admin, json={
            "workspace": "default", "run_id": run_id, "start_date": "2025-03-03", "end_date": "2025-03-07",
            "tickers": ["AAPL"]})
        assert created.status_code == 201, created.text
        started = httpx.post(f"{service.url}/runs/{run_id}/start", headers=as_admin, json={"paused": True},
                             timeout=120)
        assert started.status_code == 200, started.text
        info = httpx.get(f"{service.url}/runs/{run_id}/gateway", headers=as_viewer, timeout=10).json()
        assert info["status"] == "healthy" and info["url"] == f"ws://127.0.0.1:{info['port']}/"
        assert info["health"]["run_id"] == run_id  # runtime_service reaches the container's /health
        assert asyncio.run(_greeting(info["url"], viewer)) == ["hello", "initial_state"]
        assert len(_labelled(engine, run_id)) == 1
        stopped = httpx.post(f"{service.url}/runs/{run_id}/stop", headers=as_admin, timeout=60).json()
        assert stopped["status"] == "stopped"
    assert _labelled(engine, run_id) == []


async def _greeting(url: str, token: str) -> list[str]:
    async with connect(url, additional_headers={"Authorization": f"Bearer {token}"}, max_size=None) as ws:
        return [json.loads(await ws.recv())["type"] for _ in range(2)]


# -- skills in the docker sandbox, from inside a Gateway container -----------------------------------------------------
SKILL_IMAGE = "evotraders/skill-python:3.11"


@pytest.fixture
async def sandboxed_controller(engine, network, tmp_path, registry):
    """Gateways whose skills run in the docker sandbox (the compose deployment's default)."""
    try:
        engine.images.get(SKILL_IMAGE)
    except Exception:  # noqa: BLE001 - absent image
        _unusable(f"skill image {SKILL_IMAGE} missing; build it with scripts/docker_sandbox_setup.sh")
    staging = tmp_path / "staging"
    staging.mkdir()
    settings = load_settings(runs_dir=tmp_path / "runs", workspaces_dir=tmp_path / "ws", gateway_launcher="docker",
                             gateway_image=IMAGE, gateway_docker_network=network, gateway_publish_host="127.0.0.1",
                             skill_sandbox_mode="docker", skill_sandbox_image=SKILL_IMAGE,
                             gateway_docker_staging_dir=staging)
    store = RunStore.from_settings(settings)
    controller = RuntimeController(settings, store, registry=registry, launcher=DockerGatewayLauncher(settings, engine))
    yield controller, store, staging
    await controller.shutdown()


async def test_a_gateway_container_runs_its_skills_in_sandbox_containers_and_the_run_trades(
        sandboxed_controller, engine):
    controller, store, staging = sandboxed_controller
    run_id = make_run(store, f"dock-sbx-{uuid.uuid4().hex[:8]}")
    since = int(time.time()) - 1

    info = await controller.start_run(run_id)
    assert info["status"] == "healthy", info
    attrs = engine.containers.get(controller.launcher.get(run_id).workload.container_name).attrs

    await until(lambda: controller.run_summary(run_id)["status"] in ("completed", "failed", "crashed"),
                timeout=600, what="the run finished")
    assert controller.run_summary(run_id)["status"] == "completed"
    events = [json.loads(line) for line in store.paths(run_id).events_log.read_text().splitlines() if line.strip()]
    assert "backend_unavailable" not in json.dumps(events)
    # The analysts' skills answered from sandbox containers the Gateway made on the engine ...
    sandbox = controller.run_state(run_id)["runtime_state"]["sandbox"]
    assert sandbox["mode"] == "docker" and sandbox["calls"].get("docker", 0) > 0, sandbox
    assert set(sandbox["calls"]) == {"docker"}, sandbox  # every call, none in a weaker backend
    created = list(engine.events(since=since, until=int(time.time()) + 1, decode=True, filters={
        "type": "container", "event": "create", "label": "evotraders.sandbox=skill"}))
    assert len(created) >= sandbox["calls"]["docker"], "fewer skill containers on the engine than skill calls"
    # ... and the run traded on what they said.
    trades = [t for e in events if e.get("type") == "team_trades" for t in e.get("data") or []]
    assert trades, "the run made no trade"
    assert list(staging.iterdir()) == []  # each call's staged copy removed after it
    # What it took: the engine's socket (at the standard path), its group and the staging folder at its own path.
    env = dict(item.split("=", 1) for item in attrs["Config"]["Env"])
    assert env["SKILL_SANDBOX_MODE"] == "docker" and env["DOCKER_HOST"] == "unix:///var/run/docker.sock"
    assert env["TMPDIR"] == str(staging)
    socket_path = os.environ["DOCKER_HOST"][len("unix://"):]
    binds = {m["Destination"]: m["Source"] for m in attrs["Mounts"]}
    assert binds["/var/run/docker.sock"] == socket_path and binds[str(staging)] == str(staging)
    assert attrs["HostConfig"]["GroupAdd"] == [str(os.stat(socket_path).st_gid)]
    await controller.stop_run(run_id)


async def test_without_an_engine_socket_a_docker_sandboxed_gateway_is_refused_not_started(
        sandboxed_controller, engine, monkeypatch):
    """Skills never run with less isolation: no socket to hand over is a clear error and no container."""
    from backend.errors import UnavailableError

    controller, store, _ = sandboxed_controller
    monkeypatch.setenv("DOCKER_HOST", "tcp://127.0.0.1:1")  # this process's engine is not a local socket
    run_id = make_run(store, f"dock-sbx-{uuid.uuid4().hex[:8]}")
    with pytest.raises(UnavailableError, match="docker sandbox.*engine's socket.*GATEWAY_DOCKER_SOCKET"):
        await controller.start_run(run_id)
    controller.launcher.settings = controller.settings.model_copy(update={
        "gateway_docker_socket": "/nowhere/docker.sock"})
    with pytest.raises(UnavailableError, match="/nowhere/docker.sock"):
        await controller.start_run(run_id)
    controller.launcher.settings = controller.settings.model_copy(update={
        "gateway_docker_staging_dir": Path("/nowhere/staging")})
    monkeypatch.setenv("DOCKER_HOST", DOCKER_HOST_DEFAULT)
    with pytest.raises(UnavailableError, match="GATEWAY_DOCKER_STAGING_DIR=/nowhere/staging"):
        await controller.start_run(run_id)
    assert _labelled(engine, run_id) == []
