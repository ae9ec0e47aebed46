"""The preloading fork server: forked children are real, separate, supervised processes.

A real fork server process (``python -m backend.supervisor.forkserver``)
forks each ``python -m`` child; the tests check what a supervisor's user
relies on: a pid of its own in its own session, its output, its exit code,
stop and restart, the environment and directory it was given, and that
nothing outlives whoever asked for it.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import psutil
import pytest

from backend.supervisor import ProcessSpec, ProcessStatus, ProcessSupervisor, RestartPolicy
from backend.supervisor.forkserver_process import ForkServerProcess
from tests.support.waiting import until
from tests.supervisor.support import child, is_gone, wait_line

ROOT = Path(__file__).resolve().parents[2]
PROBE = "tests.supervisor.children.forked_probe"


def probe(name: str, *args: str, **fields) -> ProcessSpec:
    fields.setdefault("cwd", ROOT)
    return ProcessSpec(name=name, argv=[sys.executable, "-m", PROBE, *args], **fields)


def fields(line: str) -> dict[str, str]:
    return dict(part.split("=", 1) for part in line.split() if "=" in part)


@pytest.fixture
async def forkserver():
    server = ForkServerProcess(cwd=ROOT)
    address = await server.start(["tests.supervisor.children.preload_marker"])
    assert address is not None
    yield server
    await server.stop()


def server_pid(server: ForkServerProcess) -> int:
    assert server._child is not None
    return server._child.pid


async def test_a_forked_child_is_its_own_supervised_process(forkserver, tmp_path):
    async with ProcessSupervisor(forkserver=forkserver.address) as sup:
        proc = sup.add(probe("probe", "hold", "--flag", env={"PROBE_MARKER": "m-42"}))
        await sup.start("probe")
        line = await wait_line(proc, "pid=")
        seen = fields(line)
        preloaded = await wait_line(proc, "preloaded=")
        # Forked from the server (which had the module imported), in a session of its own.
        assert int(seen["pid"]) == proc.pid and int(seen["sid"]) == proc.pid
        assert int(seen["ppid"]) == server_pid(forkserver)
        assert preloaded == "preloaded=True"
        assert seen["marker"] == "m-42" and line.split("argv=", 1)[1] == "hold --flag"
        assert proc.status is ProcessStatus.healthy
        pid = proc.pid
        await sup.stop("probe")
        assert proc.status is ProcessStatus.stopped
        assert proc.last_exit is not None and proc.last_exit.requested
        assert is_gone(pid)


async def test_a_forked_child_runs_in_its_own_directory_and_imports_from_there(forkserver, tmp_path):
    (tmp_path / "here_probe.py").write_text("import os\nprint('cwd=' + os.getcwd(), flush=True)\n")
    async with ProcessSupervisor(forkserver=forkserver.address) as sup:
        proc = sup.add(ProcessSpec(name="here", argv=[sys.executable, "-m", "here_probe"], cwd=tmp_path))
        await sup.start("here")
        assert await proc.wait_status(ProcessStatus.stopped, timeout=20) is ProcessStatus.stopped
        assert proc.lines() == [f"cwd={tmp_path}"]
        assert proc.last_exit is not None and proc.last_exit.exit_code == 0


@pytest.mark.parametrize(("args", "code", "text"), [(("exit", "3"), 3, "exited with code 3"),
                                                     (("raise",), 1, "exited with code 1")])
async def test_a_forked_childs_end_is_reported_like_a_spawned_ones(forkserver, args, code, text):
    async with ProcessSupervisor(forkserver=forkserver.address) as sup:
        proc = sup.add(probe("probe", *args))
        await sup.start("probe")
        assert await proc.wait_status(ProcessStatus.crashed, timeout=20) is ProcessStatus.crashed
        assert proc.last_exit is not None and proc.last_exit.exit_code == code
        assert text in proc.last_exit.reason
        if args[0] == "raise":
            assert any("RuntimeError: probe failed on purpose" in line for line in proc.lines())


async def test_a_killed_child_restarts_forked_again(forkserver):
    async with ProcessSupervisor(forkserver=forkserver.address) as sup:
        proc = sup.add(probe("probe", "hold", restart=RestartPolicy.on_failure, backoff_base=0.0))
        await sup.start("probe")
        first = proc.pid
        os.kill(first, signal.SIGKILL)
        await until(lambda: proc.pid not in (None, first) and proc.status is ProcessStatus.healthy, 20,
                    "the probe restarted")
        assert proc.restarts == 1
        assert proc.last_exit is not None and proc.last_exit.signal == "SIGKILL"
        assert psutil.Process(proc.pid).ppid() == server_pid(forkserver)


async def test_when_the_fork_server_dies_its_children_die_and_come_back_as_fresh_interpreters(forkserver):
    async with ProcessSupervisor(forkserver=forkserver.address) as sup:
        proc = sup.add(probe("probe", "hold", restart=RestartPolicy.on_failure, backoff_base=0.0))
        await sup.start("probe")
        first = proc.pid
        os.kill(server_pid(forkserver), signal.SIGKILL)
        await until(lambda: is_gone(first), 20, "the forked child died with its server")
        await until(lambda: proc.pid not in (None, first) and proc.status is ProcessStatus.healthy, 20,
                    "the probe restarted")
        # Now spawned by us, a fresh interpreter: the preloaded module is not there.
        assert await wait_line(proc, "preloaded=") == "preloaded=False"
        assert psutil.Process(proc.pid).ppid() == os.getpid()


async def test_children_go_when_the_process_that_asked_for_them_dies(forkserver):
    async with ProcessSupervisor() as sup:
        requester = sup.add(ProcessSpec(name="requester",
                                        argv=child("fork_requester.py", forkserver.address, ROOT),
                                        cwd=ROOT))
        await sup.start("requester")
        line = await wait_line(requester, "probe pid ", timeout=30)
        probe_pid = int(line.rsplit(" ", 1)[1])
        assert psutil.Process(probe_pid).ppid() == server_pid(forkserver)
        os.kill(requester.pid, signal.SIGKILL)
        await until(lambda: is_gone(probe_pid), 20, "the probe died with its requester")


async def test_another_interpreter_setting_is_spawned_fresh(forkserver):
    async with ProcessSupervisor(forkserver=forkserver.address) as sup:
        proc = sup.add(probe("probe", "hold", env={"PYTHONWARNINGS": "ignore::DeprecationWarning"}))
        await sup.start("probe")
        assert await wait_line(proc, "preloaded=") == "preloaded=False"
        assert psutil.Process(proc.pid).ppid() == os.getpid()


async def test_a_script_child_is_spawned_fresh_and_a_missing_directory_is_refused(forkserver, tmp_path):
    async with ProcessSupervisor(forkserver=forkserver.address) as sup:
        script = sup.add(ProcessSpec(name="script", argv=child("chatter.py", 1, "--hold")))
        await sup.start("script")
        assert psutil.Process(script.pid).ppid() == os.getpid()
        missing = sup.add(probe("missing", "hold", cwd=tmp_path / "nope"))
        with pytest.raises(Exception, match="nope"):
            await sup.start("missing")
        assert missing.status is ProcessStatus.crashed
        assert missing.last_exit is not None and "nope" in missing.last_exit.reason


async def test_modules_preloaded_later_reach_the_children_forked_after_them(tmp_path):
    server = ForkServerProcess(cwd=ROOT, log_path=tmp_path / "forkserver.log")
    address = await server.start([], later=["tests.supervisor.children.preload_marker"])
    try:
        async with ProcessSupervisor(forkserver=address) as sup:
            await until(lambda: "later modules preloaded" in (tmp_path / "forkserver.log").read_text(), 20,
                        "the later modules imported")
            proc = sup.add(probe("probe", "hold"))
            await sup.start("probe")
            assert await wait_line(proc, "preloaded=") == "preloaded=True"
            assert psutil.Process(proc.pid).ppid() == server_pid(server)
    finally:
        await server.stop()
