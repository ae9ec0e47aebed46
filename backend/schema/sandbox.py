"""Where a run's skills run, and what one skill call returned.

The sandbox modes and the effective choice of one run; :class:`SkillResult`,
the outcome of one skill call, the same for every backend.

The operator's setting is a floor (see ``docs/sandbox.md``): a run's
BOOTSTRAP may ask for more isolation, never less. :class:`EffectiveSandbox`
records what was chosen and why; it is written to ``runtime_state.json``
(key ``sandbox``), carried in the Gateway's ``initial_state`` and ``/health``,
and shown in the desk.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

SandboxMode = Literal["none", "process", "docker", "kubernetes"]
# Where the floor came from: the settings an admin saved (PUT /sandbox/settings)
# or SKILL_SANDBOX_MODE (the environment, `.env`, or its default `none`).
FloorSource = Literal["sandbox_settings", "environment"]
# floor: the BOOTSTRAP asked nothing (or the same, or an equally strong other
# backend); requested: the BOOTSTRAP asked for more isolation and got it;
# raised_to_floor: the BOOTSTRAP asked for less and runs at the floor.
Reason = Literal["floor", "requested", "raised_to_floor"]
# Why a skill call failed (every backend reports the same kinds).
ErrorKind = Literal["timeout", "memory", "crashed", "bad_output", "bad_input", "backend_unavailable"]


class EffectiveSandbox(BaseModel):
    """The sandbox one run's skills run in, and why."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    mode: SandboxMode
    floor: SandboxMode
    floor_source: FloorSource
    requested: SandboxMode | None = None
    reason: Reason
    note: str

    def summary(self) -> str:
        """One line for a status bar: ``process (floor from SKILL_SANDBOX_MODE)``."""
        source = "saved sandbox settings" if self.floor_source == "sandbox_settings" else "SKILL_SANDBOX_MODE"
        if self.reason == "requested":
            return f"{self.mode} (asked by the run; floor {self.floor} from {source})"
        if self.reason == "raised_to_floor":
            return f"{self.mode} (the run asked for {self.requested}; floor from {source})"
        return f"{self.mode} (floor from {source})"


class SkillError(BaseModel):
    """Why a skill call failed, with a message a user can act on."""

    kind: ErrorKind
    message: str


class SkillResult(BaseModel):
    """The outcome of one skill call, the same for every backend."""

    skill: str
    backend: str
    ok: bool
    output: dict[str, Any] | None = None
    stdout: str = ""
    stderr: str = ""
    exit_status: int | None = None
    duration_ms: float = 0.0
    error: SkillError | None = None


__all__ = ["EffectiveSandbox", "ErrorKind", "FloorSource", "Reason", "SandboxMode", "SkillError", "SkillResult"]
