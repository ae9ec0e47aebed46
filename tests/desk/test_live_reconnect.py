"""GatewayClient against a real Gateway subprocess: kill it, restart it, the client comes back."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from app.net.gateway_client import GatewayClient, GatewayCommandError, GatewayUnavailable, backoff
from backend.schema.commands import Ping, SetPace
from tests.support.waiting import until


def test_backoff_grows_by_half_and_is_capped() -> None:
    delays = [backoff(n) for n in range(1, 14)]
    assert delays[:4] == [1.0, 1.5, 2.25, 3.375]
    assert delays[-1] == 30.0 and max(delays) == 30.0
    assert all(b >= a for a, b in zip(delays, delays[1:]))


async def test_client_reconnects_after_the_gateway_is_killed_and_restarted(gateway_process: Any) -> None:
    args = ("--run-id", "reconnect", "--create", "--end", "2025-01-10", "--pace", "0", "--paused")
    url = await asyncio.to_thread(gateway_process.start, *args)
    port = gateway_process.port
    client = GatewayClient(url, backoff_base=0.05, backoff_factor=1.5, backoff_cap=0.5)
    states: list[Any] = []
    frames: list[Any] = []
    client.state_changed.connect(states.append)
    client.event_received.connect(frames.append)
    client.start()
    try:
        await client.wait_connected(15)
        assert client.hello.run_id == "reconnect" and client.role == "admin"
        assert [f.type for f in frames[:2]] == ["hello", "initial_state"]
        pong = await client.request(Ping())
        assert pong.type == "pong"

        gateway_process.kill()
        await until(lambda: client.state.status == "reconnecting" and client.state.attempt >= 3, 15,
                    "three failed reconnect attempts")
        with pytest.raises(GatewayUnavailable, match="not connected"):
            await client.pause()
        retries = [s.retry_in for s in states if s.status == "reconnecting" and s.retry_in is not None]
        # Back-off: x1.5 per failed attempt, capped (0.05, 0.075, 0.1125, ...).
        assert retries[:3] == [pytest.approx(0.05), pytest.approx(0.075), pytest.approx(0.1125)]
        assert all(r <= 0.5 for r in retries)
        assert "refused" in client.state.detail or "closed" in client.state.detail or "lost" in client.state.detail

        frames.clear()
        await asyncio.to_thread(gateway_process.start, *args, port=port)
        await until(lambda: client.connected and client.connects == 2, 15, "the reconnection")
        await until(lambda: [f.type for f in frames[:2]] == ["hello", "initial_state"], 10, "a fresh greeting")
        reply = await client.resume()
        assert reply.content == "resume accepted"
        await until(lambda: any(f.type == "day_complete" for f in frames), 30, "the resumed run's events")
    finally:
        await client.close()
    assert client.state.status == "closed"


async def test_a_refused_command_raises_the_gateways_message(gateway_process: Any) -> None:
    url = await asyncio.to_thread(gateway_process.start, "--run-id", "refuse", "--create", "--end", "2025-01-06",
                                  "--pace", "0", "--paused")
    client = GatewayClient(url)
    client.start()
    try:
        await client.wait_connected(15)
        with pytest.raises(GatewayCommandError, match="set_pace"):
            await client.request(SetPace.model_construct(seconds=-1))  # unchecked, as a buggy client
    finally:
        await client.close()
