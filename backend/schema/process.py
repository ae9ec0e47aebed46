"""How one run of a child process ended: the one shape for the supervisor, the API and the desk.

:class:`ProcessExit` is what ``ManagedProcess.last_exit`` holds, what
``ManagedProcess.as_dict()`` and runtime_service's ``GatewayInfo.last_exit``
carry, and what the desk's stack panel reads.
"""

from __future__ import annotations

import signal as _signal
from collections.abc import Sequence
from datetime import datetime, timezone

from pydantic import BaseModel, ConfigDict, Field, field_serializer


def signal_name(signum: int) -> str:
    """``9`` -> ``"SIGKILL"`` (``"signal 77"`` for a number without a name)."""
    try:
        return _signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


def describe_returncode(returncode: int) -> str:
    """"exited with code 3" or "killed by SIGKILL" (asyncio reports signals as -signum)."""
    if returncode < 0:
        return f"killed by {signal_name(-returncode)}"
    return f"exited with code {returncode}"


def _now() -> datetime:
    return datetime.now(timezone.utc)


class ProcessExit(BaseModel):
    """How one run of a process ended.

    Args:
        reason: one line for humans: "exited with code 3", "killed by SIGKILL", "not started: ...".
        exit_code: the exit status, or None if it was killed by a signal or never started.
        signal: the name of the killing signal ("SIGKILL"), or None.
        at: when it ended (UTC; ISO 8601 in JSON).
        lines: its last log lines (stdout and stderr merged, in order).
        requested: True if the supervisor stopped it on request.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")
    reason: str
    exit_code: int | None = None
    signal: str | None = None
    at: datetime = Field(default_factory=_now)
    lines: tuple[str, ...] = ()
    requested: bool = False

    @field_serializer("at")
    def _iso(self, at: datetime) -> str:
        return at.isoformat()

    @property
    def ok(self) -> bool:
        """Ended as intended: stopped on request or exited with code 0."""
        return self.requested or self.exit_code == 0

    @classmethod
    def from_returncode(cls, returncode: int, lines: Sequence[str], *, requested: bool = False,
                        note: str = "") -> "ProcessExit":
        reason = describe_returncode(returncode) + (f" {note}" if note else "")
        if requested:
            reason = f"stopped: {reason}"
        return cls(reason=reason, exit_code=returncode if returncode >= 0 else None,
                   signal=signal_name(-returncode) if returncode < 0 else None,
                   lines=tuple(lines), requested=requested)

    @classmethod
    def not_started(cls, reason: str, lines: Sequence[str] = ()) -> "ProcessExit":
        return cls(reason=reason, lines=tuple(lines))


__all__ = ["ProcessExit", "describe_returncode", "signal_name"]
