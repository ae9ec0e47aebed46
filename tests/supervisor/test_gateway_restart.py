"""A run's Gateway under repeated SIGKILLs: real Gateway subprocesses, real runtime_service HTTP.

The runtime service is the embedded one (the very app runtime_service
serves, on this loop) so the test can hand its controller a short restart
policy: two restarts without progress, back-off capped at 0.3 s. The rule
itself is what production uses (see backend/supervisor/restart_policy.py).
"""

from __future__ import annotations

import os
import signal
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from backend.config import load_settings
from backend.supervisor import free_port
from backend.apps.runtime_service.embedded import EmbeddedRuntimeService
from backend.control_plane.gateway_restart import GatewayRestartPolicy
from backend.security.tokens import TokenRegistry

from tests.support.waiting import until

from .support import wait_gone

POLICY = GatewayRestartPolicy(max_restarts=2, backoff_base=0.05, backoff_cap=0.3, stable_after=30.0)
RUN = {"workspace": "default", "start_date": "2025-02-03", "end_date": "2025-02-28", "tickers": ["AAPL", "MSFT"]}
RUN_DAYS = 19  # trading days of February 2025 from the 3rd (the 17th is a holiday)


@pytest.fixture
async def runtime(tmp_path) -> AsyncIterator[tuple[EmbeddedRuntimeService, httpx.AsyncClient]]:
    settings = load_settings(runs_dir=tmp_path / "runs", workspaces_dir=tmp_path / "ws")
    service = EmbeddedRuntimeService(settings, TokenRegistry(), "127.0.0.1", free_port())
    service.controller.restart_policy = POLICY
    await service.start()
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{service.port}", timeout=60,
                                     trust_env=False) as http:
            yield service, http
    finally:
        await service.stop()


def checkpoint_days(service: EmbeddedRuntimeService, run_id: str) -> int:
    resume = (service.controller.store.read_server_state(run_id) or {}).get("resume") or {}
    return int(resume.get("days_completed") or 0)


def healthy_pid(service: EmbeddedRuntimeService, run_id: str, not_pid: int | None = None) -> int | None:
    info = service.controller.gateway_info(run_id)
    return info["pid"] if info["status"] == "healthy" and info["pid"] not in (None, not_pid) else None


async def create_and_start(http: httpx.AsyncClient, run_id: str, **start: Any) -> dict[str, Any]:
    assert (await http.post("/runs", json={**RUN, "run_id": run_id})).status_code == 201
    started = await http.post(f"/runs/{run_id}/start", json=start)
    assert started.status_code == 200, started.text
    return started.json()


async def test_a_gateway_killed_more_than_max_restarts_times_while_its_run_progresses_comes_back_and_completes(
        runtime) -> None:
    service, http = runtime
    # 0.3 s a day: longer than the engine's 0.25 s snapshot interval, so every day checkpoints.
    await create_and_start(http, "crashy", pace=0.3)
    kills, pid, seen, killed_at = 0, None, 0, []
    while kills < 3 * POLICY.max_restarts:  # six kills, all well within stable_after
        pid = await until(lambda: healthy_pid(service, "crashy", pid), what="a healthy Gateway")
        seen = await until(lambda: checkpoint_days(service, "crashy") > seen and checkpoint_days(service, "crashy"),
                           what=f"the checkpoint to pass day {seen}")
        assert seen < RUN_DAYS, f"the run finished before the test could kill it enough times (at {killed_at})"
        os.kill(pid, signal.SIGKILL)
        killed_at.append(seen)
        kills += 1
        assert await wait_gone(pid)
    done = await until(lambda: (service.controller.store.read_runtime_state("crashy") or {}).get("status")
                       == "completed", timeout=60, what="the run to complete")
    assert done
    summary = (await http.get("/runs/crashy")).json()
    assert summary["status"] == "completed" and summary["status_detail"] is None
    gateway = summary["gateway"]
    assert gateway["restarts"] == kills and gateway["gave_up"] is False and gateway["status"] == "healthy"
    assert gateway["last_exit"]["signal"] == "SIGKILL"
    assert checkpoint_days(service, "crashy") == RUN_DAYS and killed_at == sorted(set(killed_at))  # a new day each time


async def test_a_gateway_that_crashes_without_progress_is_given_up_on_and_the_run_says_why(runtime) -> None:
    service, http = runtime
    await create_and_start(http, "stuck", paused=True)  # paused: no day completes, no checkpoint moves
    pid = None
    for _ in range(POLICY.max_restarts + 1):
        pid = await until(lambda: healthy_pid(service, "stuck", pid), what="a healthy Gateway")
        os.kill(pid, signal.SIGKILL)
        assert await wait_gone(pid)
    await until(lambda: service.controller.gateway_info("stuck")["status"] == "crashed", what="giving up")
    summary = (await http.get("/runs/stuck")).json()
    assert summary["status"] == "crashed"
    assert summary["gateway"]["gave_up"] is True and summary["gateway"]["restarts"] == POLICY.max_restarts
    reason = "gave up after 2 restarts without progress: killed by SIGKILL"
    assert summary["gateway"]["message"] == reason
    assert reason in summary["status_detail"] and "start the run again" in summary["status_detail"]
    listed = next(r for r in (await http.get("/runs")).json() if r["run_id"] == "stuck")
    assert listed["status"] == "crashed" and reason in listed["status_detail"]
    # Starting it again is a fresh chance (and the status is the run's own again).
    again = await http.post("/runs/stuck/start", json={"paused": True})
    assert again.status_code == 200 and again.json()["gave_up"] is False
    summary = (await http.get("/runs/stuck")).json()
    assert summary["status"] != "crashed" and summary["status_detail"] is None
