"""`evotraders stack up --reload`, run from a scratch copy of the project: a saved file restarts what it affects.

Every edit is made in the copy under tmp_path (never the real tree); the
stack is real: four services and a run's Gateway as subprocesses.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time

import httpx
import pytest

from app.models.stack_model import StackModel
from tests.stack.reload_support import ReloadStack, edit, events, scratch_copy

pytestmark = pytest.mark.slow

PROBE_ROUTE = '''

@router.get("/reload-probe")
def reload_probe(role: ViewerDep) -> dict[str, str]:
    return {"answer": "before the edit"}
'''


def _two_days_into_the_run(stack: ReloadStack, tmp_path) -> tuple[str, object]:
    """Wait for the stack and its default run's first two completed days; the run's id and folder."""
    stack.wait_up()
    run_id = stack.wait_line("  run      ").split()[1].rstrip(":")
    run_dir = tmp_path / "runs" / run_id
    stack.poll("two completed days", lambda: sum(e["type"] == "day_complete" for e in events(run_dir)) >= 2)
    return run_id, run_dir


def test_a_saved_route_is_served_by_the_running_stack(tmp_path):
    repo = scratch_copy(tmp_path / "repo")
    routes = repo / "backend" / "apps" / "agent_service" / "workspaces.py"
    routes.write_text(routes.read_text() + PROBE_ROUTE)
    stack = ReloadStack(repo, tmp_path, "--no-run")
    try:
        stack.wait_up()
        assert "reloading on source change" in stack.lines[0]
        assert stack.get("agent", "/reload-probe").json() == {"answer": "before the edit"}
        trading_before = stack.get("trading", "/health").json()

        saved = edit(routes, '"before the edit"', '"after the edit"')
        stack.poll("the new answer", lambda: stack.get("agent", "/reload-probe").json() == {"answer": "after the edit"})
        latency = time.monotonic() - saved
        print(f"file saved -> new answer: {latency:.2f} s")

        line = stack.wait_line("reload   agent restarted")
        assert "backend/apps/agent_service/workspaces.py" in line and "Gateways" not in line
        # Only the service whose source changed was restarted: trading_service kept running.
        trading_after = stack.get("trading", "/health").json()
        assert trading_after["uptime_s"] > trading_before["uptime_s"]

        # A file nothing imports (a test, a .pyc, runs/) restarts nothing.
        (repo / "backend" / "apps" / "agent_service" / "__pycache__").mkdir(exist_ok=True)
        (repo / "backend" / "apps" / "agent_service" / "__pycache__" / "x.cpython-311.pyc").write_bytes(b"\0")
        (repo / "runs").mkdir(exist_ok=True)
        (repo / "runs" / "note.py").write_text("x = 1\n")
        (repo / "resources" / "note.py").write_text("x = 1\n")
        before = len(stack.lines)
        edit(routes, '"after the edit"', '"third"')
        stack.poll("the third answer", lambda: stack.get("agent", "/reload-probe").json() == {"answer": "third"})
        # The stack reports the restart once the service is healthy again, which may come after
        # the first new answer: wait for its line, then count (one restart, none for the noise).
        stack.wait_line("reload   agent restarted", start=before)
        after = stack.lines[before:]
        assert sum("reload   " in line for line in after) == 1, after
    finally:
        assert stack.stop() == 0, "\n".join(stack.lines)
    assert "Stopped." in stack.lines[-1]


def test_a_saved_pipeline_module_restarts_the_gateway_at_a_day_boundary(tmp_path):
    repo = scratch_copy(tmp_path / "repo")
    stack = ReloadStack(repo, tmp_path, "--end", "2025-02-07", "--pace", "0.3")
    try:
        run_id, run_dir = _two_days_into_the_run(stack, tmp_path)
        runs = stack.get("runtime", "/runs").json()
        first_pid = next(r for r in runs if r["run_id"] == run_id)["gateway"]["pid"]

        # The new code says so when it resumes: the message is the edited module's.
        day_loop = repo / "backend" / "pipeline" / "day_loop.py"
        edit(day_loop, 'content=f"Resuming run {engine.run_id}', 'content=f"Resuming (new code) run {engine.run_id}')
        stack.wait_line("reload   Gateways restart at the next day boundary")

        def finished():
            return (stack.get("runtime", f"/runs/{run_id}").json()["status"] == "completed"
                    and any(e["type"] == "run_status" and e["status"] == "completed" for e in events(run_dir)))

        stack.poll("the run to complete", finished, timeout=120, every=0.2)
        runs = stack.get("runtime", "/runs").json()
        info = next(r for r in runs if r["run_id"] == run_id)["gateway"]
        assert info["restarts"] == 1 and info["pid"] != first_pid and not info["gave_up"]
        # The desk's Stack panel row of that Gateway says why it restarted.
        model = StackModel()
        model.set_gateways(runs)
        row = model.row(f"gateway-{run_id}")
        assert row.restarts == 1 and row.detail == "reloaded at a day boundary (source changed); its run resumed"
    finally:
        assert stack.stop() == 0, "\n".join(stack.lines)

    log = events(run_dir)
    texts = [e.get("content", "") for e in log if e["type"] == "system"]
    requested = next(i for i, e in enumerate(log) if e["type"] == "system"
                     and e["content"].startswith("Gateway restart requested"))
    resumed = [i for i, e in enumerate(log) if e["type"] == "system"
               and e["content"].startswith(f"Resuming (new code) run {run_id} after ")]
    assert len(resumed) == 1 and resumed[0] > requested, texts
    # Stopped at the boundary: the day under way when asked finished, and nothing began before the restart.
    between = log[requested:resumed[0]]
    assert [e["status"] for e in between if e["type"] == "run_status"] == ["stopped"]
    stopped_at = next(i for i, e in enumerate(between) if e["type"] == "run_status")
    assert not [e for e in between[stopped_at:] if e["type"] in ("day_start", "day_complete", "pipeline_stage")]
    last_day = log[resumed[0]]["content"].rsplit(" ", 1)[1]
    completed = [e["date"] for e in log[:resumed[0]] if e["type"] == "day_complete"]
    assert completed[-1] == last_day

    # No day lost or repeated, and the same run as one without the restart (same code, no reload).
    started = [e["date"] for e in log if e["type"] == "day_start"]
    done = [e["date"] for e in log if e["type"] == "day_complete"]
    assert started == done and len(done) == len(set(done)) and done == sorted(done)
    reference = subprocess.run([sys.executable, "-m", "backend.cli.main", "backtest", "--end", "2025-02-07",
                                "--run-id", "reference", "--json"], cwd=repo, env=stack.env,
                               capture_output=True, text=True, timeout=300)
    assert reference.returncode == 0, reference.stderr
    ref_log = events(tmp_path / "runs" / "reference")
    ref_days = {e["date"]: e["result"] for e in ref_log if e["type"] == "day_complete"}
    assert list(ref_days) == done
    assert {e["date"]: e["result"] for e in log if e["type"] == "day_complete"} == ref_days
    state = json.loads((run_dir / "state" / "server_state.json").read_text())
    assert state["resume"]["days_completed"] == len(done)


def test_a_saved_runtime_service_module_restarts_it_and_its_runs_go_on(tmp_path):
    repo = scratch_copy(tmp_path / "repo")
    stack = ReloadStack(repo, tmp_path, "--end", "2025-01-24", "--pace", "0.3")
    try:
        run_id, run_dir = _two_days_into_the_run(stack, tmp_path)

        routes = repo / "backend" / "apps" / "runtime_service" / "routes_runs.py"
        saved = edit(routes, '"""Runs: create', '"""(saved by the reload test) Runs: create')
        stack.wait_line("reload   runtime restarted")
        # Up for less time than since the save: this runtime_service is a new process.
        assert stack.get("runtime", "/health").json()["uptime_s"] < time.monotonic() - saved
        # The new runtime_service started the run again: it resumes and completes.
        stack.poll("the run to complete", lambda: stack.get("runtime", f"/runs/{run_id}").json()["status"]
                   == "completed", timeout=120, every=0.2)
    finally:
        assert stack.stop() == 0, "\n".join(stack.lines)
    log = events(run_dir)
    assert any(e["type"] == "system" and e["content"].startswith(f"Resuming run {run_id} after ") for e in log)
    done = [e["date"] for e in log if e["type"] == "day_complete"]
    assert len(done) == len(set(done)) and done == sorted(done) and done[-1] == "2025-01-24"
    state = json.loads((run_dir / "state" / "server_state.json").read_text())
    assert state["resume"]["days_completed"] == len(done)


def test_a_run_started_paused_and_resumed_keeps_running_after_a_reload(tmp_path):
    repo = scratch_copy(tmp_path / "repo")
    stack = ReloadStack(repo, tmp_path, "--no-run")
    try:
        stack.wait_up()
        headers = {"Authorization": f"Bearer {stack.admin_token}"}
        runtime = stack.urls["runtime"]
        with httpx.Client(base_url=runtime, headers=headers, timeout=30, trust_env=False) as client:
            run_id = client.post("/runs", json={"workspace": "default", "end_date": "2025-01-17"}).json()["run_id"]
            assert client.post(f"/runs/{run_id}/start", json={"paused": True, "pace": 0.3}).status_code == 200
            assert client.post(f"/runs/{run_id}/resume").status_code == 200
            run_dir = tmp_path / "runs" / run_id
            stack.poll("a completed day", lambda: any(e["type"] == "day_complete" for e in events(run_dir)))
            hub = repo / "gateway" / "hub.py"
            hub.write_text(hub.read_text() + "\n# saved by the reload test\n")
            stack.wait_line("reload   Gateways restart at the next day boundary")
            # Launched --paused, restarted after it was resumed: it goes on by itself to the end.
            stack.poll("the run to complete", lambda: client.get(f"/runs/{run_id}").json()["status"] == "completed",
                       timeout=120, every=0.2)
            gateway = client.get(f"/runs/{run_id}").json()["gateway"]
            assert gateway["restarts"] == 1
    finally:
        assert stack.stop() == 0, "\n".join(stack.lines)
    assert not (run_dir / "state" / "gateway_restart.json").exists()  # taken by the new process
