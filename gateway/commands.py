"""Client commands: decoding a frame, checking the role, running the command.

Every problem with a frame becomes one ``error {message}`` reply naming what
is wrong; nothing a client sends can close its connection or stop the
Gateway. Direct replies echo the command's ``request_id`` (string or integer)
when it has one, so a client can match replies to requests.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
from typing import Any

from pydantic import ValidationError

from backend.schema.commands import (
    ADMIN_COMMANDS,
    COMMAND_TYPES,
    MUTATING_COMMANDS,
    Command,
    FastForwardTime,
    GetState,
    Pause,
    Ping,
    RestartAtDayBoundary,
    Resume,
    SetPace,
    StartBacktest,
)
from backend.schema.events import Error, Event, InitialState, Pong, System, TimeFastForwarded
from backend.security.tokens import Role
from gateway.driver import RunDriver
from gateway.hub import EventHub, Subscriber

log = logging.getLogger(__name__)


class CommandError(ValueError):
    """A frame that cannot be run; ``str(err)`` is the message sent back."""


def _json_type(value: Any) -> str:
    names = {dict: "object", list: "array", str: "string", bool: "boolean", int: "number",
             float: "number", type(None): "null"}
    return names.get(type(value), type(value).__name__)


def _reject_constant(name: str) -> Any:
    raise CommandError(f"invalid JSON: {name} is not a JSON value")


def decode_frame(message: str | bytes, max_frame_bytes: int) -> dict[str, Any]:
    """The JSON object of a text frame with a string ``type``, or CommandError."""
    if not isinstance(message, str):
        raise CommandError("binary frames are not supported; send JSON text frames")
    size = len(message) if message.isascii() else len(message.encode())
    if size > max_frame_bytes:
        raise CommandError(f"frame of {size} bytes exceeds the {max_frame_bytes}-byte limit")
    try:
        data = json.loads(message, parse_constant=_reject_constant)
    except json.JSONDecodeError as err:
        raise CommandError(f"invalid JSON: {err.msg} at line {err.lineno} column {err.colno}") from None
    except RecursionError:
        raise CommandError("invalid JSON: nested too deeply") from None
    if not isinstance(data, dict):
        raise CommandError(f"expected a JSON object with a string 'type', got {_json_type(data)}")
    kind = data.get("type")
    if "type" not in data:
        raise CommandError("missing field 'type'")
    if not isinstance(kind, str):
        raise CommandError(f"field 'type' must be a string, got {_json_type(kind)}")
    return data


def parse_command(data: dict[str, Any], read_only: bool, is_admin: bool = True) -> Command:
    """Validate a decoded frame as a known command this connection may run.

    Viewers may run no mutating command; starting a backtest (starting a run)
    needs the admin role, pause/resume/pace/fast-forward the operator role.
    """
    kind = data["type"]
    model = COMMAND_TYPES.get(kind)
    if model is None:
        known = ", ".join(sorted(COMMAND_TYPES))
        raise CommandError(f"unknown command type {kind!r}; expected one of: {known}")
    if read_only and kind in MUTATING_COMMANDS:
        needed = "admin" if kind in ADMIN_COMMANDS else "operator"
        raise CommandError(f"{kind} requires the {needed} role; this connection is read-only")
    if kind in ADMIN_COMMANDS and not is_admin:
        what = "restarts the Gateway" if kind == "restart_at_day_boundary" else "starts a run"
        raise CommandError(f"{kind} {what} and requires the admin role")
    try:
        return model.model_validate(data)
    except ValidationError as err:
        problems = []
        for item in err.errors()[:3]:
            where = ".".join(str(part) for part in item["loc"])
            problems.append(f"{where}: {item['msg']}" if where else item["msg"])
        raise CommandError(f"invalid {kind}: " + "; ".join(problems)) from None


def _request_id(data: dict[str, Any]) -> dict[str, Any]:
    rid = data.get("request_id")
    if isinstance(rid, str) or (isinstance(rid, int) and not isinstance(rid, bool)):
        return {"request_id": rid}
    return {}


def _now_iso() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds")


class CommandDispatcher:
    """Runs the commands of every connection of one Gateway.

    Args:
        driver: the run the commands act on.
        hub: where replies go (each behind that client's queued events).
        max_frame_bytes: the largest frame accepted; bigger ones get ``error``.
    """

    def __init__(self, driver: RunDriver, hub: EventHub, max_frame_bytes: int) -> None:
        self.driver = driver
        self.hub = hub
        self.max_frame_bytes = max_frame_bytes
        self._background: set[asyncio.Task[None]] = set()

    async def handle(self, sub: Subscriber, message: str | bytes) -> None:
        """Decode, check and run one frame; every failure is answered with ``error``."""
        data: dict[str, Any] = {}
        try:
            data = decode_frame(message, self.max_frame_bytes)
            command = parse_command(data, sub.read_only, sub.role >= Role.admin)
            await self._run(sub, command, _request_id(data))
        except CommandError as err:
            self.hub.send(sub, Error(message=str(err), **_request_id(data)))
        except ValidationError as err:  # a driver returned something malformed: our bug
            self._internal_error(sub, data.get("type"), _request_id(data), err)
        except ValueError as err:  # the driver refused, with a user-facing message
            self.hub.send(sub, Error(message=str(err), **_request_id(data)))
        except Exception as err:
            self._internal_error(sub, data.get("type"), _request_id(data), err)

    def _internal_error(self, sub: Subscriber, kind: object, rid: dict[str, Any], err: Exception) -> None:
        log.error("command %r failed", kind, exc_info=err)
        self.hub.send(sub, Error(message=f"internal error while handling {kind}: {type(err).__name__}", **rid))

    async def _run(self, sub: Subscriber, command: Command, rid: dict[str, Any]) -> None:
        reply: Event
        if isinstance(command, Ping):
            reply = Pong(timestamp=_now_iso(), **rid)
        elif isinstance(command, GetState):
            if sub.state_queued:
                # An earlier state reply still waits in this client's queue,
                # followed by every event since: once read, the client is as
                # current as a new copy would make it. Building and queueing
                # one per request let a client that never reads pile up
                # hundreds of megabytes and keep the loop busy.
                sub.coalesced += 1
                return
            reply = InitialState(state=self.driver.snapshot_state(), **rid)
        elif isinstance(command, FastForwardTime):
            result = self.driver.fast_forward(command.minutes)
            reply = TimeFastForwarded.model_validate({"minutes": command.minutes, **result, **rid})
        elif isinstance(command, Pause):
            self.driver.pause()
            reply = System(content="pause accepted", command="pause", **rid)
        elif isinstance(command, Resume):
            self.driver.resume()
            reply = System(content="resume accepted", command="resume", **rid)
        elif isinstance(command, SetPace):
            self.driver.set_pace(command.seconds)
            reply = System(content=f"pace set to {command.seconds:g} s", command="set_pace", **rid)
        elif isinstance(command, RestartAtDayBoundary):
            self.driver.restart_at_day_boundary()
            reply = System(content="restart at the day boundary accepted", command="restart_at_day_boundary", **rid)
        elif isinstance(command, StartBacktest):
            # Run apart from the read loop: pings keep being answered while
            # the driver prepares the run.
            task = asyncio.get_running_loop().create_task(self._start_backtest(sub, command, rid))
            self._background.add(task)
            task.add_done_callback(self._background.discard)
            return
        else:  # a command type added to the schema but not wired here
            raise CommandError(f"command {command.type} is not supported by this Gateway")
        self.hub.send(sub, reply)

    async def _start_backtest(self, sub: Subscriber, command: StartBacktest, rid: dict[str, Any]) -> None:
        try:
            await self.driver.start_backtest(list(command.dates))
        except ValueError as err:
            self.hub.send(sub, Error(message=str(err), **rid))
            return
        except Exception as err:
            self._internal_error(sub, command.type, rid, err)
            return
        n = len(command.dates)
        span = f" ({command.dates[0]} .. {command.dates[-1]})" if n else ""
        self.hub.send(sub, System(content=f"backtest started: {n} trading days{span}",
                                  command="start_backtest", **rid))

    async def aclose(self) -> None:
        """Cancel commands still running (server shutdown)."""
        for task in list(self._background):
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)
