"""Client -> Gateway commands, one model each, and their parser.

Every command a client sends is built from these models (the desk's
``GatewayClient``, the runtime_service relay, tests), never as a dict:

    Pause().wire_json()                 # '{"type":"pause"}'
    SetPace(seconds=2).to_wire()        # {"type": "set_pace", "seconds": 2.0}
    COMMAND_ADAPTER.validate_python(data)
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter


class Command(BaseModel):
    """Base of every client frame: a JSON object with a string ``type``."""

    model_config = ConfigDict(extra="allow")
    type: str
    # A client's id for this request, echoed in the reply (string or integer).
    request_id: str | int | None = None

    def to_wire(self) -> dict[str, Any]:
        """The JSON-ready dict of this command."""
        return self.model_dump(mode="json", exclude_none=True)

    def wire_json(self) -> str:
        """The JSON text sent on the WebSocket."""
        return self.model_dump_json(exclude_none=True)


class Ping(Command):
    """Answered by ``pong {timestamp}``."""

    type: Literal["ping"] = "ping"


class GetState(Command):
    """Answered by ``initial_state``. While an earlier ``initial_state`` for this client still waits in
    its send queue, that one answers (every event since follows it) and no second copy is queued.
    """

    type: Literal["get_state"] = "get_state"


class StartBacktest(Command):
    """Admin only: run the given trading days (the run's remaining days); answered by ``system
    {content, command}`` ("backtest started: N trading days (first .. last)").
    """

    type: Literal["start_backtest"] = "start_backtest"
    dates: list[dt.date] = Field(default_factory=list)


class FastForwardTime(Command):
    """Operator: move the virtual clock on (mock mode); answered by ``time_fast_forwarded {minutes,
    current_time}``, elsewhere by ``error``.
    """

    type: Literal["fast_forward_time"] = "fast_forward_time"
    minutes: float = Field(gt=0, le=7 * 24 * 60)


class Pause(Command):
    """Operator: pause after the current stage; answered by ``system {content, command}`` ("pause
    accepted"), and the ``run_status`` change is broadcast.
    """

    type: Literal["pause"] = "pause"


class Resume(Command):
    """Operator: resume the run; answered by ``system {content, command}`` ("resume accepted")."""

    type: Literal["resume"] = "resume"


class SetPace(Command):
    """Operator: seconds per trading day (0 = as fast as possible); answered by ``system {content,
    command}`` ("pace set to X s").
    """

    type: Literal["set_pace"] = "set_pace"
    seconds: float = Field(ge=0, le=3600)


class RestartAtDayBoundary(Command):
    """Admin only: finish the current trading day (its checkpoint written), start no next one and exit
    so the supervisor starts the Gateway again on the current source; the new process resumes the
    same run from that checkpoint (``system`` "Resuming run ..."). Answered by ``system {content,
    command}`` ("restart at the day boundary accepted"); a finished run restarts at once, a paused one
    once it is resumed and reaches the boundary.
    Sent by ``evotraders stack up --reload`` when the Gateway's source changed.
    """

    type: Literal["restart_at_day_boundary"] = "restart_at_day_boundary"


COMMAND_MODELS: tuple[type[Command], ...] = (Ping, GetState, StartBacktest, FastForwardTime, Pause, Resume, SetPace,
                                              RestartAtDayBoundary)
AnyCommand = Annotated[Union[COMMAND_MODELS], Field(discriminator="type")]  # type: ignore[valid-type]
COMMAND_ADAPTER: TypeAdapter[Command] = TypeAdapter(AnyCommand)
COMMAND_TYPES: dict[str, type[Command]] = {c.model_fields["type"].default: c for c in COMMAND_MODELS}
# Commands that change the run: refused for read-only (viewer) connections.
MUTATING_COMMANDS = frozenset({"start_backtest", "fast_forward_time", "pause", "resume", "set_pace",
                               "restart_at_day_boundary"})
# Commands that start a run or restart its process: admin only (operators pause, resume and pace).
ADMIN_COMMANDS = frozenset({"start_backtest", "restart_at_day_boundary"})
