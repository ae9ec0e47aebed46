"""The restart rule with real crashing children: progress keeps a process coming back.

The children (children/checkpointer.py) checkpoint a day count to a file and
crash; the probe reads that file, as the controller's probe reads a run's
resume checkpoint.
"""

from __future__ import annotations

from pathlib import Path

from backend.supervisor import ProcessSpec, ProcessStatus, ProcessSupervisor, RestartPolicy

from .support import child


def checkpoint_probe(path: Path):
    return lambda: int(path.read_text()) if path.exists() else None


def spec(name: str, checkpoint: Path, days: int, *extra: str, **fields) -> ProcessSpec:
    return ProcessSpec(name, child("checkpointer.py", checkpoint, days, *extra), restart=RestartPolicy.on_failure,
                       progress=checkpoint_probe(checkpoint),
                       **{"max_restarts": 2, "backoff_base": 0.01, "backoff_cap": 0.05, **fields})


async def test_a_child_that_progresses_between_crashes_is_restarted_past_max_restarts(supervisor, tmp_path):
    checkpoint = tmp_path / "days"
    proc = supervisor.add(spec("job", checkpoint, 8, log_path=tmp_path / "job.log"))
    await proc.start()
    # 8 crashes (4x max_restarts, all within a second), each one day further: it finishes.
    assert await proc.wait_status(ProcessStatus.stopped, timeout=60) is ProcessStatus.stopped
    assert proc.restarts == 8 and not proc.gave_up
    assert checkpoint.read_text() == "8"
    assert proc.last_exit.exit_code == 0 and proc.message == ""
    assert (tmp_path / "job.log").read_text().count("crashing") == 8


async def test_a_child_that_crashes_without_progress_is_given_up_on_and_says_why(supervisor, tmp_path):
    checkpoint = tmp_path / "days"
    checkpoint.write_text("4")
    events: list[ProcessStatus] = []
    proc = supervisor.add(spec("stuck", checkpoint, 8, "--no-progress"))
    proc.event.connect(lambda ev: events.append(ev.status))
    await proc.start()
    assert await proc.wait_status(ProcessStatus.crashed, timeout=60) is ProcessStatus.crashed
    assert proc.restarts == 2 and proc.gave_up
    assert proc.message == "gave up after 2 restarts without progress: exited with code 3"
    assert proc.last_exit.lines[-1] == "stuck at day 4"
    assert proc.as_dict()["gave_up"] is True and events.count(ProcessStatus.restarting) == 2
    await proc.start()  # starting it again is a fresh chance
    assert not proc.gave_up
    await proc.wait_status(ProcessStatus.crashed, timeout=60)
    assert proc.gave_up and proc.restarts == 2


async def test_progress_then_stall_gives_up_max_restarts_after_the_last_checkpoint(supervisor, tmp_path):
    checkpoint = tmp_path / "days"
    stall = spec("mixed", checkpoint, 5)
    proc = supervisor.add(stall)
    await proc.start()
    await proc.wait_status(ProcessStatus.stopped, timeout=60)
    assert proc.restarts == 5
    await supervisor.remove("mixed")
    # Same checkpoint, now stuck: two restarts without progress, then down.
    stuck = supervisor.add(spec("mixed", checkpoint, 9, "--no-progress"))
    await stuck.start()
    await stuck.wait_status(ProcessStatus.crashed, timeout=60)
    assert stuck.restarts == 2 and stuck.gave_up


async def test_an_injected_clock_makes_every_run_long_enough_to_count_as_progress(tmp_path):
    ticks = iter(range(0, 10**9, 100))  # every reading 100 s after the last: each run "lasted" 100 s
    supervisor = ProcessSupervisor(clock=lambda: float(next(ticks)))
    try:
        proc = supervisor.add(ProcessSpec("slowpoke", child("crash.py"), restart=RestartPolicy.on_failure,
                                          max_restarts=1, backoff_base=0.01, stable_after=50))
        await proc.start()
        while proc.restarts < 6:  # far past max_restarts=1, never given up on
            await proc.wait_status(ProcessStatus.restarting, timeout=30)
            assert not proc.gave_up
            await proc.wait_status(ProcessStatus.starting, ProcessStatus.healthy, timeout=30)
        assert proc.status is not ProcessStatus.crashed
    finally:
        await supervisor.stop_all()
