"""Relaying a command to a Gateway that cannot answer: real sockets, a real Gateway, real HTTP.

Refused (nothing listens), silent (a listener that never answers the
handshake), dropped (closes after accepting): each a clear error naming the
run -- 503, 504, 503 -- within the timeout, never a hang or a 500.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import time

import pytest

from backend.errors import UnavailableError, UpstreamTimeoutError
from backend.control_plane.gateway_command import send_command
from backend.schema.commands import Pause, Resume
from backend.control_plane.gateway_restart import GatewayRestartPolicy

from tests.support.waiting import until

from .support import is_gone
from .test_gateway_restart import create_and_start, runtime  # noqa: F401 - the fixture

TOKEN = "admin-token-never-to-be-shown-00"


async def test_a_refused_port_is_unavailable_naming_the_run():
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))  # bound, not listening: connections are refused
        url = f"ws://127.0.0.1:{held.getsockname()[1]}/"
        with pytest.raises(UnavailableError) as info:
            await send_command("r-1", url, TOKEN, Pause(), timeout=2.0)
    message = str(info.value)
    assert message.startswith(f"run 'r-1': its Gateway at {url} is unreachable (")
    assert TOKEN not in message


async def test_a_listener_that_never_answers_times_out_naming_the_run():
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()  # the kernel completes the TCP handshake; nobody ever reads
        url = f"ws://127.0.0.1:{silent.getsockname()[1]}/"
        with pytest.raises(UpstreamTimeoutError, match=r"^run 'r-2': its Gateway at .* did not answer resume within "
                                                        r"0\.5 s"):
            await send_command("r-2", url, TOKEN, Resume(), timeout=0.5)


async def test_a_peer_that_drops_the_connection_is_unavailable():
    async def drop(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(100)
        writer.close()

    server = await asyncio.start_server(drop, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        with pytest.raises(UnavailableError, match=r"^run 'r-3': its Gateway at .* is unreachable"):
            await send_command("r-3", f"ws://127.0.0.1:{port}/", TOKEN, Pause(), timeout=5.0)
    finally:
        server.close()
        await server.wait_closed()


async def test_a_killed_gateway_is_503_over_http_and_unreachable_before_the_supervisor_notices(runtime):  # noqa: F811
    service, http = runtime
    # A long back-off keeps the killed Gateway down for the whole test.
    service.controller.restart_policy = GatewayRestartPolicy(backoff_base=60, backoff_cap=60)
    started = await create_and_start(http, "downed", paused=True)
    pid = started["pid"]
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while not is_gone(pid):  # blocking on purpose: the supervisor (on this loop) must not see the exit yet
        assert time.monotonic() < deadline
        time.sleep(0.01)
    assert service.controller.gateway_info("downed")["status"] == "healthy"  # as far as it knows
    with pytest.raises(UnavailableError, match=r"^run 'downed': its Gateway at .* is unreachable \("):
        await service.controller.pause("downed")
    await until(lambda: service.controller.gateway_info("downed")["status"] == "restarting", what="restarting")
    answer = await http.post("/runs/downed/pause")
    assert answer.status_code == 503, answer.text
    assert answer.json() == {"error": "unavailable",
                             "detail": "run 'downed': its Gateway is restarting; try again in a moment"}
    assert (await http.post("/runs/downed/stop")).json()["status"] == "stopped"  # cancels the pending restart
    answer = await http.post("/runs/downed/resume")
    assert answer.status_code == 409 and answer.json()["detail"] == "run 'downed' has no running Gateway"
