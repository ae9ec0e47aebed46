"""Crash anywhere equals never crashed, under the stack's own supervisor.

The RuntimeController (its ProcessSupervisor) runs the Gateway of the
default run; the test SIGKILLs it 24 times, after random days of the run
plus a random delay (seed printed, EVOTRADERS_CRASH_SEED replays it), and
the supervisor alone brings it back each time.
After every kill every JSON file parses and every JSONL has no corrupt line;
at the end the run equals an uninterrupted one. The failpoint kills (mid-line,
mid-snapshot) are in test_crash_anywhere.py, where each restart's environment
is the test's to choose.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import time
from pathlib import Path

import pytest

from backend.config import load_settings
from backend.control_plane.controller import RuntimeController
from backend.control_plane.gateway_restart import GatewayRestartPolicy
from tests.gateway.crash_support import (
    PACE, RUN, assert_same_final_state, check_files_whole, crash_seed, create_run, days_done, kill_days,
    reference_run, run_status,
)
from tests.supervisor.support import wait_gone

pytestmark = pytest.mark.slow

KILLS = 24


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    return reference_run(tmp_path_factory.mktemp("reference"))


async def test_a_gateway_killed_dozens_of_times_under_the_supervisor_ends_as_if_never_killed(tmp_path, reference):
    rng = random.Random(crash_seed())
    settings = load_settings(runs_dir=tmp_path / "runs", workspaces_dir=tmp_path / "ws")
    # Short back-offs keep the test short; the policy under test is that a run
    # that progresses between crashes is restarted however often it crashes.
    controller = RuntimeController(settings, restart_policy=GatewayRestartPolicy(backoff_base=0.05, backoff_cap=0.2))
    run = create_run(tmp_path)
    kills, killed_at = 0, []
    try:
        await controller.start_run(RUN, pace=float(PACE))
        for target in kill_days(rng, KILLS):
            if not await reach_day(run, target):
                break  # the run completed
            await asyncio.sleep(rng.uniform(0.0, 0.1))  # a random moment in the stretch after the target day
            if run_status(run) == "completed":
                break
            pid = controller.gateway_info(RUN)["pid"]
            os.kill(pid, signal.SIGKILL)
            kills += 1
            assert await wait_gone(pid), f"pid {pid} survived SIGKILL"
            killed_at.append(days_done(run))
            check_files_whole(run)
            assert await restarted(controller, pid), f"not restarted: {controller.gateway_info(RUN)}"
        deadline = time.monotonic() + 120
        while run_status(run) != "completed":
            assert time.monotonic() < deadline, "the run did not complete"
            await asyncio.sleep(0.05)
    finally:
        await controller.shutdown()
    print(f"{kills} supervised kills after day {killed_at}; {controller.gateway_info(RUN)['restarts']} restarts")
    assert kills >= 20
    check_files_whole(run)
    assert_same_final_state(run, reference)


async def reach_day(run: Path, target: int, timeout: float = 60.0) -> bool:
    """Wait until the run's snapshot has completed ``target`` days (False if it completed first)."""
    deadline = time.monotonic() + timeout
    while days_done(run) < target:
        if run_status(run) == "completed":
            return False
        assert time.monotonic() < deadline, f"day {target} not reached within {timeout} s"
        await asyncio.sleep(0.01)
    return True


async def restarted(controller: RuntimeController, old_pid: int, timeout: float = 60.0) -> bool:
    """Wait until the supervisor has a new Gateway of the run up and healthy."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        info = controller.gateway_info(RUN)
        if info["pid"] not in (None, old_pid) and info["status"] == "healthy":
            return True
        await asyncio.sleep(0.02)
    return False
