"""The probe skill through run_probe(), and choosing backends from settings."""

from __future__ import annotations

import pytest

from backend.config import Settings
from backend.sandbox.docker_backend import DockerSandboxBackend
from backend.sandbox.factory import make_backend, make_executor
from backend.sandbox.kubernetes_backend import KubernetesSandboxBackend
from backend.sandbox.probe import run_probe
from backend.sandbox.process import ProcessSandboxBackend

from sandbox_helpers import DOCKER_IMAGE

PROBE_KEYS = {"python_version", "platform", "network_reachable", "network", "uid", "cwd", "cwd_writable"}


async def test_probe_in_process_mode(bwrap_isolation) -> None:
    probe = await run_probe("process", Settings(skill_sandbox_timeout=20))
    assert probe.ok, probe.result.error
    output = probe.result.output
    assert PROBE_KEYS <= set(output) and output["python_version"].startswith("3.")
    assert output["cwd_writable"] is True
    assert probe.confined == bwrap_isolation.confined
    if probe.confined:
        assert output["network_reachable"] is False
        assert output["network"]["private_blackhole"] == "unreachable"
        assert output["root_writable"] is False and output["uid"] == 65534


async def test_probe_in_docker_mode(docker_client) -> None:
    probe = await run_probe("docker", Settings(skill_sandbox_image=DOCKER_IMAGE))
    assert probe.ok, probe.result.error
    output = probe.result.output
    assert output["network_reachable"] is False and output["root_writable"] is False
    assert output["uid"] == 65534 and output["cwd_writable"] is True


async def test_probe_reports_an_unavailable_backend(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/nothing.sock")
    probe = await run_probe("docker", Settings())
    assert not probe.ok and probe.result.error.kind == "backend_unavailable"
    assert probe.duration_ms > 0


def test_factory_builds_each_mode_from_settings() -> None:
    settings = Settings(skill_sandbox_image="img:1", skill_sandbox_namespace="ns1", skill_sandbox_pull_policy="missing",
                        skill_sandbox_service_account="runner")
    assert isinstance(make_backend("process", settings=settings), ProcessSandboxBackend)
    docker_backend = make_backend("docker", settings=settings)
    assert isinstance(docker_backend, DockerSandboxBackend)
    assert (docker_backend.image, docker_backend.pull_policy) == ("img:1", "missing")
    kube = make_backend("kubernetes", settings=settings)
    assert isinstance(kube, KubernetesSandboxBackend)
    assert (kube.namespace, kube.service_account, kube.image) == ("ns1", "runner", "img:1")


def test_unknown_mode_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="unknown SKILL_SANDBOX_MODE 'vm'"):
        make_backend("vm", settings=Settings())


async def test_executor_from_settings_applies_the_limits(skill) -> None:
    executor = make_executor(settings=Settings(skill_sandbox_mode="process", skill_sandbox_timeout=1))
    try:
        result = await executor.run(skill("endless"), {})
    finally:
        await executor.close()
    assert executor.mode == "process"
    assert result.error is not None and result.error.kind == "timeout"
