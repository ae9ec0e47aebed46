"""The fork server's sibling, its greeting's routing, and the start-up trace.

A real fork server started with ``--sibling-serves`` forks a sibling server
once the shared modules are imported; the sibling imports its own modules and
forks the children it serves. The tests check what a supervisor's user relies
on: which server a child comes from (and so which modules it finds loaded),
that a child comes back when the sibling dies, that the trace records each
phase and each child's lines, and that a bad command line is refused by name.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from backend.supervisor import ProcessSpec, ProcessStatus, ProcessSupervisor, RestartPolicy
from backend.supervisor.forkserver import TRACE_ENV
from backend.supervisor.forkserver_process import ForkServerProcess
from tests.support.waiting import until
from tests.supervisor.support import wait_line

ROOT = Path(__file__).resolve().parents[2]
PROBE = "tests.supervisor.children.forked_probe"
MARKER = "tests.supervisor.children.preload_marker"


def fields(line: str) -> dict[str, str]:
    return dict(part.split("=", 1) for part in line.split() if "=" in part)


@pytest.fixture
async def servers():
    # The sibling imports the marker and forks the probe; the server itself imports nothing more.
    server = ForkServerProcess(cwd=ROOT)
    address = await server.start([], sibling_serves=[PROBE], sibling_preloads=[MARKER])
    assert address is not None
    yield server
    await server.stop()


def probe(name: str) -> ProcessSpec:
    return ProcessSpec(name=name, argv=[sys.executable, "-m", PROBE, "hold"], cwd=ROOT,
                       restart=RestartPolicy.on_failure, backoff_base=0.0)


async def test_the_sibling_forks_the_modules_it_serves_and_the_server_the_others(servers, tmp_path):
    (tmp_path / "own_probe.py").write_text(
        f"import os, sys\nprint('ppid=%d marker=%s' % (os.getppid(), {MARKER!r} in sys.modules), flush=True)\n")
    server = servers._child.pid
    async with ProcessSupervisor(forkserver=servers.address) as sup:
        served = sup.add(probe("served"))
        own = sup.add(ProcessSpec(name="own", argv=[sys.executable, "-m", "own_probe"], cwd=tmp_path))
        await sup.start("served")
        await sup.start("own")
        seen = fields(await wait_line(served, "pid="))
        sibling = int(seen["ppid"])
        assert sibling != server and psutil.Process(sibling).ppid() == server
        assert int(seen["pid"]) == served.pid and int(seen["sid"]) == served.pid  # its own session
        assert await wait_line(served, "preloaded=") == "preloaded=True"  # the sibling's own module
        assert await own.wait_status(ProcessStatus.stopped, timeout=20) is ProcessStatus.stopped
        assert own.lines() == [f"ppid={server} marker=False"]  # the server never imported it


async def test_a_child_of_a_dead_sibling_comes_back_forked_by_the_server(servers):
    server = servers._child.pid
    async with ProcessSupervisor(forkserver=servers.address) as sup:
        served = sup.add(probe("served"))
        await sup.start("served")
        first = served.pid
        sibling = int(fields(await wait_line(served, "pid="))["ppid"])
        os.kill(sibling, signal.SIGKILL)
        # The child dies with its parent; the supervisor restarts it, and the server forks it.
        await until(lambda: served.pid not in (None, first) and served.status is ProcessStatus.healthy, 30,
                    "the probe restarted")
        assert served.restarts == 1
        await until(lambda: any(line.startswith(f"pid={served.pid} ") for line in served.lines()), 20,
                    "the restarted probe's first line")
        assert psutil.Process(served.pid).ppid() == server
        # The server never imported the sibling's module: the restarted probe imports it itself.
        await until(lambda: served.lines()[-1:] == ["preloaded=False"], 20, "the restarted probe's second line")


async def test_the_trace_records_the_phases_the_forks_and_the_childrens_lines(tmp_path, monkeypatch):
    trace = tmp_path / "trace"
    monkeypatch.setenv(TRACE_ENV, str(trace))
    server = ForkServerProcess(cwd=ROOT)
    assert await server.start([MARKER], sibling_serves=["tests.supervisor.children.chatter"]) is not None
    try:
        async with ProcessSupervisor(forkserver=server.address) as sup:
            proc = sup.add(ProcessSpec(name="probe", argv=[sys.executable, "-m", PROBE, "exit", "0"], cwd=ROOT))
            await sup.start("probe")
            pid = int(fields(await wait_line(proc, "pid="))["pid"])
            assert await proc.wait_status(ProcessStatus.stopped, timeout=20) is ProcessStatus.stopped
    finally:
        await server.stop()
    events = [line.split(" ", 2)[2] for line in trace.read_text().splitlines()]
    for phase in ("forkserver listening", "forkserver ready", "forkserver sibling ready"):
        assert phase in events
    assert f"fork {PROBE} pid {pid}" in events
    lines = [e for e in events if e.startswith(f"line {PROBE} cpu=")]
    assert any("preloaded=True" in e for e in lines), lines
    times = [float(line.split(" ", 1)[0]) for line in trace.read_text().splitlines()]
    assert times == sorted(times)  # one clock for every process, written in order


def test_an_unknown_option_is_refused_by_name():
    out = subprocess.run([sys.executable, "-m", "backend.supervisor.forkserver", "some-address", "json",
                          "--sibling", "x"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 2
    assert "unknown option '--sibling'" in out.stderr and "--sibling-serves" in out.stderr
