"""Stack panel Gateway rows against a REAL runtime_service subprocess that spawns a real Gateway."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.models.profile import LOCAL, Profile
from app.qt.panels.stack import StackPanel
from app.session import Session
from backend.supervisor import free_port
from tests.desk.conftest import ROOT
from tests.support.waiting import until


@pytest.fixture
def runtime_service(tmp_path: Path) -> Iterator[str]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("EVOTRADERS_", "AGENT_"))}
    env.update(RUNS_DIR=str(tmp_path / "runs"), WORKSPACES_DIR=str(tmp_path / "ws"), PYTHONUNBUFFERED="1")
    proc = subprocess.Popen([sys.executable, "-m", "backend.apps.runtime_service", "--host", "127.0.0.1",
                             "--port", str(port)], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                if httpx.get(f"{url}/health", timeout=1, trust_env=False).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None:
                raise AssertionError(f"runtime_service exited with {proc.returncode}")
            import time

            time.sleep(0.05)
        yield url
    finally:
        proc.terminate()  # it stops the Gateways it spawned
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_gateway_rows_logs_and_controls_through_runtime_service(qtbot: Any, arun: Any, runtime_service: str) -> None:
    url = runtime_service
    session = Session(Profile(LOCAL, agent_url=url, trading_url=url, news_url=url, runtime_url=url),
                      health_interval=0.2)
    panel = StackPanel(gateway_poll_ms=200)
    qtbot.addWidget(panel)
    panel.attach(session)
    panel.set_read_only(session.read_only_reason)

    async def scenario() -> None:
        await session.open(session.profile)
        runtime = session.client("runtime")
        run_id = (await runtime.post("/runs", {"workspace": "default", "end_date": "2025-01-10"}))["run_id"]
        info = await runtime.post(f"/runs/{run_id}/start", {"paused": True})
        name = f"gateway-{run_id}"
        await until(lambda: any(r.name == name and r.status == "healthy" for r in panel.model.rows()), 15,
                    "the Gateway row")
        row = panel.model.row(name)
        assert (row.status, row.pid, row.port) == ("healthy", info["pid"], info["port"])
        assert panel.model.controllable(name) is None
        panel.refresh()
        view = panel.open_log(name)
        await until(lambda: any("gateway listening on" in line for line in view.lines()), 15, "the Gateway log")

        panel.findChild(object, f"stop_{name}").click()
        await until(lambda: panel.model.row(name).status == "stopped", 20, "the Gateway to stop")
        panel.refresh()
        assert panel.findChild(object, f"start_{name}").isEnabled()
        await session.close()

    arun(scenario(), 90)
    panel.detach()


def test_local_session_follows_the_newest_run(arun: Any, runtime_service: str) -> None:
    url = runtime_service
    session = Session(Profile(LOCAL, agent_url=url, trading_url=url, news_url=url, runtime_url=url),
                      health_interval=0.2)
    seen: list[str] = []
    session.gateway_event.connect(lambda e: e.type == "hello" and seen.append(e.run_id))

    async def scenario() -> None:
        await session.open(session.profile)
        runtime = session.client("runtime")
        first = (await runtime.post("/runs", {"workspace": "default", "end_date": "2025-01-10"}))["run_id"]
        await runtime.post(f"/runs/{first}/start", {"paused": True})
        await until(lambda: session.run_id == first and seen and seen[-1] == first, 20, "the first run followed")
        second = (await runtime.post("/runs", {"workspace": "default", "end_date": "2025-01-10"}))["run_id"]
        await runtime.post(f"/runs/{second}/start", {"paused": True})
        await until(lambda: session.run_id == second and seen[-1] == second, 20, "the new run followed")
        assert seen[0] == first
        session.follow_new_runs = False
        await runtime.post(f"/runs/{first}/restart", None)
        await asyncio.sleep(1.0)  # several monitor rounds: a pinned session stays put
        assert session.run_id == second
        await session.close()

    arun(scenario(), 90)
