"""The operator's sandbox setting binds every run created and started through a real runtime_service.

Each run is two trading days from the default workspace; its Gateway is a
real subprocess of runtime_service. What ran where is read from the run's
``runtime_state.json`` (the calls per backend, counted from each result's
backend), its events, and, for docker, the engine's own container events.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from backend.storage.event_log import read_events
from backend.sandbox.docker_backend import LABEL
from sandbox_helpers import DOCKER_HOST_DEFAULT, DOCKER_IMAGE
from tests.conftest import VENV_BIN
from tests.support.service_process import ServiceProcess, service_env

ADMIN, VIEWER = "admin-token-for-floor-tests-0", "viewer-token-for-floor-tests"
TOKENS = {"EVOTRADERS_ADMIN_TOKEN": ADMIN, "EVOTRADERS_VIEWER_TOKEN": VIEWER}
RUN = {"workspace": "default", "start_date": "2025-03-03", "end_date": "2025-03-04", "tickers": ["AAPL", "MSFT"]}
DOCKER = {"image": DOCKER_IMAGE, "pull_policy": "never"}


def _auth(token: str = ADMIN) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _runtime(root: Path, **extra: str) -> ServiceProcess:
    env = service_env(root, **TOKENS, DOCKER_HOST=os.environ.get("DOCKER_HOST") or DOCKER_HOST_DEFAULT, **extra)
    return ServiceProcess("runtime_service", env, log_path=root / "runtime_service.log").start()


def _run_to_completion(service: ServiceProcess, run_id: str, **overrides) -> dict:
    """Create the run, start its Gateway, wait (bounded) until it completes, stop it; the runtime state."""
    url = service.url
    created = httpx.post(f"{url}/runs", headers=_auth(), json={**RUN, "run_id": run_id, **overrides})
    assert created.status_code == 201, created.text
    started = httpx.post(f"{url}/runs/{run_id}/start", headers=_auth(), json={}, timeout=90)
    assert started.status_code == 200, started.text
    deadline = time.monotonic() + 120
    try:
        while True:
            row = httpx.get(f"{url}/runs/{run_id}", headers=_auth(VIEWER), timeout=10).json()
            if row["status"] in ("completed", "failed"):
                break
            assert time.monotonic() < deadline, f"run {run_id} still {row['status']}: {service.output()[-2000:]}"
            time.sleep(0.2)
    finally:
        httpx.post(f"{url}/runs/{run_id}/stop", headers=_auth(), timeout=60)
    assert row["status"] == "completed", row
    state = httpx.get(f"{url}/runs/{run_id}/state", headers=_auth(VIEWER), timeout=10).json()
    return state["runtime_state"]


def _system(root: Path, run_id: str) -> list[str]:
    """The run's system events; a failed skill call (which still counts as a call) fails the test."""
    lines = [e.get("content", "") for e in read_events(root / "runs" / run_id / "logs" / "events.jsonl")
             if e["type"] == "system"]
    failed = [line for line in lines if "skill" in line and "failed" in line]
    assert failed == [], failed
    return lines


@pytest.fixture(scope="module")
def process_floor(tmp_path_factory):
    root = tmp_path_factory.mktemp("process-floor")
    service = _runtime(root, SKILL_SANDBOX_MODE="process", SKILL_SANDBOX_IMAGE=DOCKER_IMAGE,
                       SKILL_SANDBOX_PULL_POLICY="never")
    yield root, service
    service.stop()


def test_a_default_run_under_a_process_floor_runs_every_skill_in_a_child_process(process_floor):
    root, service = process_floor
    runtime = _run_to_completion(service, "default-run")
    sandbox = runtime["sandbox"]
    assert (sandbox["mode"], sandbox["floor"], sandbox["floor_source"], sandbox["reason"], sandbox["requested"]) == \
        ("process", "process", "environment", "floor", None)
    # Every call was answered by the process backend; none ran in the Gateway.
    assert set(sandbox["calls"]) == {"process"} and sandbox["calls"]["process"] >= 2 * 4
    assert not any("SECURITY WARNING" in line for line in _system(root, "default-run"))


def test_a_run_asking_for_none_under_a_process_floor_runs_process_and_says_so(process_floor):
    root, service = process_floor
    sandbox = _run_to_completion(service, "asks-none", sandbox_mode="none")["sandbox"]
    assert (sandbox["mode"], sandbox["requested"], sandbox["reason"]) == ("process", "none", "raised_to_floor")
    assert set(sandbox["calls"]) == {"process"}
    system = _system(root, "asks-none")
    assert [line for line in system if line.startswith("sandbox:")] == [f"sandbox: {sandbox['note']}"]
    assert not any("SECURITY WARNING" in line for line in system)


def _containers_created(client, since: int) -> list[dict]:
    events = client.events(since=since, until=int(time.time()) + 1, decode=True,
                           filters={"type": "container", "event": "create", "label": LABEL})
    return list(events)


def test_a_run_asking_for_docker_under_a_process_floor_runs_docker(process_floor, docker_client):
    root, service = process_floor
    since = int(time.time()) - 1
    sandbox = _run_to_completion(service, "asks-docker", sandbox_mode="docker")["sandbox"]
    assert (sandbox["mode"], sandbox["floor"], sandbox["reason"]) == ("docker", "process", "requested")
    assert set(sandbox["calls"]) == {"docker"}
    created = _containers_created(docker_client, since)
    assert len(created) >= sandbox["calls"]["docker"] > 0
    _system(root, "asks-docker")


def test_the_saved_setting_docker_binds_a_default_run(tmp_path, docker_client):
    service = _runtime(tmp_path)  # no SKILL_SANDBOX_MODE: the environment's floor is none
    try:
        saved = httpx.put(f"{service.url}/sandbox/settings", headers=_auth(), json={"mode": "docker", **DOCKER})
        assert saved.status_code == 200, saved.text
        since = int(time.time()) - 1
        sandbox = _run_to_completion(service, "saved-docker")["sandbox"]
    finally:
        service.stop()
    assert (sandbox["mode"], sandbox["floor_source"], sandbox["reason"]) == ("docker", "sandbox_settings", "floor")
    assert set(sandbox["calls"]) == {"docker"}
    created = _containers_created(docker_client, since)
    assert len(created) >= sandbox["calls"]["docker"] > 0
    assert {e["Actor"]["Attributes"].get("image") for e in created} == {DOCKER_IMAGE}
    assert not any("SECURITY WARNING" in line for line in _system(tmp_path, "saved-docker"))


def test_the_headless_backtest_honours_the_environment_floor(cli_env, tmp_path):
    """The reproduction of the issue: this printed 'SECURITY WARNING ... none'."""
    cli_env["SKILL_SANDBOX_MODE"] = "process"
    done = subprocess.run([str(VENV_BIN / "evotraders"), "backtest", "--start", "2025-03-03", "--end", "2025-03-04",
                           "--tickers", "AAPL", "--run-id", "cli-floor", "--sandbox", "none", "--json"],
                          env=cli_env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "SECURITY WARNING" not in done.stderr + done.stdout
    runtime = json.loads((tmp_path / "runs" / "cli-floor" / "state" / "runtime_state.json").read_text())
    assert runtime["sandbox"]["mode"] == "process" and set(runtime["sandbox"]["calls"]) == {"process"}
