"""The compose deployment on the real engine, through `evotraders deploy up|down`.

One deployment per module (a unique project name, the four service ports
published on free 127.0.0.1 ports, fresh tokens made by the wrapper). Tests
talk to the containers only through those published ports. A run started
through runtime_service gets its Gateway container from the docker launcher,
reachable at the URL runtime_service returns. The last test takes the
deployment down and finds no container, network or volume of it left.
"""

from __future__ import annotations

import json
import os
import secrets
import stat
import subprocess
import sys
from typing import Any, Iterator

import httpx
import pytest

from backend.cli.deploy import SERVICES, staging_dir
from backend.supervisor.ports import free_port
from deploy_helpers import ROOT, compose_services
from backend.config import Settings, env_name
from support.waiting import until

pytestmark = [pytest.mark.docker, pytest.mark.slow]

UP_TIMEOUT_S = 600


def deploy_cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "backend.cli.main", "deploy", *args], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=UP_TIMEOUT_S)


def leftovers(docker_client: Any, name: str, gateway_ids: list[str]) -> list[str]:
    import docker

    found = [f"container {c.name}" for c in docker_client.containers.list(
        all=True, filters={"label": f"com.docker.compose.project={name}"})]
    for cid in gateway_ids:
        try:
            found.append(f"gateway container {docker_client.containers.get(cid).name}")
        except docker.errors.NotFound:
            pass
    found += [f"network {n.name}" for n in docker_client.networks.list(names=[f"{name}-net"])]
    found += [f"volume {v.name}" for v in docker_client.volumes.list() if v.name == f"{name}-data"]
    return found


@pytest.fixture(scope="module")
def deployment(docker_client: Any, image: str, compose_cli: list[str], tmp_path_factory: Any) -> Iterator[dict]:
    name = f"evotest-{secrets.token_hex(3)}"
    tokens_path = tmp_path_factory.mktemp("deploy") / "tokens.json"
    env = {**os.environ, "EVOTRADERS_PUBLISH_HOST": "127.0.0.1", "EVOTRADERS_IMAGE": image}
    ports = {svc: free_port("127.0.0.1") for svc in SERVICES}
    env.update({var: str(ports[svc]) for svc, (var, _) in SERVICES.items()})
    state: dict[str, Any] = {"name": name, "env": env, "tokens_path": tokens_path, "gateways": [], "down": False,
                             "urls": {svc: f"http://127.0.0.1:{port}" for svc, port in ports.items()}}
    try:
        up = deploy_cli("--name", name, "up", "--tokens", str(tokens_path), env=env)
        assert up.returncode == 0, f"deploy up failed:\n{up.stdout[-3000:]}\n{up.stderr[-3000:]}"
        state["up_output"] = up.stdout
        state["tokens"] = json.loads(tokens_path.read_text())
        yield state
    finally:
        if not state["down"]:
            deploy_cli("--name", name, "down", env=env)
            assert leftovers(docker_client, name, state["gateways"]) == []


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_compose_environment_names_only_real_settings() -> None:
    known = {env_name(f) for f in Settings.model_fields} | {"DOCKER_HOST", "TMPDIR"}  # the docker SDK's, Python's
    for name, service in compose_services().items():
        assert set(service["environment"]) - known == set(), name


def test_up_makes_fresh_tokens_and_hands_the_containers_their_own_copy(deployment: dict) -> None:
    tokens = deployment["tokens"]
    assert {"admin", "operator", "viewer", "run_secret"} <= set(tokens)
    assert len(set(tokens.values())) == len(tokens)
    assert stat.S_IMODE(deployment["tokens_path"].stat().st_mode) == 0o600
    copy = deployment["tokens_path"].with_name("tokens.container.json")
    assert copy.stat().st_uid == 10001 and stat.S_IMODE(copy.stat().st_mode) == 0o600
    assert json.loads(copy.read_text()) == tokens
    assert not any(token in deployment["up_output"] for token in tokens.values())


async def test_every_service_answers_health_on_its_published_loopback_port(deployment: dict,
                                                                          docker_client: Any) -> None:
    for svc, url in deployment["urls"].items():
        response = httpx.get(f"{url}/health", headers=auth(deployment["tokens"]["viewer"]), timeout=10)
        assert response.status_code == 200, svc
        assert response.json()["service"] == svc.replace("-", "_")
    containers = docker_client.containers.list(filters={"label": f"com.docker.compose.project={deployment['name']}"})
    assert len(containers) == 4
    for container in containers:
        published = [b for bindings in container.ports.values() if bindings for b in bindings]
        assert published and all(b["HostIp"] == "127.0.0.1" for b in published), container.name
        config = container.attrs
        assert config["Config"]["User"] == "10001:10001" and config["HostConfig"]["ReadonlyRootfs"] is True

        def healthy(container: Any = container) -> bool:
            container.reload()
            assert container.attrs["State"]["Health"]["Status"] != "unhealthy", container.name
            return container.attrs["State"]["Health"]["Status"] == "healthy"

        await until(healthy, timeout=90, what=f"{container.name} healthy by the image's HEALTHCHECK")


def test_tokens_are_required_and_a_viewer_cannot_mutate(deployment: dict) -> None:
    runtime = deployment["urls"]["runtime-service"]
    tokens = deployment["tokens"]
    assert httpx.get(f"{runtime}/runs", timeout=10).status_code == 401
    assert httpx.get(f"{runtime}/runs", headers=auth("not-a-token-" * 2), timeout=10).status_code == 401
    assert httpx.get(f"{runtime}/runs", headers=auth(tokens["viewer"]), timeout=10).status_code == 200
    refused = httpx.post(f"{runtime}/runs", json={}, headers=auth(tokens["viewer"]), timeout=10)
    assert refused.status_code == 403 and "viewer" in refused.text
    assert tokens["viewer"] not in refused.text
    agents = deployment["urls"]["agent-service"]
    assert httpx.get(f"{agents}/health", timeout=10).status_code == 200  # /health needs no token


async def test_a_run_gets_its_gateway_container_from_runtime_service(deployment: dict, docker_client: Any) -> None:
    runtime = deployment["urls"]["runtime-service"]
    admin = auth(deployment["tokens"]["admin"])
    with httpx.Client(base_url=runtime, headers=admin, timeout=30) as client:
        created = client.post("/runs", json={})
        assert created.status_code == 201, created.text
        run_id = created.json()["run_id"]
        started = client.post(f"/runs/{run_id}/start", json={"paused": True})
        assert started.status_code == 200, started.text
        info: dict = {}

        def healthy() -> bool:
            info.update(client.get(f"/runs/{run_id}/gateway").json())
            assert not info.get("gave_up"), info
            return info["status"] == "healthy"

        await until(healthy, timeout=180, what="the run's Gateway healthy")
        # The URL runtime_service hands out is the Gateway's published loopback port: a client needs nothing else.
        assert info["url"].startswith("ws://127.0.0.1:")
        health = httpx.get(info["url"].replace("ws://", "http://").rstrip("/") + "/health", timeout=10)
        assert health.status_code == 200 and health.json()["run_id"] == run_id

        (container,) = docker_client.containers.list(filters={"label": f"evotraders.run-id={run_id}"})
        deployment["gateways"].append(container.id)
        assert container.labels["app.kubernetes.io/part-of"] == "evotraders"
        assert container.labels["evotraders.component"] == "gateway"
        assert f"{deployment['name']}-net" in container.attrs["NetworkSettings"]["Networks"]
        assert container.attrs["HostConfig"]["ReadonlyRootfs"] is True
        assert any(m.get("Name") == f"{deployment['name']}-data" for m in container.attrs["Mounts"])
        # Its skills use the docker sandbox, so it got the engine's socket, its group and the staging folder.
        env = dict(item.split("=", 1) for item in container.attrs["Config"]["Env"])
        assert env["SKILL_SANDBOX_MODE"] == "docker" and env["DOCKER_HOST"] == "unix:///var/run/docker.sock"
        socket_path = deployment["env"].get("DOCKER_HOST", "unix:///var/run/docker.sock")[len("unix://"):]
        staging = str(staging_dir(deployment["name"]))
        binds = {m["Destination"]: m["Source"] for m in container.attrs["Mounts"] if m["Type"] == "bind"}
        assert binds == {"/var/run/docker.sock": socket_path, staging: staging} and env["TMPDIR"] == staging
        assert container.attrs["HostConfig"]["GroupAdd"] == [str(os.stat(socket_path).st_gid)]

        stopped = client.post(f"/runs/{run_id}/stop")
        assert stopped.status_code == 200, stopped.text

    def removed() -> bool:
        return not docker_client.containers.list(all=True, filters={"label": f"evotraders.run-id={run_id}"})

    await until(removed, timeout=90, what="the Gateway container removed after stop")


async def test_a_runs_skills_run_in_the_docker_sandbox_from_its_gateway_container(deployment: dict) -> None:
    """Not only runtime_service's probe: a run's own skill calls, made by its Gateway container, succeed."""
    runtime = deployment["urls"]["runtime-service"]
    with httpx.Client(base_url=runtime, headers=auth(deployment["tokens"]["admin"]), timeout=30) as client:
        created = client.post("/runs", json={"start_date": "2025-02-03", "end_date": "2025-02-04",
                                             "tickers": ["AAPL", "MSFT"]})
        assert created.status_code == 201, created.text
        run_id = created.json()["run_id"]
        started = client.post(f"/runs/{run_id}/start", json={}, timeout=180)
        assert started.status_code == 200, started.text
        await until(lambda: client.get(f"/runs/{run_id}").json()["status"] in ("completed", "failed", "crashed"),
                    timeout=400, what="the run finished")
        assert client.get(f"/runs/{run_id}").json()["status"] == "completed"
        sandbox = client.get(f"/runs/{run_id}/state").json()["runtime_state"]["sandbox"]
        assert sandbox["mode"] == "docker" and set(sandbox["calls"]) == {"docker"} and sandbox["calls"]["docker"] > 0
        # None of those calls failed for want of the engine, and the run traded on what the skills said.
        events = client.get(f"/runs/{run_id}/events", params={"limit": 50_000, "max_bytes": 16 << 20})
        assert events.status_code == 200
        assert "backend_unavailable" not in events.text
        rows = [json.loads(line) for line in events.text.splitlines() if line.strip()]
        assert any(e.get("data") for e in rows if e.get("type") == "team_trades"), "the run made no trade"
        assert client.post(f"/runs/{run_id}/stop").status_code == 200


def test_a_skill_runs_in_the_docker_sandbox_from_runtime_service(deployment: dict) -> None:
    runtime = deployment["urls"]["runtime-service"]
    probe = httpx.post(f"{runtime}/sandbox/probe", json={"mode": "docker"},
                       headers=auth(deployment["tokens"]["admin"]), timeout=120)
    assert probe.status_code == 200, probe.text
    body = probe.json()
    assert body["ok"] is True and body["result"]["backend"] == "docker", body


def test_down_leaves_no_container_network_or_volume(deployment: dict, docker_client: Any) -> None:
    name = deployment["name"]
    assert docker_client.networks.list(names=[f"{name}-net"]) and \
        any(v.name == f"{name}-data" for v in docker_client.volumes.list())
    down = deploy_cli("--name", name, "down", env=deployment["env"])
    deployment["down"] = True
    assert down.returncode == 0, f"{down.stdout[-2000:]}\n{down.stderr[-2000:]}"
    assert leftovers(docker_client, name, deployment["gateways"]) == []
    assert not staging_dir(name).exists()
