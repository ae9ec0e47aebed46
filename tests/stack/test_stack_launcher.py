"""StackLauncher without Qt: a real subprocess stack on free ports, a real occupied port, a real second launcher."""

from __future__ import annotations

import os
import socket

import httpx
import psutil
import pytest

from backend.clients.http import ServiceClient
from backend.clients.services import RuntimeServiceClient
from backend.config import load_settings
from backend.stack.local_stack import LocalStack
from backend.clients.services import runtime_client
from backend.stack.launcher import StackLauncher
from backend.security.tokens import Role

pytestmark = pytest.mark.slow
FREE = {"agent": 0, "trading": 0, "news": 0, "runtime": 0}


def stack_in(tmp_path, **ports: int) -> LocalStack:
    settings = load_settings(runs_dir=tmp_path / "runs", workspaces_dir=tmp_path / "ws")
    return LocalStack(settings, state_dir=tmp_path / ".stack", ports={**FREE, **ports})


def alive(pids: list[int]) -> list[int]:
    return [p for p in pids if psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE]


async def test_launch_run_attach_and_stop(tmp_path):
    launcher = StackLauncher(stack_in(tmp_path))
    pids: list[int] = []
    try:
        result = await launcher.launch()
        assert result.kind == "started" and result.problems == {}
        assert result.statuses == {"agent": "healthy", "trading": "healthy", "news": "healthy", "runtime": "healthy"}
        assert result.endpoint.urls == launcher.stack.urls and result.endpoint.admin_token
        pids = [p.pid for p in launcher.stack.supervisor.processes]

        # The desk's path: the demo run through the desk's own RuntimeServiceClient (no Qt needed).
        http = ServiceClient("runtime", result.endpoint.urls["runtime"], result.endpoint.admin_token)
        try:
            run = await launcher.start_run(RuntimeServiceClient(http), paused=True)
            listed = await RuntimeServiceClient(http).get_run(run["run_id"])
        finally:
            await http.aclose()
        assert run["status"] == "healthy" and run["pid"] and listed["run_id"] == run["run_id"]
        pids.append(run["pid"])

        # A second instance finds the stack and attaches: nothing of its own is spawned.
        second = StackLauncher(stack_in(tmp_path))
        found = await second.launch()
        assert found.kind == "running" and not found.started
        assert found.endpoint.urls == launcher.stack.urls and found.endpoint.owner_pid == os.getpid()
        assert found.endpoint.admin_token == launcher.stack.tokens.tokens[Role.admin]  # from the tokens file
        assert "already running" in found.reason and second.stack.supervisor.processes == []
        async with httpx.AsyncClient(timeout=10) as client:
            health = await client.get(f"{found.endpoint.urls['agent']}/health")
        assert health.status_code == 200
    finally:
        await launcher.stop()
    assert alive(pids) == []
    assert not (tmp_path / ".stack" / "stack.json").exists()
    assert StackLauncher(stack_in(tmp_path)).running_elsewhere() is None


async def test_a_taken_port_starts_nothing_and_says_where_to_attach(tmp_path):
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    port = holder.getsockname()[1]
    try:
        launcher = StackLauncher(stack_in(tmp_path, trading=port))
        result = await launcher.launch()
    finally:
        holder.close()
    assert result.kind == "ports_taken" and not result.started and not launcher.running
    assert result.error is not None and str(port) in result.reason and str(os.getpid()) in result.reason
    assert result.endpoint.urls["trading"] == f"http://127.0.0.1:{port}"
    assert launcher.stack.supervisor.processes == [] and launcher.running_elsewhere() is None


async def test_the_cli_run_starts_while_the_stack_comes_up(tmp_path):
    """``stack up``'s path: the run is asked for before launch() returns and starts once runtime_service answers."""
    import asyncio

    launcher = StackLauncher(stack_in(tmp_path))
    runs = runtime_client(launcher.stack.urls["runtime"], launcher.endpoint.admin_token)
    try:
        up = asyncio.create_task(launcher.launch())
        run = await launcher.start_run(runs, {"workspace": "default", "end_date": "2025-01-10"}, paused=True)
        result = await up
        assert result.started and run["status"] == "healthy" and run["url"].startswith("ws://127.0.0.1:")
        with pytest.raises(ValueError, match="end_date"):
            await runs.create_run({"workspace": "default", "end_date": "not a date"})
    finally:
        await launcher.stop()
