"""Connecting to the Gateway: authentication, hello/initial_state, HTTP health."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
from gateway_fakes import recv_json, wait_for
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from backend.schema.events import PROTOCOL_VERSION
from backend.security.tokens import Role, TokenConfigError, TokenRegistry
from gateway.server import GatewayServer


async def test_hello_then_initial_state_with_feed_newest_first(start_gateway, driver):
    for seq in range(3):
        driver.emit_seq(seq)
    server = await start_gateway()
    async with connect(server.url) as ws:
        hello = await recv_json(ws)
        state = await recv_json(ws)
        driver.emit_seq(3)
        live = await recv_json(ws)
    assert hello == {"type": "hello", "protocol_version": PROTOCOL_VERSION, "run_id": "run-test",
                     "server_mode": "backtest", "read_only": False, "role": "admin", "curves": "bounded"}
    assert state["type"] == "initial_state"
    assert [e["seq"] for e in state["state"]["feed_history"]] == [2, 1, 0]
    assert live == {"type": "system", "content": "event 3", "seq": 3}


async def test_no_event_lost_or_doubled_between_snapshot_and_stream(start_gateway, driver):
    """Clients join while events flow: the first streamed event follows the snapshot."""
    server = await start_gateway()
    stop = asyncio.Event()

    async def emitter() -> None:
        seq = 0
        while not stop.is_set():
            driver.emit_seq(seq)
            seq += 1
            await asyncio.sleep(0)

    task = asyncio.create_task(emitter())
    try:
        for _ in range(10):
            async with connect(server.url) as ws:
                await recv_json(ws)  # hello
                feed = (await recv_json(ws))["state"]["feed_history"]
                first_live = (await recv_json(ws))["seq"]
            newest_in_snapshot = feed[0]["seq"] if feed else -1
            assert first_live == newest_in_snapshot + 1
    finally:
        stop.set()
        await task


async def test_tokens_decide_role_from_query_or_bearer_header(start_gateway, tokens):
    server = await start_gateway(registry=tokens)
    async with connect(f"{server.url}?token={tokens.tokens[Role.viewer]}") as ws:
        hello = await recv_json(ws)
    assert (hello["role"], hello["read_only"]) == ("viewer", True)
    headers = {"Authorization": f"Bearer {tokens.tokens[Role.operator]}"}
    async with connect(server.url, additional_headers=headers) as ws:
        hello = await recv_json(ws)
    assert (hello["role"], hello["read_only"]) == ("operator", False)


@pytest.mark.parametrize("query, expected", [
    ("", "missing token"),
    ("?token=not-the-right-token", "invalid token"),
])
async def test_missing_or_wrong_token_is_refused_with_401(start_gateway, tokens, query, expected):
    server = await start_gateway(registry=tokens)
    with pytest.raises(InvalidStatus) as caught:
        async with connect(server.url + query):
            pass
    response = caught.value.response
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert expected in json.loads(response.body)["message"]
    assert server.hub.client_count == 0


async def test_open_server_refuses_foreign_browser_origin(start_gateway):
    server = await start_gateway(allowed_origins=("https://dash.example",))
    with pytest.raises(InvalidStatus) as caught:
        async with connect(server.url, origin="https://evil.example"):
            pass
    assert caught.value.response.status_code == 403
    for origin in ("http://localhost:5173", "https://dash.example"):
        async with connect(server.url, origin=origin) as ws:
            assert (await recv_json(ws))["type"] == "hello"


def test_open_server_refuses_to_bind_beyond_loopback(driver):
    with pytest.raises(TokenConfigError, match="refusing to bind 0.0.0.0"):
        GatewayServer(driver, "0.0.0.0", 0, registry=TokenRegistry())


async def test_health_over_plain_http(start_gateway, tokens):
    server = await start_gateway(registry=tokens)
    base = f"http://127.0.0.1:{server.port}"
    async with connect(f"{server.url}?token={tokens.tokens[Role.viewer]}") as ws:
        await recv_json(ws)
        await wait_for(lambda: server.hub.client_count == 1, what="client registered")
        async with httpx.AsyncClient() as http:
            health = await http.get(f"{base}/health")
            metrics = await http.get(f"{base}/metrics")
            missing = await http.get(f"{base}/nope")
    assert health.status_code == 200
    body = health.json()
    assert {k: body[k] for k in ("status", "run_id", "mode", "clients", "current_date", "stage")} == {
        "status": "idle", "run_id": "run-test", "mode": "backtest", "clients": 1,
        "current_date": "2024-01-02", "stage": "analysis"}
    assert metrics.json()["clients"][0]["role"] == "viewer"
    assert missing.status_code == 404
    assert "not found: /nope" in missing.json()["error"]


async def test_health_reports_503_when_the_run_cannot(start_gateway, driver):
    def broken() -> dict:
        raise RuntimeError("engine gone")

    driver.health = broken
    server = await start_gateway()
    async with httpx.AsyncClient() as http:
        response = await http.get(f"http://127.0.0.1:{server.port}/health")
    assert response.status_code == 503
    assert response.json()["status"] == "error"
