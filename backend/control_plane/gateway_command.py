"""Relaying one command (pause, resume, set_pace) to a run's Gateway over WebSocket.

Bounded as a whole: a Gateway that refuses the connection, drops it or is
unreachable is a :class:`UnavailableError` (503); one that accepts the TCP
connection but never answers (SIGSTOPped, its loop blocked) is an
:class:`UpstreamTimeoutError` (504) after ``timeout`` seconds. Either detail
names the run and never the token (it travels in a header, not the URL).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake

from backend.errors import ConflictError, UnavailableError, UpstreamTimeoutError
from backend.schema.commands import Command
from backend.schema.events import Error, System, parse_event

# The Gateway answers a command at once (it does not wait for the stage to
# end), so on loopback a healthy one replies in milliseconds; 3 s leaves room
# for a busy machine and still answers a human before they give up.
COMMAND_TIMEOUT_S = 3.0

_GREETING_FRAMES = 2  # hello, initial_state
MAX_FRAME_BYTES = 64 * 2**20  # initial_state of a long run exceeds websockets' 1 MiB default


async def send_command(run_id: str, url: str, token: str | None, command: Command,
                       timeout: float = COMMAND_TIMEOUT_S) -> dict[str, Any]:
    """Send ``command`` to the Gateway at ``url`` and return its ``system`` reply.

    Raises:
        ConflictError: the Gateway answered with an ``error`` frame (it refused the command).
        UnavailableError: refused, closed or rejected the connection.
        UpstreamTimeoutError: no reply within ``timeout`` seconds.
    """
    what = command.type
    headers = {"Authorization": f"Bearer {token}"} if token else None
    try:
        async with asyncio.timeout(timeout):
            async with connect(url, additional_headers=headers, open_timeout=None, close_timeout=1,
                               max_size=MAX_FRAME_BYTES) as ws:
                for _ in range(_GREETING_FRAMES):
                    await ws.recv()
                await ws.send(command.wire_json())
                while True:
                    frame = json.loads(await ws.recv())
                    # Only the two reply types are read; the run's broadcast events stream past.
                    is_reply = isinstance(frame, dict) and frame.get("type") in ("error", "system")
                    reply = parse_event(frame) if is_reply else None
                    if isinstance(reply, Error):
                        raise ConflictError(f"run {run_id!r}: the Gateway refused {what}: "
                                            f"{reply.message or 'no reason given'}")
                    if isinstance(reply, System) and reply.command == what:
                        return frame
    except TimeoutError:
        raise UpstreamTimeoutError(f"run {run_id!r}: its Gateway at {url} did not answer {what} within "
                                   f"{timeout:g} s (stopped or overloaded?)") from None
    except (OSError, ConnectionClosed, InvalidHandshake) as err:
        reason = _scrub(f"{type(err).__name__}: {err}", token)
        raise UnavailableError(f"run {run_id!r}: its Gateway at {url} is unreachable ({reason})") from None


def _scrub(text: str, token: str | None) -> str:
    return text.replace(token, "<token>") if token else text
