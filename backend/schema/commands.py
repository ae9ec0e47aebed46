"""Client -> Gateway commands, one model each, and their parser."""

from __future__ import annotations

import datetime as dt
from typing import Literal, Union

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter


class Command(BaseModel):
    model_config = ConfigDict(extra="allow")
    type: str


class Ping(Command):
    type: Literal["ping"] = "ping"


class GetState(Command):
    type: Literal["get_state"] = "get_state"


class StartBacktest(Command):
    type: Literal["start_backtest"] = "start_backtest"
    dates: list[dt.date] = Field(default_factory=list)


class FastForwardTime(Command):
    type: Literal["fast_forward_time"] = "fast_forward_time"
    minutes: float = Field(gt=0, le=7 * 24 * 60)


class Pause(Command):
    type: Literal["pause"] = "pause"


class Resume(Command):
    type: Literal["resume"] = "resume"


class SetPace(Command):
    type: Literal["set_pace"] = "set_pace"
    seconds: float = Field(ge=0, le=3600)


AnyCommand = Union[Ping, GetState, StartBacktest, FastForwardTime, Pause, Resume, SetPace]
COMMAND_ADAPTER: TypeAdapter[AnyCommand] = TypeAdapter(
    AnyCommand  # discriminated by the literal ``type``
)
COMMAND_TYPES = {c.model_fields["type"].default: c for c in AnyCommand.__args__}  # type: ignore[attr-defined]
# Commands that change the run: refused for read-only (viewer) connections.
MUTATING_COMMANDS = frozenset({"start_backtest", "fast_forward_time", "pause", "resume", "set_pace"})
# Commands that start a run: admin only (operators pause, resume and pace).
ADMIN_COMMANDS = frozenset({"start_backtest"})
