"""Supervisor against real children: start, readiness, log capture, follow, observers, order."""

from __future__ import annotations


import httpx
import pytest

from backend.supervisor import ProcessSpec, ProcessStatus, ProcessSupervisor, free_port

from .support import child, wait_line


def health_spec(name: str, port: int, tmp_path, *extra, **kwargs) -> ProcessSpec:
    return ProcessSpec(
        name,
        child("health_server.py", port, *extra),
        health_url=f"http://127.0.0.1:{port}/health",
        port=port,
        log_path=tmp_path / "logs" / f"{name}.log",
        ready_timeout=kwargs.pop("ready_timeout", 20.0),
        grace_seconds=kwargs.pop("grace_seconds", 5.0),
        **kwargs,
    )


async def test_start_becomes_healthy_and_logs_to_file_and_ring(supervisor, tmp_path):
    port = free_port()
    proc = supervisor.add(health_spec("web", port, tmp_path, "--lines", 3))
    await supervisor.start("web")
    assert await proc.wait_ready(30) is ProcessStatus.healthy
    assert proc.pid is not None and proc.port == port
    assert proc.identity is not None and proc.identity.pid == proc.pid and proc.identity.is_alive()
    assert proc.uptime is not None and proc.started_at is not None
    # The child really serves on its port.
    async with httpx.AsyncClient(trust_env=False) as client:
        assert (await client.get(f"http://127.0.0.1:{port}/health")).json() == {"status": "ok"}
    assert proc.lines()[:3] == ["line 0", "line 1", "line 2"]
    assert proc.lines()[3].startswith(f"listening on {port}")
    await supervisor.stop_all()
    text = (tmp_path / "logs" / "web.log").read_text()
    assert "line 2\n" in text and f"listening on {port}" in text
    assert "got SIGTERM, bye" in text  # output up to the very end is captured
    assert "started pid" in text  # supervisor markers make the file readable on its own


async def test_graceful_stop_is_recorded_as_requested(supervisor, tmp_path):
    port = free_port()
    proc = supervisor.add(health_spec("web", port, tmp_path))
    await supervisor.start("web", wait_ready=True)
    await proc.stop()
    assert proc.status is ProcessStatus.stopped
    assert proc.pid is None and proc.uptime is None
    assert proc.last_exit is not None
    assert proc.last_exit.requested and proc.last_exit.exit_code == 0
    assert proc.last_exit.reason == "stopped: exited with code 0"
    assert proc.last_exit.lines[-1] == "got SIGTERM, bye"


async def test_health_url_not_answering_200_makes_it_unhealthy(supervisor, tmp_path):
    port = free_port()
    proc = supervisor.add(health_spec("sick", port, tmp_path, "--status", 503, ready_timeout=1.0))
    await proc.start()
    assert await proc.wait_ready(30) is ProcessStatus.unhealthy
    assert proc.message == f"not healthy within 1s: GET http://127.0.0.1:{port}/health answered HTTP 503"
    assert proc.pid is not None  # still running: unhealthy is not dead
    await proc.stop()
    assert proc.status is ProcessStatus.stopped


async def test_without_health_url_running_means_healthy(supervisor):
    proc = supervisor.add(ProcessSpec("hold", child("chatter.py", 1, "--hold"), grace_seconds=5))
    await proc.start()
    assert proc.status is ProcessStatus.healthy


async def test_follow_sees_every_line_then_ends_when_the_process_ends(supervisor):
    proc = supervisor.add(ProcessSpec("chat", child("chatter.py", 200)))
    await proc.start()
    lines = [line async for line in proc.follow(backlog=1000)]
    assert lines == [f"chatter {i}" for i in range(200)]
    assert proc.status is ProcessStatus.stopped
    assert proc.last_exit is not None and proc.last_exit.exit_code == 0


async def test_ring_buffer_is_bounded_but_the_file_has_everything(supervisor, tmp_path):
    log_path = tmp_path / "chat.log"
    proc = supervisor.add(ProcessSpec("chat", child("chatter.py", 50), log_lines=10, outcome_lines=4, log_path=log_path))
    await proc.start()
    await proc.wait_status(ProcessStatus.stopped, timeout=30)
    assert proc.lines() == [f"chatter {i}" for i in range(40, 50)]
    assert proc.last_exit.lines == tuple(f"chatter {i}" for i in range(46, 50))
    file_lines = [line for line in log_path.read_text().splitlines() if not line.startswith("[supervisor")]
    assert file_lines == [f"chatter {i}" for i in range(50)]


async def test_listeners_see_status_changes_and_optionally_lines(supervisor, tmp_path):
    statuses: list[tuple[str, str | None, str]] = []
    events = []
    supervisor.event.connect(lambda ev: statuses.append((ev.name, ev.previous and ev.previous.value, ev.status.value)))
    port = free_port()
    proc = supervisor.add(health_spec("web", port, tmp_path))
    proc.event.connect(events.append)
    proc.line.connect(events.append)
    broken_calls = []

    def broken(ev):
        broken_calls.append(ev)
        raise RuntimeError("observer bug")

    proc.event.connect(broken)
    await supervisor.start("web", wait_ready=True)
    await supervisor.stop("web")
    assert statuses == [
        ("web", "stopped", "starting"),
        ("web", "starting", "healthy"),
        ("web", "healthy", "stopped"),
    ]
    # An observer of both signals gets the status changes and every line, in order.
    lines = [ev.line for ev in events if ev.kind == "line"]
    assert lines[0].startswith("listening on") and lines[-1] == "got SIGTERM, bye"
    assert [ev.status.value for ev in events if ev.kind == "status"] == ["starting", "healthy", "stopped"]
    assert len(broken_calls) == 3  # a failing observer is logged, not fatal


async def test_stop_all_goes_in_reverse_start_order(tmp_path):
    order: list[str] = []
    async with ProcessSupervisor() as sup:
        sup.event.connect(lambda ev: order.append(ev.name) if ev.status is ProcessStatus.stopped else None)
        for name in ("first", "second", "third"):
            sup.add(ProcessSpec(name, child("chatter.py", 1, "--hold")))
        statuses = await sup.start_all()
        assert statuses == {"first": ProcessStatus.healthy, "second": ProcessStatus.healthy,
                            "third": ProcessStatus.healthy}
        snapshot = sup.snapshot()
        assert [row["name"] for row in snapshot] == ["first", "second", "third"]
        assert all(row["status"] == "healthy" and row["pid"] for row in snapshot)
    assert order == ["third", "second", "first"]


async def test_names_are_unique_and_lookup_errors_name_the_known(supervisor):
    supervisor.add(ProcessSpec("one", child("chatter.py", 1)))
    with pytest.raises(ValueError, match="already supervised"):
        supervisor.add(ProcessSpec("one", child("chatter.py", 1)))
    with pytest.raises(KeyError, match="no process named 'two' \\(known: one\\)"):
        supervisor.get("two")


async def test_remove_stops_and_forgets(supervisor):
    proc = supervisor.add(ProcessSpec("hold", child("chatter.py", 1, "--hold")))
    await proc.start()
    await wait_line(proc, "chatter 0")
    await supervisor.remove("hold")
    assert "hold" not in supervisor and proc.status is ProcessStatus.stopped


async def test_start_twice_is_a_no_op(supervisor):
    proc = supervisor.add(ProcessSpec("hold", child("chatter.py", 1, "--hold")))
    await proc.start()
    pid = proc.pid
    await proc.start()
    assert proc.pid == pid


async def test_health_is_watched_after_readiness(supervisor, tmp_path):
    port = free_port()
    sick = tmp_path / "sick"
    proc = supervisor.add(health_spec("web", port, tmp_path, "--sick-file", sick, check_interval=0.05))
    await proc.start()
    assert await proc.wait_ready(30) is ProcessStatus.healthy
    sick.touch()
    await proc.wait_status(ProcessStatus.unhealthy, timeout=30)
    assert proc.message == f"health check failing: GET http://127.0.0.1:{port}/health answered HTTP 503"
    sick.unlink()
    await proc.wait_status(ProcessStatus.healthy, timeout=30)
    assert proc.message == ""


async def test_parallel_start_all_spawns_everything_before_waiting(tmp_path):
    from backend.supervisor.ports import free_port

    started: list[str] = []
    async with ProcessSupervisor() as sup:
        sup.event.connect(lambda ev: started.append(ev.name) if ev.status is ProcessStatus.starting else None)
        for name in ("a", "b", "c"):
            sup.add(health_spec(name, free_port(), tmp_path))
        seen_healthy_before_all_started = []
        sup.event.connect(lambda ev: seen_healthy_before_all_started.append(len(started))
                         if ev.status is ProcessStatus.healthy else None)
        statuses = await sup.start_all(parallel=True)
        assert statuses == {n: ProcessStatus.healthy for n in ("a", "b", "c")}
    assert started == ["a", "b", "c"]
    # Every process was spawned before the first one reported healthy.
    assert seen_healthy_before_all_started[0] == 3
