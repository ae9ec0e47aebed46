"""API models of the human approvals of agent_service (:8000).

An *approval* is one order of one trading day that the run's approval policy
holds back for a human decision. The Gateway files it (``ApprovalCreate``),
an operator decides it (``ApprovalDecision``), agent_service expires it at its
timeout; every change is an ``ApprovalChange`` on the change stream and a
line of the run's audit log (``AuditEntry``). See docs/approvals.md.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, field_validator, model_validator

from backend.schema.bootstrap import TICKER_RE

ApprovalStatus = Literal["pending", "approved", "rejected", "expired"]
Outcome = Literal["approved", "rejected"]
# "refused": a re-filing for the same run, date and ticker with a different order (audited, not applied).
ChangeKind = Literal["filed", "decided", "expired", "refused"]
DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
# Bounds of a filed order. Far beyond any order a run can make, and small
# enough that quantity * price stays a finite float that JSON can carry.
MAX_QUANTITY = 1_000_000_000
MAX_PRICE = 10_000_000.0
MAX_CONTEXT_BYTES = 256 * 1024
MAX_REASONS, MAX_REASON_CHARS = 32, 1_000
# Header carrying an optional display name of the person deciding.
USER_HEADER = "X-EvoTraders-User"
USER_RE = re.compile(r"^[^\x00-\x1f\x7f]{1,64}$")


class ApprovalContext(BaseModel):
    """The facts behind the order, so the trader decides on what the agents saw."""

    model_config = ConfigDict(extra="allow")
    signals: list[dict[str, Any]] = Field(default_factory=list, max_length=64,
                                          description="analyst signals for the ticker")
    risk_warnings: list[str] = Field(default_factory=list, max_length=64)
    conference_summary: str = Field("", max_length=50_000)
    pm_reasoning: str = Field("", max_length=10_000)

    @model_validator(mode="after")
    def _bounded(self) -> "ApprovalContext":
        # extra keys are allowed (an agent may add facts), so bound the whole.
        size = len(self.model_dump_json())
        if size > MAX_CONTEXT_BYTES:
            raise ValueError(f"context is {size} bytes of JSON; at most {MAX_CONTEXT_BYTES} are accepted")
        return self


class ApprovalCreate(BaseModel):
    """``POST /approvals``: one order held for a decision (filed by the Gateway).

    Filing is idempotent per ``(run_id, date, ticker)``: filing the same
    order again returns the existing approval (200) instead of a new one
    (201), which is how a restarted Gateway re-attaches to the approvals of
    the day it re-runs; a different order for the same key is refused (409).
    Only the run's own Gateway may file (its run credential). Numbers are
    strict (``"5"`` is not a quantity) and bounded.
    """

    model_config = ConfigDict(extra="forbid")
    run_id: str = Field(min_length=1, max_length=80)
    date: str = Field(max_length=10, description="trading date YYYY-MM-DD")
    ticker: str = Field(max_length=10)
    action: Literal["long", "short"]
    quantity: StrictInt = Field(ge=1, le=MAX_QUANTITY)
    price: float = Field(gt=0, le=MAX_PRICE, strict=True, allow_inf_nan=False,
                         description="estimated execution price (last close)")
    confidence: float = Field(0.0, ge=0, le=100, strict=True, allow_inf_nan=False)
    reasoning: str = Field("", max_length=10_000)
    reasons: list[Annotated[str, Field(max_length=MAX_REASON_CHARS)]] = Field(
        default_factory=list, max_length=MAX_REASONS, description="why the policy holds this order back")
    context: ApprovalContext = Field(default_factory=ApprovalContext)

    @field_validator("date")
    @classmethod
    def _check_date(cls, value: str) -> str:
        if not DATE_RE.match(value):
            raise ValueError("date must look like 2025-01-31")
        try:
            dt.date.fromisoformat(value)
        except ValueError:
            raise ValueError(f"{value} is not a calendar date") from None
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
    quantity: StrictInt | None = Field(None, ge=1, le=MAX_QUANTITY)


class ApprovalChange(BaseModel):
    """One entry of the change stream (``GET /approvals/events``, SSE ``data``)."""

    seq: int
    ts: str
    kind: ChangeKind
    approval: Approval
    attempted: "OrderSnapshot | None" = Field(None, description="refused: the order the re-filing asked for")
    actor: str | None = Field(None, description="refused: who re-filed")


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
    event: Literal["filed", "approved", "rejected", "expired", "refused"]
    actor: str
    role: str | None = None
    reason: str = ""
    before: OrderSnapshot | None = None
    after: OrderSnapshot | None = Field(None, description="what executes; null when the order is dropped")
    attempted: OrderSnapshot | None = Field(None, description="refused: the different order a re-filing asked for")


class DecisionConflict(BaseModel):
    """The 409 answer to a decision on an approval that is no longer pending,
    or to a re-filing whose order differs from the one filed (``approval`` is the filed one)."""

    error: Literal["conflict"] = "conflict"
    detail: str
    approval: Approval


ApprovalChange.model_rebuild()
