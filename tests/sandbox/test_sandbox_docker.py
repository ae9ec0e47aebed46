"""The docker backend against a real engine (``DOCKER_HOST``, image evotraders/skill-python:3.11).

Without a reachable engine these tests skip with the reason, except when
``EVOTRADERS_REQUIRE_DOCKER=1`` (CI), where they fail. They never pull.
"""

from __future__ import annotations

import asyncio

import pytest

from backend.sandbox.docker_backend import DockerSandboxBackend, list_sandbox_containers
from backend.sandbox.executor import SkillExecutor
from backend.sandbox.limits import SandboxLimits

from sandbox_helpers import DOCKER_IMAGE, eventually

LIMITS = SandboxLimits(timeout_s=20, memory_bytes=128 * 1024 * 1024)


@pytest.fixture
async def backend(docker_client):
    backend = DockerSandboxBackend(image=DOCKER_IMAGE, pull_policy="never")
    yield backend
    await backend.close()
    assert list_sandbox_containers(docker_client) == [], "a sandbox container outlived its test"


async def test_normal_skill_returns_output(backend, skill) -> None:
    result = await SkillExecutor(backend, LIMITS).run(skill("echo"), {"word": "hey"})
    assert result.ok, result
    assert result.output["shout"] == "HEY!" and result.output["uid"] == 65534
    assert '{"forged": 1}' in result.stdout
    assert result.stderr == "a line on stderr\n"
    assert result.backend == "docker"


async def test_a_skill_outlasting_several_wait_slices_still_returns(backend, skill) -> None:
    """The backend waits for a container in 1 s slices; a slice that ends first is a read
    timeout and must not count as an unreachable engine. Here requests reports it as a
    ConnectionError; on a loaded machine it came as ReadTimeout once and failed a whole
    docker backtest (tests/sandbox/test_backtest_backends.py); both now count as a slice."""
    result = await SkillExecutor(backend, LIMITS).run(skill("sleeper"), {"seconds": 2.5})
    assert result.ok, result
    assert result.backend == "docker"


async def test_network_connect_fails(backend, skill, listening_port) -> None:
    targets = [["127.0.0.1", listening_port], ["10.255.255.1", 9]]
    result = await backend.run(skill("network"), {"targets": targets}, LIMITS)
    assert result.ok, result
    assert all(not text.startswith("connected") for text in result.output["results"].values())
    assert "unreachable" in result.output["results"]["10.255.255.1:9"]


async def test_root_filesystem_is_read_only(backend, skill) -> None:
    result = await backend.run(skill("write_root"), {}, LIMITS)
    assert result.ok, result
    assert "Read-only file system" in result.output["results"]["/usr/evotraders-probe"]
    assert all(text != "written" for text in result.output["results"].values())


async def test_allocation_loop_ends_as_memory(backend, skill) -> None:
    result = await backend.run(skill("memory_hog"), {}, SandboxLimits(timeout_s=30, memory_bytes=64 * 1024**2))
    assert result.error is not None and result.error.kind == "memory", result
    assert "64 MiB" in result.error.message


async def test_endless_loop_ends_as_timeout_and_no_container_remains(backend, skill, docker_client) -> None:
    result = await backend.run(skill("endless"), {}, SandboxLimits(timeout_s=1.5))
    assert result.error is not None and result.error.kind == "timeout"
    assert list_sandbox_containers(docker_client) == []


async def test_crash_reports_traceback(backend, skill) -> None:
    result = await backend.run(skill("crash"), {"n": 1}, LIMITS)
    assert result.error.kind == "crashed"
    assert "Traceback" in result.stderr and "ValueError: boom from the crash skill" in result.stderr
    assert result.exit_status == 10


@pytest.mark.parametrize("how, fragment", [
    ("schema", "does not match its output_schema"),
    ("set", "not JSON"),
])
async def test_bad_output(backend, skill, how: str, fragment: str) -> None:
    result = await SkillExecutor(backend, LIMITS).run(skill("bad_output"), {"how": how})
    assert result.error is not None and result.error.kind == "bad_output"
    assert fragment in result.error.message


async def test_cancellation_removes_the_container(backend, skill, docker_client) -> None:
    task = asyncio.ensure_future(backend.run(skill("sleeper"), {"seconds": 60}, LIMITS))

    def running() -> bool:
        return any(c.status == "running" for c in docker_client.containers.list(
            filters={"label": "evotraders.sandbox"}))

    assert await eventually(running, within=20)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert list_sandbox_containers(docker_client) == []


async def test_missing_image_with_pull_policy_never(docker_client, skill) -> None:
    backend = DockerSandboxBackend(image="evotraders/not-built:0", pull_policy="never")
    result = await backend.run(skill("echo"), {}, LIMITS)
    await backend.close()
    assert result.error is not None and result.error.kind == "backend_unavailable"
    assert "image evotraders/not-built:0 is not in the Docker engine" in result.error.message
    assert "scripts/docker_sandbox_setup.sh" in result.error.message
    assert "docker pull evotraders/not-built:0" in result.error.message


async def test_unreachable_engine_names_docker_host(skill, tmp_path) -> None:
    # Runs without any engine: a socket path where nothing listens.
    backend = DockerSandboxBackend(base_url=f"unix://{tmp_path}/nothing.sock")
    result = await backend.run(skill("echo"), {}, LIMITS)
    await backend.close()
    assert result.error is not None and result.error.kind == "backend_unavailable"
    assert "DOCKER_HOST" in result.error.message and "docker_sandbox_setup.sh" in result.error.message
