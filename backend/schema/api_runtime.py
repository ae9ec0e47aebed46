"""runtime_service request and response models (shared with the desktop app)."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from backend.schema.bootstrap import ApprovalPolicy
from backend.schema.process import ProcessExit
from backend.schema.sandbox import SandboxMode


class CreateRunRequest(BaseModel):
    """Create ``runs/<run_id>/`` from a workspace, with optional overrides."""

    model_config = ConfigDict(extra="forbid")
    workspace: str = "default"
    run_id: str | None = None
    mode: Literal["backtest", "mock", "live"] | None = None
    tickers: list[str] | None = None
    start_date: dt.date | None = None
    end_date: dt.date | None = None
    seed: int | None = None
    initial_cash: float | None = Field(None, gt=0)
    pace_seconds: float | None = Field(None, ge=0, le=3600)
    approval: ApprovalPolicy | None = None
    sandbox_mode: SandboxMode | None = None
    evolution: Literal["evolving", "frozen"] | None = None  # "frozen": the team keeps its day-0 weights and trust


class CreateRunResponse(BaseModel):
    run_id: str


class StartRunRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    paused: bool = False
    pace: float | None = Field(None, ge=0, le=3600)


class PaceRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    seconds: float = Field(ge=0, le=3600)


class GatewayInfo(BaseModel):
    """The Gateway process of one run.

    ``gave_up``: it crashed ``max_restarts`` times in a row without its run's
    checkpoint advancing, so it is not restarted again (``message`` says why).
    """

    status: str
    pid: int | None = None
    port: int | None = None
    url: str | None = None
    restarts: int = 0
    gave_up: bool = False
    message: str = ""
    last_exit: ProcessExit | None = None
    uptime_s: float | None = None
    health: dict[str, Any] | None = None


class RunSummary(BaseModel):
    """One row of run history."""

    model_config = ConfigDict(extra="allow")
    run_id: str
    mode: str
    tickers: list[str]
    start_date: str
    end_date: str
    status: str  # "crashed" when its Gateway was given up on (status_detail says why)
    status_detail: str | None = None
    progress: float = 0.0
    current_date: str | None = None
    updated_at: str | None = None
    metrics: dict[str, Any] | None = None
    gateway: GatewayInfo | None = None
    # From BOOTSTRAP.md's ``evolution``: "frozen" runs never adapt their team.
    evolution: Literal["evolving", "frozen"] = "evolving"


class RunStateResponse(BaseModel):
    runtime_state: dict[str, Any] | None
    server_state: dict[str, Any] | None


class CommandReply(BaseModel):
    model_config = ConfigDict(extra="allow")
    type: str
    content: str | None = None


class BootstrapText(BaseModel):
    run_id: str
    text: str


class LogLines(BaseModel):
    run_id: str
    lines: list[str]


class SandboxSettings(BaseModel):
    """The skill sandbox settings new runs use (``SKILL_SANDBOX_*``)."""

    model_config = ConfigDict(extra="forbid")
    mode: SandboxMode = "none"
    image: str = Field("python:3.11-slim", min_length=1, max_length=200)
    memory_limit: str = Field("512m", pattern=r"^\d+(\.\d+)?[kmgKMG]?$")
    cpu_limit: float = Field(1.0, gt=0, le=64)
    network: str = Field("none", pattern=r"^[A-Za-z0-9_.\-]{1,64}$")
    timeout: float = Field(60.0, gt=0, le=3600)
    pull_policy: Literal["missing", "never"] = "never"
    namespace: str = Field("evotraders", pattern=r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
    kube_context: str | None = Field(None, max_length=200)
    service_account: str | None = Field(None, max_length=200)


class ProbeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    mode: SandboxMode | None = None


class ProbeResponse(BaseModel):
    model_config = ConfigDict(extra="allow")
    mode: str
    ok: bool
    duration_ms: float
    result: dict[str, Any]
    note: str = ""
