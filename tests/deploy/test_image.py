"""The image, built offline, on the real engine: every container command of the
compose file and of the manifests runs in it, as uid 10001 on a read-only root
filesystem, and its HEALTHCHECK reports a service and a Gateway healthy."""

from __future__ import annotations

import importlib.util
import secrets
from typing import Any

import pytest
import yaml
from hypothesis import given, strategies as st

from deploy_helpers import ROOT, compose_services, kustomize_render
from support.waiting import until

pytestmark = pytest.mark.docker

LOCKED_DOWN = dict(read_only=True, tmpfs={"/tmp": "rw,nosuid,nodev,size=64m,mode=1777"}, network_mode="none",
                   cap_drop=["ALL"], security_opt=["no-new-privileges:true"])


def container_commands() -> list[tuple[str, list[str]]]:
    """(where, argv after the entrypoint) of every container the deployments run."""
    found = [(f"compose {name}", list(svc["command"])) for name, svc in compose_services().items()]
    for doc in kustomize_render():
        if doc["kind"] in ("Deployment", "Job"):
            for c in doc["spec"]["template"]["spec"]["containers"]:
                found.append((f"{doc['kind']}/{doc['metadata']['name']}", list(c["args"])))
        if doc["kind"] == "ConfigMap" and "pod.yaml" in doc.get("data", {}):
            pod = yaml.safe_load(doc["data"]["pod.yaml"])
            found += [("gateway pod template", [a if a != "RUN_ID" else "r1" for a in c["args"]])
                      for c in pod["spec"]["containers"]]
    return found


def run(docker_client: Any, image: str, argv: list[str], **extra: Any) -> tuple[int, str]:
    container = docker_client.containers.run(image, argv, detach=True, **{**LOCKED_DOWN, **extra})
    try:
        code = container.wait(timeout=120)["StatusCode"]
        return code, container.logs(stdout=True, stderr=True).decode(errors="replace")
    finally:
        container.remove(force=True, v=True)


COMMANDS = container_commands()


def test_the_deployments_run_every_component() -> None:
    firsts = {argv[0] for _, argv in COMMANDS}
    assert {"agent_service", "trading_service", "news_service", "runtime_service", "gateway"} <= firsts


@pytest.mark.parametrize("argv", [argv for _, argv in COMMANDS], ids=[where for where, _ in COMMANDS])
def test_container_command_runs_in_the_image(docker_client: Any, image: str, argv: list[str]) -> None:
    code, output = run(docker_client, image, [*argv, "--help"])
    assert code == 0, output
    assert "usage:" in output


def test_runs_as_uid_10001_and_writes_only_tmp(docker_client: Any, image: str) -> None:
    probe = ("import os, sys\n"
             "print('uid', os.getuid(), os.getgid(), os.environ['HOME'])\n"
             "for path in ('/app/x', '/opt/venv/x', '/etc/x'):\n"
             "    try:\n"
             "        open(path, 'w')\n"
             "        print('wrote', path)\n"
             "    except OSError as err:\n"
             "        print('refused', path, err.errno)\n"
             "open('/tmp/ok', 'w').write('x'); print('tmp ok')\n"
             "import backend.apps.runtime_service.app, gateway.server, numpy, docker, kubernetes\n"
             "print('imports ok', sys.dont_write_bytecode)\n")
    code, output = run(docker_client, image, ["python", "-c", probe])
    assert code == 0, output
    assert "uid 10001 10001 /tmp" in output
    assert output.count("refused") == 3 and "wrote" not in output
    assert "tmp ok" in output and "imports ok True" in output
    assert docker_client.images.get(image).attrs["Config"]["User"] == "10001:10001"


def test_a_container_without_a_data_volume_leaves_no_volume_behind(docker_client: Any, image: str) -> None:
    before = {v.name for v in docker_client.volumes.list()}
    container = docker_client.containers.create(image, ["help"], **LOCKED_DOWN)
    try:
        assert [m for m in container.attrs["Mounts"] if m["Type"] == "volume"] == []
    finally:
        container.remove(force=True)
    assert {v.name for v in docker_client.volumes.list()} - before == set()


def test_unknown_command_is_named(docker_client: Any, image: str) -> None:
    code, output = run(docker_client, image, ["agent_servcie"])
    assert code == 127 and "unknown command 'agent_servcie'" in output


async def test_healthcheck_reports_a_service_and_a_gateway_healthy(docker_client: Any, image: str) -> None:
    tokens = {f"EVOTRADERS_{role}_TOKEN": secrets.token_urlsafe(24) for role in ("ADMIN", "OPERATOR", "VIEWER")}
    data = {"/data": "rw,size=64m,uid=10001,gid=10001,mode=0750", "/tmp": "rw,size=64m,mode=1777"}
    started = [
        docker_client.containers.run(image, ["news_service"], detach=True, environment=tokens,
                                     **{**LOCKED_DOWN, "network_mode": "bridge", "tmpfs": data}),
        docker_client.containers.run(image, ["gateway", "--run-id", "health-check", "--create", "--paused"],
                                     detach=True, environment=tokens,
                                     **{**LOCKED_DOWN, "network_mode": "bridge", "tmpfs": data}),
    ]
    try:
        def status() -> list[str]:
            for c in started:
                c.reload()
            return [c.attrs["State"].get("Health", {}).get("Status", "none") for c in started]

        def settled() -> bool:
            states = status()
            assert "unhealthy" not in states and all(c.status == "running" for c in started), \
                [c.logs().decode()[-2000:] for c in started]
            return states == ["healthy", "healthy"]

        await until(settled, timeout=150, what="both containers healthy by the image's HEALTHCHECK")
        log = started[0].attrs["State"]["Health"]["Log"][-1]["Output"]
        assert "backend.apps.news_service: http://127.0.0.1:8002/health -> 200" in log
        log = started[1].attrs["State"]["Health"]["Log"][-1]["Output"]
        assert "gateway: http://127.0.0.1:8765/health -> 200" in log
    finally:
        for c in started:
            c.remove(force=True, v=True)


def _healthcheck_module() -> Any:
    spec = importlib.util.spec_from_file_location("healthcheck", ROOT / "deploy" / "container" / "healthcheck.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


HEALTHCHECK = _healthcheck_module()


@given(module=st.sampled_from(sorted(HEALTHCHECK.PORTS)), port=st.integers(1, 65535),
       form=st.sampled_from(["split", "joined", "default"]), extra=st.lists(st.sampled_from(["--paused", "-v"])))
def test_healthcheck_finds_the_port_pid_1_serves(module: str, port: int, form: str, extra: list[str]) -> None:
    argv = ["/opt/venv/bin/python", "-m", module, *extra]
    if form == "split":
        argv += ["--port", str(port)]
    elif form == "joined":
        argv += [f"--port={port}"]
    expected = port if form != "default" else HEALTHCHECK.PORTS[module][1]
    assert HEALTHCHECK.target(argv) == (module, expected)
    assert HEALTHCHECK.target(["/bin/sh", "-c", "sleep 1"]) is None
