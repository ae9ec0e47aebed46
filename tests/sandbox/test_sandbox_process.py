"""The process backend: real confined subprocesses running misbehaving skills.

Every behaviour runs twice: with bubblewrap (where it works on this machine;
skipped with the reason otherwise) and with rlimits only (``use_bwrap=False``).
"""

from __future__ import annotations

import asyncio

import pytest

from backend.sandbox.isolation import Isolation
from backend.sandbox.process import ProcessSandboxBackend
from backend.sandbox.executor import SkillExecutor
from backend.sandbox.limits import SandboxLimits

from sandbox_helpers import eventually, runner_processes

LIMITS = SandboxLimits(timeout_s=10, memory_bytes=256 * 1024 * 1024)


@pytest.fixture(params=["bwrap", "rlimits-only"])
def mode(request, bwrap_isolation: Isolation) -> str:
    if request.param == "bwrap" and not bwrap_isolation.confined:
        pytest.skip(f"bubblewrap is not usable here: {bwrap_isolation.note}")
    return request.param


@pytest.fixture
async def backend(mode: str, bwrap_isolation: Isolation):
    isolation = bwrap_isolation if mode == "bwrap" else Isolation(use_bwrap=False)
    backend = ProcessSandboxBackend(isolation=isolation, warm_pool=0)
    yield backend
    await backend.close()


def require_bwrap(mode: str) -> None:
    if mode != "bwrap":
        pytest.skip("only bubblewrap gives a private network and a read-only filesystem view")


async def test_normal_skill_returns_output_and_keeps_streams_apart(backend, skill) -> None:
    result = await SkillExecutor(backend, LIMITS).run(skill("echo"), {"word": "hey"})
    assert result.ok, result.error
    assert result.output["echo"] == {"word": "hey"} and result.output["shout"] == "HEY!"
    assert '{"forged": 1}' in result.stdout  # printed noise never becomes the result
    assert result.stderr == "a line on stderr\n"
    assert result.exit_status == 0 and result.backend == "process"


async def test_bwrap_runs_as_nobody(backend, skill, mode) -> None:
    require_bwrap(mode)
    result = await backend.run(skill("echo"), {}, LIMITS)
    assert result.output["uid"] == 65534


async def test_network_connect_fails(backend, skill, mode, listening_port) -> None:
    require_bwrap(mode)
    targets = [["127.0.0.1", listening_port], ["10.255.255.1", 9]]
    result = await backend.run(skill("network"), {"targets": targets}, LIMITS)
    assert result.ok, result.error
    outcomes = result.output["results"]
    assert all(not text.startswith("connected") for text in outcomes.values()), outcomes
    assert "unreachable" in outcomes["10.255.255.1:9"]


async def test_host_loopback_is_reachable_without_bwrap(skill, listening_port) -> None:
    # The contrast that makes the test above meaningful: the port really listens.
    backend = ProcessSandboxBackend(use_bwrap=False, warm_pool=0)
    result = await backend.run(skill("network"), {"targets": [["127.0.0.1", listening_port]]}, LIMITS)
    assert result.output["results"][f"127.0.0.1:{listening_port}"] == "connected"


async def test_writing_outside_the_work_dir_fails(backend, skill, mode) -> None:
    require_bwrap(mode)
    result = await backend.run(skill("write_root"), {}, LIMITS)
    assert result.ok, result.error
    assert all(text.startswith("OSError") or "Error" in text for text in result.output["results"].values()), \
        result.output
    assert "Read-only file system" in result.output["results"]["/usr/evotraders-probe"]
    assert result.output["cwd"] == "written"  # the private working directory is writable


async def test_allocation_loop_ends_as_memory(backend, skill) -> None:
    limits = SandboxLimits(timeout_s=20, memory_bytes=128 * 1024 * 1024)
    result = await backend.run(skill("memory_hog"), {}, limits)
    assert not result.ok
    assert result.error.kind == "memory", result
    assert "128 MiB" in result.error.message


async def test_endless_loop_ends_as_timeout_and_leaves_no_process(backend, skill) -> None:
    result = await backend.run(skill("endless"), {}, SandboxLimits(timeout_s=1))
    assert result.error is not None and result.error.kind == "timeout"
    assert result.error.message == "skill endless: did not finish within 1 s and was stopped"
    assert await eventually(lambda: not runner_processes()), runner_processes()


async def test_crash_reports_traceback(backend, skill) -> None:
    result = await backend.run(skill("crash"), {"n": 1}, LIMITS)
    assert result.error.kind == "crashed"
    assert "ValueError: boom from the crash skill" in result.error.message
    assert "Traceback" in result.stderr and 'in compute' in result.stderr
    assert result.stdout == "about to fail\n"
    assert result.exit_status == 10


async def test_system_exit_is_a_crash(backend, skill) -> None:
    result = await backend.run(skill("crash"), {"exit": 3}, LIMITS)
    assert result.error.kind == "crashed" and "SystemExit" in result.error.message


@pytest.mark.parametrize("how, fragment", [
    ("schema", "does not match its output_schema at answer"),
    ("set", "not JSON"),
    ("list", "returned list, not a JSON object"),
    ("vanish", "exited without returning a result"),
])
async def test_bad_output(backend, skill, how: str, fragment: str) -> None:
    result = await SkillExecutor(backend, LIMITS).run(skill("bad_output"), {"how": how})
    assert result.error is not None and result.error.kind == "bad_output"
    assert fragment in result.error.message


async def test_cancellation_kills_the_process(backend, skill) -> None:
    task = asyncio.ensure_future(backend.run(skill("sleeper"), {"seconds": 60}, LIMITS))
    assert await eventually(lambda: bool(runner_processes()))
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await eventually(lambda: not runner_processes()), runner_processes()


async def test_environment_is_empty(backend, skill, tmp_path) -> None:
    folder = tmp_path / "envdump"
    folder.mkdir()
    (folder / "SKILL.md").write_text("---\nname: envdump\nentry: main.py:run\n---\n")
    (folder / "main.py").write_text("import os, sys\ndef run(p):\n    return {'env': dict(os.environ), "
                                    "'flags': [sys.flags.isolated, sys.flags.no_site]}\n")
    from backend.skills.spec import load_skill

    result = await backend.run(load_skill(folder), {}, LIMITS)
    assert result.ok, result.error
    assert set(result.output["env"]) <= {"LANG", "HOME", "TMPDIR", "PWD", "LC_CTYPE"}
    assert result.output["flags"] == [1, 1]


async def test_warm_pool_never_reuses_a_process(mode, bwrap_isolation, skill) -> None:
    isolation = bwrap_isolation if mode == "bwrap" else Isolation(use_bwrap=False)
    backend = ProcessSandboxBackend(isolation=isolation, warm_pool=2)
    try:
        await backend.warm_up()
        outputs = [(await backend.run(skill("stateful"), {}, LIMITS)).output for _ in range(4)]
    finally:
        await backend.close()
    assert outputs == [{"calls_in_this_process": 1, "saw_earlier_call": {"cwd": False, "tmp": False}}] * 4
    assert await eventually(lambda: not runner_processes()), "close() must stop idle workers"


async def test_warm_pool_applies_the_call_limits(mode, bwrap_isolation, skill) -> None:
    isolation = bwrap_isolation if mode == "bwrap" else Isolation(use_bwrap=False)
    backend = ProcessSandboxBackend(isolation=isolation, warm_pool=1)
    try:
        await backend.warm_up()
        result = await backend.run(skill("memory_hog"), {}, SandboxLimits(memory_bytes=128 * 1024 * 1024))
    finally:
        await backend.close()
    assert result.error is not None and result.error.kind == "memory"
