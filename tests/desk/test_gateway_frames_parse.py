"""A real Gateway subprocess, seeded, and the desk's own client: the desk refuses nothing the Gateway sends.

Beside the desk's :class:`GatewayClient` a plain WebSocket client records the
raw frames, so "refused nothing" is checked against what was really on the
wire: every type the Gateway sent was parsed, none was refused, and the
replies to commands (pong, system, error, initial_state, time_fast_forwarded)
went through the same parser.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from typing import Any

import pytest
from websockets.asyncio.client import connect

from app.net.gateway_client import GatewayClient, GatewayCommandError
from backend.schema.commands import FastForwardTime, GetState, Ping
from backend.schema.events import EVENT_TYPES, FrameRefused, InitialState, Pong, RunStatus, System
from tests.support.waiting import until

# What one backtest day puts on the wire (docs/protocol.md, "One trading day"), plus the greeting.
BACKTEST_TYPES = {"hello", "initial_state", "run_status", "day_start", "pipeline_stage", "agent_message",
                  "conference_start", "conference_cycle_start", "conference_message", "conference_cycle_end",
                  "conference_end", "team_trades", "team_holdings", "team_summary", "team_stats",
                  "team_leaderboard", "price_update", "memory", "day_complete"}
MOCK_TYPES = {"hello", "initial_state", "time_update", "market_status_update", "price_update", "time_fast_forwarded"}


class Recorder:
    """The desk's client, with every parsed event and every refusal kept."""

    def __init__(self, url: str) -> None:
        self.client = GatewayClient(url)
        self.events: Counter[str] = Counter()
        self.refusals: list[FrameRefused] = []
        self.completed = False
        self.client.event_received.connect(self._on_event)
        self.client.frame_refused.connect(self.refusals.append)

    def _on_event(self, event: Any) -> None:
        self.events[event.type] += 1
        self.completed = self.completed or (isinstance(event, RunStatus) and event.status == "completed")


async def _raw_frames(url: str, into: list[dict[str, Any]], ready: asyncio.Event) -> None:
    async with connect(url, max_size=64 * 2**20, compression=None) as ws:
        ready.set()
        async for message in ws:
            into.append(json.loads(message))


async def _watch(url: str, drive: Any) -> tuple[Recorder, list[dict[str, Any]]]:
    raw: list[dict[str, Any]] = []
    ready = asyncio.Event()
    reader = asyncio.get_running_loop().create_task(_raw_frames(url, raw, ready))
    desk = Recorder(url)
    desk.client.start()
    try:
        await asyncio.wait_for(ready.wait(), 15)
        await desk.client.wait_connected(15)
        await drive(desk, raw)
    finally:
        await desk.client.close()
        reader.cancel()
        await asyncio.gather(reader, return_exceptions=True)
    return desk, raw


def _assert_nothing_refused(desk: Recorder, raw: list[dict[str, Any]]) -> None:
    assert desk.refusals == [] and desk.client.refused == 0, [str(r) for r in desk.refusals[:5]]
    assert desk.client.received == sum(desk.events.values())  # every frame became an event
    wire_types = {frame["type"] for frame in raw}
    assert wire_types <= set(desk.events), wire_types - set(desk.events)
    assert set(desk.events) <= set(EVENT_TYPES)


async def test_a_seeded_backtest_sends_nothing_the_desk_refuses(gateway_process: Any) -> None:
    url = await asyncio.to_thread(gateway_process.start, "--run-id", "schema-bt", "--create", "--seed", "11",
                                  "--end", "2025-01-08", "--pace", "0", "--paused")

    async def drive(desk: Recorder, raw: list[dict[str, Any]]) -> None:
        client = desk.client
        assert isinstance(await client.request(Ping()), Pong)
        assert isinstance(await client.get_state(), InitialState)
        assert isinstance(await client.set_pace(0), System)
        with pytest.raises(GatewayCommandError, match="fast_forward_time"):  # backtest: an error reply
            await client.request(FastForwardTime(minutes=5))
        reply = await client.resume()
        assert isinstance(reply, System) and reply.command == "resume"
        await until(lambda: desk.completed, 90, "the run to complete")
        await until(lambda: any(f["type"] == "run_status" and f["status"] == "completed" for f in raw), 15,
                    "the raw client to see it complete")

    desk, raw = await _watch(url, drive)
    _assert_nothing_refused(desk, raw)
    assert BACKTEST_TYPES | {"pong", "system", "error"} <= set(desk.events), \
        BACKTEST_TYPES - set(desk.events)
    assert desk.events["day_complete"] == 5  # 2025-01-02 .. 2025-01-08: five trading days
    assert desk.events["initial_state"] == 2  # the greeting and the get_state reply


async def test_a_mock_run_sends_nothing_the_desk_refuses(gateway_process: Any) -> None:
    url = await asyncio.to_thread(gateway_process.start, "--run-id", "schema-mock", "--create", "--mode", "mock",
                                  "--seed", "11", "--end", "2025-01-06")

    async def drive(desk: Recorder, raw: list[dict[str, Any]]) -> None:
        client = desk.client
        await until(lambda: desk.events["time_update"] and any(f["type"] == "time_update" for f in raw), 30,
                    "the mock clock's first tick")
        reply = await client.request(FastForwardTime(minutes=60))
        assert reply.type == "time_fast_forwarded"
        # 09:00 New York (pre-market) plus an hour: the session opens.
        await until(lambda: desk.events["market_status_update"]
                    and any(f["type"] == "market_status_update" and f["market_status"]["status"] == "open"
                            for f in raw), 30, "the session to open")
        assert isinstance(await client.request(GetState()), InitialState)

    desk, raw = await _watch(url, drive)
    _assert_nothing_refused(desk, raw)
    assert MOCK_TYPES <= set(desk.events), MOCK_TYPES - set(desk.events)
