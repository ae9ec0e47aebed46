"""Client commands over a real connection: replies, bad input, roles."""

from __future__ import annotations

import json

import pytest
from gateway_fakes import FakeDriver, recv_json, recv_until
from websockets.asyncio.client import connect

from backend.security.tokens import Role


async def open_client(server, token: str | None = None):
    ws = await connect(server.url + (f"?token={token}" if token else ""), max_size=2**22)
    assert (await recv_json(ws))["type"] == "hello"
    assert (await recv_json(ws))["type"] == "initial_state"
    return ws


async def test_ping_gets_pong_with_request_id(start_gateway):
    server = await start_gateway()
    async with await open_client(server) as ws:
        await ws.send(json.dumps({"type": "ping", "request_id": 7}))
        pong = await recv_json(ws)
    assert pong["type"] == "pong" and pong["request_id"] == 7
    assert pong["timestamp"].startswith("20")


async def test_get_state_answers_initial_state(start_gateway, driver):
    server = await start_gateway()
    async with await open_client(server) as ws:
        driver.emit_seq(1)
        await ws.send('{"type": "get_state"}')
        assert (await recv_json(ws))["seq"] == 1  # the stream keeps its order
        state = await recv_json(ws)
    assert state["type"] == "initial_state"
    assert state["state"]["feed_history"][0]["seq"] == 1


BAD_FRAMES = [
    ("not json", "invalid JSON: Expecting value at line 1 column 1"),
    ("[1, 2]", "expected a JSON object with a string 'type', got array"),
    ("42", "expected a JSON object with a string 'type', got number"),
    ('{"no_type": 1}', "missing field 'type'"),
    ('{"type": 3}', "field 'type' must be a string, got number"),
    ('{"type": "launch_rockets"}', "unknown command type 'launch_rockets'; expected one of: "),
    ('{"type": "set_pace", "seconds": "soon"}', "invalid set_pace: seconds: Input should be a valid number"),
    ('{"type": "set_pace", "seconds": NaN}', "invalid JSON: NaN is not a JSON value"),
    ('{"type": "set_pace", "seconds": -1}', "invalid set_pace: seconds: Input should be greater than or equal to 0"),
    ('{"type": "start_backtest", "dates": "2024-01-02"}',
     "invalid start_backtest: dates: Input should be a valid list"),
    ('{"type": "start_backtest", "dates": ["2024-13-45"]}',
     "invalid start_backtest: dates.0: Input should be a valid date"),
    ('{"type": "fast_forward_time"}', "invalid fast_forward_time: minutes: Field required"),
    ("[" * 100_000 + "]" * 100_000, "exceeds the 65536-byte limit"),  # 200 kB, under the library's 1 MiB
    ('{"a":' * 5000 + "1" + "}" * 5000, "invalid JSON: nested too deeply"),
    (b'{"type": "ping"}', "binary frames are not supported; send JSON text frames"),
]


@pytest.mark.parametrize("frame, expected", BAD_FRAMES, ids=[e[:40] for _, e in BAD_FRAMES])
async def test_bad_input_gets_error_and_connection_stays_usable(start_gateway, frame, expected):
    server = await start_gateway()
    async with await open_client(server) as ws:
        await ws.send(frame)
        error = await recv_json(ws)
        await ws.send('{"type": "ping"}')
        assert (await recv_json(ws))["type"] == "pong"
    assert error["type"] == "error"
    assert expected in error["message"]


MUTATING = [
    {"type": "pause"}, {"type": "resume"}, {"type": "set_pace", "seconds": 1},
    {"type": "start_backtest", "dates": ["2024-01-02"]}, {"type": "fast_forward_time", "minutes": 30},
]


async def test_viewer_cannot_run_mutating_commands(start_gateway, driver, tokens):
    server = await start_gateway(registry=tokens)
    async with await open_client(server, tokens.tokens[Role.viewer]) as ws:
        for command in MUTATING:
            await ws.send(json.dumps(command))
            error = await recv_json(ws)
            needed = "admin" if command["type"] == "start_backtest" else "operator"
            assert error == {"type": "error", "message":
                             f"{command['type']} requires the {needed} role; this connection is read-only"}
    assert driver.calls == []


async def test_operator_cannot_start_a_run(start_gateway, driver, tokens):
    server = await start_gateway(registry=tokens)
    async with await open_client(server, tokens.tokens[Role.operator]) as ws:
        await ws.send('{"type": "start_backtest", "dates": ["2024-01-02"]}')
        error = await recv_json(ws)
    assert error == {"type": "error", "message": "start_backtest starts a run and requires the admin role"}
    assert driver.calls == []


async def test_admin_and_operator_control_the_run(start_gateway, driver, tokens):
    server = await start_gateway(registry=tokens)
    async with await open_client(server, tokens.tokens[Role.admin]) as ws:
        await ws.send('{"type": "start_backtest", "dates": ["2024-01-02", "2024-01-03"], "request_id": "s1"}')
        assert (await recv_json(ws))["status"] == "running"  # the driver's run_status broadcast
        ack = await recv_json(ws)
        assert ack == {"type": "system", "content": "backtest started: 2 trading days (2024-01-02 .. 2024-01-03)",
                       "command": "start_backtest", "request_id": "s1"}
    async with await open_client(server, tokens.tokens[Role.operator]) as ws:
        await ws.send('{"type": "pause"}')
        assert (await recv_json(ws))["status"] == "paused"
        assert (await recv_json(ws))["content"] == "pause accepted"
        await ws.send('{"type": "resume"}')
        assert (await recv_json(ws))["status"] == "running"
        assert (await recv_json(ws))["content"] == "resume accepted"
        await ws.send('{"type": "set_pace", "seconds": 2.5}')
        assert (await recv_json(ws))["content"] == "pace set to 2.5 s"
        await ws.send('{"type": "fast_forward_time", "minutes": 30}')
        error = await recv_json(ws)
    assert error == {"type": "error", "message": "fast_forward_time is only supported in mock mode"}
    assert [name for name, _ in driver.calls] == ["start_backtest", "pause", "resume", "set_pace", "fast_forward"]
    assert driver.pace == 2.5


async def test_driver_refusals_and_failures_become_errors(start_gateway, driver):
    server = await start_gateway()
    async with await open_client(server) as ws:
        await ws.send('{"type": "start_backtest", "dates": []}')
        assert (await recv_json(ws))["message"] == "start_backtest needs at least one date"
        await ws.send('{"type": "pause"}')
        assert (await recv_json(ws))["message"] == "no running run to pause"
        driver.fail_next = RuntimeError("boom")
        await ws.send('{"type": "set_pace", "seconds": 1}')
        assert (await recv_json(ws))["message"] == "internal error while handling set_pace: RuntimeError"
        await ws.send('{"type": "ping"}')
        assert (await recv_json(ws))["type"] == "pong"


async def test_fast_forward_in_mock_mode(start_gateway):
    server = await start_gateway(driver=FakeDriver(mode="mock"))
    async with await open_client(server) as ws:
        await ws.send('{"type": "fast_forward_time", "minutes": 45}')
        reply = await recv_until(ws, lambda f: f["type"] != "run_status")
    assert reply == {"type": "time_fast_forwarded", "minutes": 45.0, "current_time": "2024-01-02T10:30:00-05:00"}
