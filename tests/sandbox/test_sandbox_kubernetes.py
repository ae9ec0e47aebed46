"""The kubernetes backend, driven through the official client against a fake API server.

No real cluster can run here: ``tests.support.fake_kube_api.FakeKube`` answers the core/v1
calls over real HTTP and runs each Pod's command with the process backend's
isolation, so the runner, logs and exit codes are real while the kubelet,
cgroups and NetworkPolicy are not (see docs/sandbox.md).
"""

from __future__ import annotations

import asyncio

import pytest
from kubernetes import client

from backend.sandbox.isolation import Isolation
from backend.sandbox.kubernetes_backend import SANDBOX_LABEL, KubernetesSandboxBackend
from backend.sandbox.executor import SkillExecutor
from backend.sandbox.limits import SandboxLimits

from tests.support.fake_kube_api import FakeKube
from sandbox_helpers import eventually

LIMITS = SandboxLimits(timeout_s=10, memory_bytes=256 * 1024 * 1024, cpu_limit=0.5)


@pytest.fixture(params=["bwrap", "rlimits-only"])
def fake(request, bwrap_isolation):
    """The fake server, its pods run with bubblewrap (where it works) and without."""
    if request.param == "bwrap" and not bwrap_isolation.confined:
        pytest.skip(f"bubblewrap is not usable here: {bwrap_isolation.note}")
    isolation = bwrap_isolation if request.param == "bwrap" else Isolation(use_bwrap=False)
    server = FakeKube(isolation).start()
    yield server
    server.stop()


def make_backend(host: str, **kwargs) -> KubernetesSandboxBackend:
    api_client = client.ApiClient(client.Configuration(host=host))
    return KubernetesSandboxBackend(image="evotraders/skill-python:3.11", namespace=kwargs.pop("namespace", "evotraders"),
                                    api_client=api_client, poll_interval=0.05, **kwargs)


@pytest.fixture
async def backend(fake):
    backend = make_backend(fake.host, service_account="skill-runner")
    yield backend
    await backend.close()
    assert fake.live("pods") == [] and fake.live("configmaps") == [], "sandbox objects outlived the call"


async def test_normal_skill_returns_output_with_separate_streams(backend, skill) -> None:
    result = await SkillExecutor(backend, LIMITS).run(skill("echo"), {"word": "pod"})
    assert result.ok, result
    assert result.output["shout"] == "POD!"  # helper.py came through the ConfigMap as well
    assert '{"forged": 1}' in result.stdout
    assert result.stderr == "a line on stderr\n"
    assert result.backend == "kubernetes"


async def test_pod_and_config_map_are_locked_down(backend, skill, fake) -> None:
    await backend.run(skill("echo"), {}, LIMITS)
    config_map, pod = fake.created
    assert config_map["kind"] == "ConfigMap" and "runner.py" in config_map["data"]
    spec = pod["spec"]
    assert pod["metadata"]["labels"][SANDBOX_LABEL] == "skill"  # what the NetworkPolicy selects
    assert spec["restartPolicy"] == "Never" and spec["activeDeadlineSeconds"] == 10
    assert spec["automountServiceAccountToken"] is False and spec["serviceAccountName"] == "skill-runner"
    assert spec["securityContext"]["runAsNonRoot"] is True
    container = spec["containers"][0]
    assert container["securityContext"] == {"runAsNonRoot": True, "readOnlyRootFilesystem": True,
                                             "allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}
    assert container["resources"]["limits"] == {"cpu": "500m", "memory": str(256 * 1024 * 1024)}
    assert container["resources"]["requests"] == container["resources"]["limits"]
    assert container["imagePullPolicy"] == "Never"
    assert {m["mountPath"]: m.get("readOnly", False) for m in container["volumeMounts"]} == \
        {"/sandbox": True, "/skill": True, "/tmp": False}
    assert sorted(item["path"] for item in spec["volumes"][1]["configMap"]["items"]) == \
        ["SKILL.md", "helper.py", "main.py"]


async def test_crash_reports_traceback(backend, skill) -> None:
    result = await backend.run(skill("crash"), {"n": 1}, LIMITS)
    assert result.error.kind == "crashed"
    assert "ValueError: boom from the crash skill" in result.stderr and "in compute" in result.stderr
    assert result.stdout == "about to fail\n" and result.exit_status == 10


async def test_deadline_ends_as_timeout(backend, skill) -> None:
    result = await backend.run(skill("endless"), {}, SandboxLimits(timeout_s=1))
    assert result.error is not None and result.error.kind == "timeout"


async def test_allocation_loop_ends_as_memory(backend, skill) -> None:
    result = await backend.run(skill("memory_hog"), {}, SandboxLimits(timeout_s=20, memory_bytes=128 * 1024**2))
    assert result.error is not None and result.error.kind == "memory"


async def test_bad_output_via_schema(backend, skill) -> None:
    result = await SkillExecutor(backend, LIMITS).run(skill("bad_output"), {"how": "schema"})
    assert result.error.kind == "bad_output"


async def test_cancellation_deletes_pod_and_config_map(backend, skill, fake) -> None:
    task = asyncio.ensure_future(backend.run(skill("sleeper"), {"seconds": 60}, LIMITS))
    assert await eventually(lambda: bool(fake.live("pods")))
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert fake.live("pods") == [] and fake.live("configmaps") == []
    assert ("pods", fake.created[1]["metadata"]["name"]) in fake.deleted


async def test_missing_namespace_is_backend_unavailable(fake, skill) -> None:
    backend = make_backend(fake.host, namespace="nowhere")
    result = await backend.run(skill("echo"), {}, LIMITS)
    await backend.close()
    assert result.error.kind == "backend_unavailable"
    assert "namespace nowhere does not exist" in result.error.message


async def test_unreachable_api_is_backend_unavailable(skill) -> None:
    import socket

    with socket.socket() as sock:  # a port that was free a moment ago: nothing listens there
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    configuration = client.Configuration(host=f"http://127.0.0.1:{port}")
    configuration.retries = 0
    backend = KubernetesSandboxBackend(api_client=client.ApiClient(configuration))
    result = await backend.run(skill("echo"), {}, LIMITS)
    await backend.close()
    assert result.error.kind == "backend_unavailable"
    assert f"cannot reach the Kubernetes API at http://127.0.0.1:{port}" in result.error.message
