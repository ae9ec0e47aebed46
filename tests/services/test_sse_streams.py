"""Server-sent events of both services over real HTTP, read with httpx-sse.

The approvals change stream names each event by its kind with the seq as its
id, resumes after an id, and says ``keep-alive`` when idle; the Gateway log
follows a real Gateway. A client that goes away leaves no stream, request or
task behind on the server (sse-starlette watches for the disconnect; the old
log follower only noticed at the next line, which may never come).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from httpx_sse import aconnect_sse

from backend.clients.http import ServiceClient, ServiceError
from backend.clients.services import RuntimeServiceClient
from backend.apps.agent_service import approval_runtime
from backend.apps.agent_service.app import create_app as agent_app
from backend.apps.runtime_service.app import create_app as runtime_app
from backend.approvals.client import ApprovalsClient
from backend.config import load_settings
from backend.control_plane.controller import RuntimeController
from backend.schema.api_approvals import ApprovalChange, ApprovalCreate
from backend.security.run_credentials import run_token
from backend.security.tokens import generate_registry
from backend.storage.run_store import RunStore
from tests.approvals.stack import create_run
from tests.support.waiting import until

REGISTRY = generate_registry()
TOKENS = {role.name: tok for role, tok in REGISTRY.tokens.items()}


def bearer(role: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKENS[role]}"}


@contextlib.asynccontextmanager
async def served_here(app: Any) -> AsyncIterator[str]:
    """Serve ``app`` with uvicorn on a free port on this test's own loop (so its tasks can be counted)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on", timeout_graceful_shutdown=5))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        await until(lambda: server.started or task.done(), 30, "the server to start")
        assert server.started, "the server did not start"
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 60)
        sock.close()


def server_work() -> list[str]:
    """The request cycles and streaming-response parts running on this loop now."""
    names = [getattr(t.get_coro(), "__qualname__", "") for t in asyncio.all_tasks()]
    return [n for n in names if "run_asgi" in n or "cancel_on_finish" in n]


def order(run_id: str, ticker: str = "AAPL") -> ApprovalCreate:
    return ApprovalCreate(run_id=run_id, date="2025-02-03", ticker=ticker, action="long", quantity=10, price=150.0,
                          confidence=70, reasoning="momentum", reasons=["policy all"])


@pytest.fixture
def agent(tmp_path: Path) -> Any:
    create_run(tmp_path, "r1", {"mode": "all", "timeout_seconds": 300})
    return agent_app(load_settings(runs_dir=tmp_path / "runs", workspaces_dir=tmp_path / "ws"), REGISTRY)


async def test_change_events_are_named_by_kind_carry_the_seq_as_id_and_resume_after_it(agent):
    async with served_here(agent) as url, \
            ApprovalsClient(url, token=run_token(REGISTRY.run_secret, "r1"), user="gateway") as gw, \
            ApprovalsClient(url, token=TOKENS["operator"], user="Ann") as op, \
            httpx.AsyncClient(base_url=url, headers=bearer("viewer")) as http:
        filed, _ = await gw.file(order("r1"))
        async with aconnect_sse(http, "GET", "/approvals/events", params={"run_id": "r1"}) as source:
            assert source.response.headers["content-type"].startswith("text/event-stream")
            assert source.response.headers["cache-control"] == "no-cache"
            events = source.aiter_sse()
            first = await asyncio.wait_for(anext(events), 10)
            change = ApprovalChange.model_validate_json(first.data)
            assert (first.event, first.id) == ("filed", str(change.seq)) and change.approval.id == filed.id
        # Resuming after that id replays nothing older; the decision comes next.
        async with aconnect_sse(http, "GET", "/approvals/events", params={"run_id": "r1", "after": first.id}) \
                as source:
            events = source.aiter_sse()
            await op.decide(filed.id, "approve")
            second = await asyncio.wait_for(anext(events), 10)
            decided = ApprovalChange.model_validate_json(second.data)
            assert second.event == "decided" and int(second.id) == decided.seq > change.seq
            assert decided.approval.status == "approved" and decided.approval.decided_by == "Ann (operator)"


async def test_an_idle_change_stream_says_keep_alive(agent, monkeypatch):
    monkeypatch.setattr(approval_runtime, "HEARTBEAT_SECONDS", 0.2)
    async with served_here(agent) as url, httpx.AsyncClient(base_url=url, headers=bearer("viewer")) as http:
        async with http.stream("GET", "/approvals/events") as answer:
            received = b""
            chunks = answer.aiter_bytes()
            while b": keep-alive\n\n" not in received:  # the wire itself: a comment, which no client shows
                received += await asyncio.wait_for(anext(chunks), 10)
            assert received.startswith(b": approvals change stream\n\n")


async def test_a_client_that_goes_away_leaves_no_change_stream_behind(agent):
    hub = agent.state.approval_hub
    async with served_here(agent) as url, \
            ApprovalsClient(url, token=run_token(REGISTRY.run_secret, "r1"), user="gateway") as gw, \
            ApprovalsClient(url, token=TOKENS["viewer"]) as viewer:
        await gw.file(order("r1"))
        for _ in range(3):
            stream = viewer.changes(run_id="r1")
            assert (await asyncio.wait_for(anext(stream), 10)).kind == "filed"
            assert hub.subscribers == 1 and server_work()
            await stream.aclose()  # the desk or a Gateway going away, while the stream is idle
            await until(lambda: hub.subscribers == 0 and not server_work(), 10, "the server to drop the stream")


async def test_following_a_gateway_log_sees_it_stop_and_a_client_gone_leaves_nothing(tmp_path):
    settings = load_settings(runs_dir=tmp_path / "runs", workspaces_dir=tmp_path / "ws")
    store = RunStore.from_settings(settings)
    store.create_run("default", run_id="logs", overrides={"start_date": dt.date(2025, 3, 3),
                                                          "end_date": dt.date(2025, 3, 7), "tickers": ["AAPL"]})
    app = runtime_app(settings, REGISTRY, RuntimeController(settings, store, registry=REGISTRY))
    async with served_here(app) as url:
        admin = RuntimeServiceClient(ServiceClient("runtime", url, token=TOKENS["admin"]))
        nobody = RuntimeServiceClient(ServiceClient("runtime", url))
        try:
            with pytest.raises(ServiceError) as err:
                await anext(admin.follow_logs("logs"))
            assert err.value.status == 404 and "no Gateway" in err.value.detail  # not started yet
            await admin.start_run("logs", paused=True)
            with pytest.raises(ServiceError) as err:
                await anext(nobody.follow_logs("logs"))
            assert err.value.status == 401
            async with httpx.AsyncClient(base_url=url, headers=bearer("viewer")) as http:
                async with aconnect_sse(http, "GET", "/runs/logs/logs/follow") as source:
                    assert source.response.status_code == 200  # answered: lines from now on are followed
                    events = source.aiter_sse()
                    await admin.stop_run("logs")
                    lines = []
                    while "stopping after the current stage" not in " ".join(lines):
                        event = await asyncio.wait_for(anext(events), 30)
                        lines.append(json.loads(event.data))  # each event's data is one line as a JSON string
                    assert all(isinstance(line, str) and "\n" not in line for line in lines)
                    assert server_work()
                # The Gateway is stopped: no line will come, yet the follower on the server ends now.
                await until(lambda: not server_work(), 10, "the server to drop the log follower")
        finally:
            await admin.http.aclose()
            await nobody.http.aclose()
