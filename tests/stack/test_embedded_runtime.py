"""The desktop app's local stack: three service subprocesses plus runtime_service
served in-process over an embedded RuntimeController (its Gateways are our children)."""

from __future__ import annotations

import asyncio
import os

import httpx
import psutil
import pytest

from backend.config import load_settings
from backend.stack.local_stack import LocalStack
from backend.security.tokens import Role

pytestmark = pytest.mark.slow


async def test_embedded_controller_spawns_gateways_as_our_children(tmp_path):
    settings = load_settings(runs_dir=tmp_path / "runs", workspaces_dir=tmp_path / "ws")
    stack = LocalStack(settings, state_dir=tmp_path / ".stack", embed_runtime=True,
                       ports={"agent": 0, "trading": 0, "news": 0, "runtime": 0})
    admin = {"Authorization": f"Bearer {stack.tokens.tokens[Role.admin]}"}
    try:
        statuses = await stack.up()
        assert statuses == {"agent": "healthy", "trading": "healthy", "news": "healthy", "runtime": "healthy"}
        assert sorted(p.name for p in stack.supervisor.processes) == ["agent", "news", "trading"]
        async with httpx.AsyncClient(base_url=stack.urls["runtime"], headers=admin, timeout=60) as http:
            assert (await http.get("/health")).json()["service"] == "runtime_service"
            run_id = (await http.post("/runs", json={"workspace": "default", "end_date": "2025-01-10"})).json()["run_id"]
            gateway = (await http.post(f"/runs/{run_id}/start", json={})).json()
            assert gateway["status"] == "healthy"
            assert psutil.Process(gateway["pid"]).ppid() == os.getpid()  # the app owns its Gateways

            async def done() -> bool:
                return (await http.get(f"/runs/{run_id}")).json()["status"] == "completed"
            for _ in range(300):
                if await done():
                    break
                await asyncio.sleep(0.1)
            assert await done()
    finally:
        await stack.down()
    await asyncio.sleep(0.3)
    assert [c.pid for c in psutil.Process().children(recursive=True)] == []
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"{stack.urls['runtime']}/health", timeout=1)
