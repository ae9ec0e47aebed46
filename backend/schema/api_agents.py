"""API models of agent_service (:8000): workspaces, BOOTSTRAP validation, agents and skills.

The desktop app imports these to parse the service's answers. Approval
models live in :mod:`backend.schema.api_approvals`.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

MAX_FILE_CHARS = 1_000_000


class WorkspaceSummary(BaseModel):
    """One row of ``GET /workspaces``; ``error`` is set (and the rest empty) if its BOOTSTRAP.md is invalid."""

    name: str
    mode: str | None = None
    tickers: list[str] = Field(default_factory=list)
    start_date: str | None = None
    end_date: str | None = None
    agents: list[str] = Field(default_factory=list, description="agent ids of the roster")
    error: str | None = None


class WorkspaceCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    source: str = Field("default", description="workspace to copy (default: the shipped template)")


class WorkspaceNewName(BaseModel):
    """Body of rename (``PATCH``) and duplicate."""

    model_config = ConfigDict(extra="forbid")
    new_name: str


class RosterEntry(BaseModel):
    """An agent as the workspace's roster names it."""

    id: str
    role: str
    policy: str
    model: str | None = None
    provider: str | None = None


class AgentSummary(RosterEntry):
    """A roster entry with the skills its folder provides."""

    skills: list[str] = Field(default_factory=list)


class WorkspaceDetail(BaseModel):
    name: str
    bootstrap: str = Field(description="the BOOTSTRAP.md text")
    config: dict[str, Any] | None = Field(None, description="validated front matter; null if invalid")
    error: str | None = None
    agents: list[AgentSummary] = Field(default_factory=list)
    files: list[str] = Field(default_factory=list, description="relative paths of the workspace's files")


class FileContent(BaseModel):
    path: str
    text: str


class FileWrite(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str = Field(max_length=MAX_FILE_CHARS)


class BootstrapText(BaseModel):
    """Body of ``POST /bootstrap/validate``."""

    model_config = ConfigDict(extra="forbid")
    text: str = Field(max_length=MAX_FILE_CHARS)


class BootstrapIssue(BaseModel):
    """Where BOOTSTRAP.md is wrong: the line (1-based, of the whole file), the field, and why."""

    line: int | None = None
    field: str | None = None
    message: str


class BootstrapValidation(BaseModel):
    ok: bool
    error: BootstrapIssue | None = None
    config: dict[str, Any] | None = None


class SkillInfo(BaseModel):
    """A skill as SKILL.md describes it."""

    name: str
    description: str
    version: str
    entry: str
    input_schema: dict[str, Any]
    output_schema: dict[str, Any]


class AgentProfileView(RosterEntry):
    """``GET .../agents/{agent_id}``: the roster entry, its persona and its skills in full."""

    persona: str = ""
    skills: list[SkillInfo] = Field(default_factory=list)
    memory: list[dict[str, Any]] | None = Field(None, description="latest reflections (runs only), newest last")
