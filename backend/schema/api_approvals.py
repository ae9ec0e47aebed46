"""API models of the human approvals of agent_service (:8000).

An *approval* is one order of one trading day that the run's approval policy
holds back for a human decision. The Gateway files it (``ApprovalCreate``),
an operator decides it (``ApprovalDecision``), agent_service expires it at its
timeout; every change is an ``ApprovalChange`` on the change stream and a
line of the run's audit log (``AuditEntry``). See docs/approvals.md.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from backend.schema.bootstrap import TICKER_RE

ApprovalStatus = Literal["pending", "approved", "rejected", "expired"]
Outcome = Literal["approved", "rejected"]
ChangeKind = Literal["filed", "decided", "expired"]
DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
# Header carrying an optional display name of the person deciding.
USER_HEADER = "X-EvoTraders-User"
USER_RE = re.compile(r"^[^\x00-\x1f\x7f]{1,64}$")


class ApprovalContext(BaseModel):
    """The facts behind the order, so the trader decides on what the agents saw."""

    model_config = ConfigDict(extra="allow")
    signals: list[dict[str, Any]] = Field(default_factory=list, description="analyst signals for the ticker")
    risk_warnings: list[str] = Field(default_factory=list)
    conference_summary: str = ""
    pm_reasoning: str = ""


class ApprovalCreate(BaseModel):
    """``POST /approvals``: one order held for a decision (filed by the Gateway).

    Filing is idempotent per ``(run_id, date, ticker)``: filing again returns
    the existing approval (200) instead of a new one (201), which is how a
    restarted Gateway re-attaches to the approvals of the day it re-runs.
    """

    model_config = ConfigDict(extra="forbid")
    run_id: str = Field(min_length=1, max_length=80)
    date: str = Field(description="trading date YYYY-MM-DD")
    ticker: str
    action: Literal["long", "short"]
    quantity: int = Field(ge=1)
    price: float = Field(gt=0, description="estimated execution price (last close)")
    confidence: float = Field(0.0, ge=0, le=100)
    reasoning: str = Field("", max_length=10_000)
    reasons: list[str] = Field(default_factory=list, description="why the policy holds this order back")
    context: ApprovalContext = Field(default_factory=ApprovalContext)

    @field_validator("date")
    @classmethod
    def _check_date(cls, value: str) -> str:
        if not DATE_RE.match(value):
            raise ValueError("date must look like 2025-01-31")
        return value

    @field_validator("ticker")
    @classmethod
    def _check_ticker(cls, value: str) -> str:
        if not TICKER_RE.match(value):
            raise ValueError(f"invalid ticker symbol {value!r}")
        return value


class Approval(BaseModel):
    """One approval and its current state.

    ``status`` is how it ended (``expired`` when nobody decided in time);
    ``outcome`` is what happens to the order: ``approved`` (execute
    ``decided_quantity`` shares) or ``rejected`` (drop it). An expired
    approval's outcome is the policy's ``on_timeout``.
    """

    id: str
    run_id: str
    date: str
    ticker: str
    action: Literal["long", "short"]
    quantity: int
    price: float
    notional: float
    confidence: float
    reasoning: str
    reasons: list[str]
    context: ApprovalContext
    status: ApprovalStatus = "pending"
    outcome: Outcome | None = None
    decided_quantity: int | None = None
    decided_by: str | None = Field(None, description="'policy' for expiry, else role or 'name (role)'")
    decider_role: str | None = None
    reason: str = ""
    filed_by: str = ""
    created_at: str
    expires_at: str
    decided_at: str | None = None
    timeout_seconds: float
    on_timeout: Literal["reject", "approve"]
    allow_quantity_change: bool
    seq: int = Field(0, description="sequence number of the last change")

    @property
    def pending(self) -> bool:
        return self.status == "pending"


class ApprovalDecision(BaseModel):
    """``POST /approvals/{id}/decision``: an operator's decision.

    ``quantity`` (approve only) executes fewer shares than asked, when the
    run's policy allows quantity changes; it must be between 1 and the
    requested quantity.
    """

    model_config = ConfigDict(extra="forbid")
    decision: Literal["approve", "reject"]
    reason: str = Field("", max_length=2000)
    quantity: int | None = Field(None, ge=1)


class ApprovalChange(BaseModel):
    """One entry of the change stream (``GET /approvals/events``, SSE ``data``)."""

    seq: int
    ts: str
    kind: ChangeKind
    approval: Approval


class OrderSnapshot(BaseModel):
    """An order as the audit log shows it (before or after a decision)."""

    ticker: str
    action: Literal["long", "short"]
    quantity: int
    price: float
    notional: float


class AuditEntry(BaseModel):
    """One line of a run's approval audit log: who, when, what, why, before and after."""

    seq: int
    ts: str
    run_id: str
    date: str
    approval_id: str
    event: Literal["filed", "approved", "rejected", "expired"]
    actor: str
    role: str | None = None
    reason: str = ""
    before: OrderSnapshot | None = None
    after: OrderSnapshot | None = Field(None, description="what executes; null when the order is dropped")


class DecisionConflict(BaseModel):
    """The 409 answer to a decision on an approval that is no longer pending."""

    error: Literal["conflict"] = "conflict"
    detail: str
    approval: Approval
