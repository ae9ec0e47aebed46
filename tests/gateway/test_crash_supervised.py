"""Crash anywhere equals never crashed, under the stack's own supervisor.

The RuntimeController (its ProcessSupervisor) runs the Gateway of the
default run; the test SIGKILLs it at random moments (seed printed,
EVOTRADERS_CRASH_SEED replays it) and the supervisor alone brings it back.
After every kill every JSON file parses and every JSONL has no corrupt line;
at the end the run equals an uninterrupted one. The failpoint kills (mid-line,
mid-snapshot) are in test_crash_anywhere.py, where each restart's environment
is the test's to choose.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import time
from pathlib import Path

import pytest

from backend.config import load_settings
from backend.runtime.controller import RuntimeController
from backend.runtime.gateway_restart import GatewayRestartPolicy
from tests.gateway.crash_support import (
    PACE, RUN, assert_same_final_state, check_files_whole, crash_seed, reference_run,
)
from tests.runtime.support import wait_gone

pytestmark = pytest.mark.slow

SUPERVISED_KILLS = 24


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    return reference_run(tmp_path_factory.mktemp("reference"))


async def test_a_gateway_killed_dozens_of_times_under_the_supervisor_ends_as_if_never_killed(tmp_path, reference):
    rng = random.Random(crash_seed())
    settings = load_settings(runs_dir=tmp_path / "runs", workspaces_dir=tmp_path / "ws")
    # Short back-offs keep the test short; the policy under test is that a run
    # that progresses between crashes is restarted however often it crashes.
    controller = RuntimeController(settings, restart_policy=GatewayRestartPolicy(backoff_base=0.05, backoff_cap=0.2))
    controller.create_run("default", run_id=RUN)
    run = tmp_path / "runs" / RUN
    kills = 0
    try:
        await controller.start_run(RUN, pace=float(PACE))
        for _ in range(SUPERVISED_KILLS):
            await asyncio.sleep(rng.uniform(0.05, 0.45))  # the random moment of the kill is what is tested
            if run_status(run) == "completed":
                break
            pid = controller.gateway_info(RUN)["pid"]
            os.kill(pid, signal.SIGKILL)
            kills += 1
            assert await wait_gone(pid), f"pid {pid} survived SIGKILL"
            check_files_whole(run)
            assert await restarted(controller, run, pid), f"the supervisor did not restart the Gateway: " \
                f"{controller.gateway_info(RUN)}"
        deadline = time.monotonic() + 120
        while run_status(run) != "completed":
            assert time.monotonic() < deadline, "the run did not complete"
            await asyncio.sleep(0.1)
    finally:
        await controller.shutdown()
    print(f"{kills} supervised kills, {controller.gateway_info(RUN)['restarts']} restarts")
    assert kills >= 20
    check_files_whole(run)
    assert_same_final_state(run, reference)


def run_status(run: Path) -> str | None:
    try:
        return json.loads((run / "state/runtime_state.json").read_text()).get("status")
    except FileNotFoundError:
        return None


async def restarted(controller: RuntimeController, run: Path, old_pid: int, timeout: float = 60.0) -> bool:
    """Wait until a new Gateway is healthy (or the run completed in the meantime)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        info = controller.gateway_info(RUN)
        if info["pid"] not in (None, old_pid) and info["status"] == "healthy":
            return True
        await asyncio.sleep(0.02)
    return False
