"""StackModel without Qt, over a real ProcessSupervisor with real child processes and a real HTTP server."""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from app.models.history_model import RunRow
from app.models.stack_model import StackModel, format_uptime
from app.session import ServiceState
from backend.supervisor import ProcessSpec, ProcessStatus, ProcessSupervisor, RestartPolicy, free_port
from tests.support.waiting import until
from tests.support.http_server import JsonHandler, serving

CHILDREN = Path(__file__).resolve().parents[1] / "supervisor" / "children"


def health_spec(name: str, **extra: Any) -> ProcessSpec:
    port = free_port()
    return ProcessSpec(name, [sys.executable, str(CHILDREN / "health_server.py"), str(port)],
                       health_url=f"http://127.0.0.1:{port}/health", port=port, ready_timeout=15,
                       check_interval=None, grace_seconds=2, **extra)


async def test_rows_follow_a_real_supervisor(tmp_path: Path) -> None:
    supervisor = ProcessSupervisor()
    supervisor.add(health_spec("agent"))
    supervisor.add(health_spec("trading", restart=RestartPolicy.on_failure, max_restarts=2, backoff_base=0.05))
    model = StackModel()
    changed: list[str | None] = []
    model.changed.connect(lambda _kind, name: changed.append(name))
    model.bind_supervisor(supervisor)
    try:
        assert [r.name for r in model.rows()] == ["agent", "trading"]
        assert all(r.status == "stopped" and r.pid is None for r in model.rows())
        await model.start_all()
        await until(lambda: all(r.status == "healthy" for r in model.rows()), 20, "both healthy")
        agent = model.row("agent")
        assert agent.label == "agent service" and agent.pid == supervisor["agent"].pid
        assert agent.port == supervisor["agent"].port and agent.uptime() is not None
        assert {"agent", "trading"} <= set(changed)

        pid = model.row("trading").pid
        os.kill(pid, signal.SIGKILL)
        await until(lambda: model.row("trading").restarts == 1 and model.row("trading").status == "healthy", 20,
                    "the crashed process to be restarted")
        trading = model.row("trading")
        assert trading.last_exit == "killed by SIGKILL" and trading.pid != pid

        old_pid = model.row("agent").pid
        await model.restart("agent")
        await until(lambda: model.row("agent").status == "healthy", 20, "the restarted agent")
        assert model.row("agent").pid != old_pid and model.row("agent").last_exit.startswith("stopped:")
        await model.stop("agent")
        assert model.row("agent").status == "stopped" and model.row("agent").pid is None
        await model.stop_all()
        assert all(r.status == "stopped" for r in model.rows())
    finally:
        await supervisor.stop_all()
        model.unbind()
    assert model.rows() == []


def test_remote_rows_are_read_only() -> None:
    model = StackModel()
    model.set_remote({"agent": ServiceState("agent", "up"), "trading": ServiceState("trading", "down", "refused")})
    rows = {r.name: r for r in model.rows()}
    assert rows["agent"].status == "healthy" and rows["trading"].status == "unreachable"
    assert rows["news"].status == "unknown" and rows["trading"].message == "refused"
    assert "managed by the host" in (model.controllable("agent") or "")
    with pytest.raises(PermissionError, match="cannot stop agent"):
        import asyncio

        asyncio.run(model.stop("agent"))


@pytest.fixture
def runtime_server() -> Iterator[tuple[str, list[tuple[str, str]]]]:
    """A real HTTP server standing in for runtime_service's run control routes."""
    calls: list[tuple[str, str]] = []

    class Handler(JsonHandler):
        def do_POST(self) -> None:  # noqa: N802
            calls.append(("POST", self.path))
            self.reply(200, {"ok": True})

    with serving(Handler) as (url, _server):
        yield url, calls


async def test_gateway_rows_come_from_runtime_service_and_are_controlled_through_it(runtime_server: Any) -> None:
    from backend.clients.http import ServiceClient

    url, calls = runtime_server
    model = StackModel(clock=lambda: 100.0)
    model.runtime = ServiceClient("runtime", url)
    runs = [
        {"run_id": "old", "gateway": {"status": "stopped", "pid": None, "port": None, "restarts": 0, "last_exit": None}},
        {"run_id": "demo", "gateway": {"status": "healthy", "pid": 4242, "port": 9999, "restarts": 1,
                                       "uptime_s": 61.0, "last_exit": {"reason": "killed by SIGKILL"}}},
    ]
    model.set_gateways(runs)
    rows = model.rows()
    assert [r.name for r in rows] == ["gateway-demo"]  # a never-started Gateway is not a process
    row = rows[0]
    assert (row.label, row.status, row.pid, row.port, row.restarts, row.last_exit) == (
        "Gateway of run demo", "healthy", 4242, 9999, 1, "killed by SIGKILL")
    assert format_uptime(row.uptime(now=110.0)) == "1:11"
    await model.restart("gateway-demo")
    await model.stop_all()
    assert calls == [("POST", "/runs/demo/restart"), ("POST", "/runs/demo/stop")]
    await model.runtime.aclose()


async def test_a_gateway_given_up_on_says_so_in_its_row(tmp_path: Path) -> None:
    """The row is built from a real controller's ``GET /runs`` payload for a Gateway that gave up."""
    from backend.config import load_settings
    from backend.control_plane.controller import RuntimeController

    controller = RuntimeController(load_settings(runs_dir=tmp_path / "runs", workspaces_dir=tmp_path / "ws"))
    controller.create_run("default", run_id="doomed")
    # A child that dies at once under the Gateway's name: no checkpoint ever moves.
    proc = controller.supervisor.add(ProcessSpec("gateway-doomed", [sys.executable, str(CHILDREN / "crash.py")],
                                                 restart=RestartPolicy.on_failure, max_restarts=1,
                                                 backoff_base=0.01))
    try:
        await proc.start()
        await proc.wait_status(ProcessStatus.crashed, timeout=30)
        runs = controller.list_runs()
        model = StackModel()
        model.set_gateways(runs)
        row = model.row("gateway-doomed")
        assert row.gave_up and row.status == "crashed" and row.status_text == "crashed, gave up"
        assert row.detail == "gave up after 1 restarts without progress: exited with code 3"
        assert row.last_exit == "exited with code 3"
        history = RunRow.from_api(next(r for r in runs if r["run_id"] == "doomed"))
        assert history.status == "crashed" and not history.finished
        assert "gave up after 1 restarts without progress" in history.status_detail
    finally:
        await controller.shutdown()


async def test_a_local_service_given_up_on_says_so_in_its_row() -> None:
    supervisor = ProcessSupervisor()
    supervisor.add(ProcessSpec("news", [sys.executable, str(CHILDREN / "crash.py")], restart=RestartPolicy.on_failure,
                               max_restarts=2, backoff_base=0.01))
    model = StackModel()
    model.bind_supervisor(supervisor)
    try:
        await supervisor.start("news")
        await until(lambda: model.row("news").gave_up, 30, "giving up")
        row = model.row("news")
        assert row.status_text == "crashed, gave up" and row.restarts == 2
        assert row.detail == "gave up after 2 restarts without progress: exited with code 3"
    finally:
        await supervisor.stop_all()
        model.unbind()
