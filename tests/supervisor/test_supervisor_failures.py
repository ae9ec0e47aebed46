"""Supervisor failure handling: crashes recorded, restarts with back-off, give-up, start errors."""

from __future__ import annotations

import socket

import pytest

from backend.supervisor import (
    PortInUseError,
    ProcessSpec,
    ProcessStartError,
    ProcessStatus,
    RestartPolicy,
    free_port,
)

from .support import child, wait_gone, wait_line


async def test_crash_is_recorded_with_exit_code_and_last_lines(supervisor, tmp_path):
    proc = supervisor.add(ProcessSpec("crashy", child("crash.py"), log_path=tmp_path / "crashy.log"))
    await proc.start()
    assert await proc.wait_ready(30) in (ProcessStatus.healthy, ProcessStatus.crashed)
    await proc.wait_status(ProcessStatus.crashed, timeout=30)
    out = proc.last_exit
    assert out is not None
    assert (out.exit_code, out.signal, out.requested) == (3, None, False)
    assert out.reason == "exited with code 3"
    assert out.lines[-2:] == ("working 4", "fatal: boom")  # stderr is merged in order
    assert proc.message == "exited with code 3"
    assert proc.pid is None
    assert "exited with code 3" in (tmp_path / "crashy.log").read_text()


async def test_crash_loop_backs_off_then_gives_up(supervisor, tmp_path):
    seen: list[ProcessStatus] = []
    spec = ProcessSpec("loop", child("crash.py"), restart=RestartPolicy.on_failure, max_restarts=2,
                       backoff_base=0.01, backoff_cap=0.05, log_path=tmp_path / "loop.log")
    proc = supervisor.add(spec)
    proc.event.connect(lambda ev: seen.append(ev.status))
    await proc.start()
    await proc.wait_status(ProcessStatus.crashed, timeout=60)
    assert proc.restarts == 2
    assert seen.count(ProcessStatus.restarting) == 2
    assert seen[-1] is ProcessStatus.crashed
    assert proc.message == "gave up after 2 restarts without progress: exited with code 3"
    assert proc.gave_up and proc.as_dict()["gave_up"] is True
    assert proc.last_exit.exit_code == 3 and proc.last_exit.lines[-1] == "fatal: boom"
    text = (tmp_path / "loop.log").read_text()
    assert text.count("fatal: boom") == 3  # the first run and two restarts, all in one file
    assert text.count("started pid") == 3


async def test_restart_brings_a_crashed_service_back(supervisor, tmp_path):
    port = free_port()
    marker = tmp_path / "crashed-once"
    spec = ProcessSpec("web", child("health_server.py", port, "--crash-first", marker),
                       health_url=f"http://127.0.0.1:{port}/health", port=port, ready_timeout=20,
                       restart=RestartPolicy.on_failure, backoff_base=0.01)
    proc = supervisor.add(spec)
    await proc.start()
    await proc.wait_status(ProcessStatus.healthy, timeout=60)
    assert proc.restarts == 1
    assert proc.last_exit.exit_code == 3
    assert proc.last_exit.lines == ("first run: crashing on purpose",)


async def test_on_failure_does_not_restart_a_clean_exit(supervisor):
    proc = supervisor.add(ProcessSpec("done", child("chatter.py", 2), restart=RestartPolicy.on_failure))
    await proc.start()
    assert await proc.wait_status(ProcessStatus.stopped, timeout=30) is ProcessStatus.stopped
    assert proc.restarts == 0 and proc.last_exit.exit_code == 0 and proc.message == ""


async def test_always_restarts_even_clean_exits_and_can_give_up(supervisor):
    proc = supervisor.add(ProcessSpec("again", child("chatter.py", 1), restart=RestartPolicy.always,
                                      max_restarts=1, backoff_base=0.01))
    await proc.start()
    await proc.wait_status(ProcessStatus.crashed, timeout=30)
    assert proc.restarts == 1
    assert proc.message == "gave up after 1 restarts without progress: exited with code 0"


async def test_stop_cancels_a_pending_restart(supervisor):
    proc = supervisor.add(ProcessSpec("slow", child("crash.py"), restart=RestartPolicy.on_failure,
                                      backoff_base=600, backoff_cap=600))
    await proc.start()
    await proc.wait_status(ProcessStatus.restarting, timeout=30)
    assert proc.message == ("restarting in 600s after: exited with code 3 "
                            "(restart 1 of at most 5 since the last progress)")
    await proc.stop()  # would hang for 10 minutes if the back-off were not cancelled
    assert proc.status is ProcessStatus.stopped and proc.restarts == 0


async def test_port_conflict_is_detected_before_spawning(supervisor, tmp_path):
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        log_path = tmp_path / "web.log"
        proc = supervisor.add(ProcessSpec("web", child("health_server.py", port), port=port, log_path=log_path))
        with pytest.raises(PortInUseError, match=f"port {port} on 127.0.0.1 is already in use by pid "):
            await proc.start()
    assert proc.status is ProcessStatus.crashed and proc.pid is None
    assert proc.lines() == []  # nothing was spawned
    assert proc.last_exit.reason.startswith(f"not started: port {port}")
    assert proc.message == proc.last_exit.reason


async def test_port_taken_by_an_earlier_child_names_that_child(supervisor, tmp_path):
    port = free_port()
    first = supervisor.add(ProcessSpec("first", child("health_server.py", port)))
    await first.start()
    await wait_line(first, "listening on")
    second = supervisor.add(ProcessSpec("second", child("health_server.py", port), port=port))
    with pytest.raises(PortInUseError) as info:
        await second.start()
    assert info.value.pid == first.pid


async def test_unspawnable_command_is_one_clear_error(supervisor, tmp_path):
    proc = supervisor.add(ProcessSpec("ghost", [str(tmp_path / "no-such-program")]))
    with pytest.raises(ProcessStartError, match="ghost: failed to start: .*No such file or directory"):
        await proc.start()
    assert proc.status is ProcessStatus.crashed
    assert proc.last_exit.exit_code is None and proc.last_exit.reason.startswith("failed to start")
    await proc.stop()  # acknowledging a crash leaves it stopped
    assert proc.status is ProcessStatus.stopped


async def test_crash_takes_the_grandchildren_down_too(supervisor):
    proc = supervisor.add(ProcessSpec("parent", child("spawn_grandchild.py", "--exit", 5), grace_seconds=0.3))
    await proc.start()
    line = await wait_line(proc, "grandchild pid")
    grandchild = int(line.split()[-1])
    await proc.wait_status(ProcessStatus.crashed, timeout=30)
    assert proc.last_exit.exit_code == 5
    assert await wait_gone(grandchild, timeout=10), f"grandchild {grandchild} survived its parent's crash"
