"""Response models of news_service (:8002): headlines and decision explanations.

An explanation gathers, for one ticker on one trading day, what the run's
events log says led to the portfolio manager's decision: each analyst's
signal, the final calls after the conference, the risk manager's limit and
warnings, the conference's consensus, the decision and (when the trade
went through the approval gate) the approval.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from backend.schema.api_trading import MAX_PAGE, AnalystSignal
from backend.schema.trading import Trade


class NewsHeadline(BaseModel):
    """A dated headline; ``sentiment`` in [-1, 1]."""

    id: str = ""
    ticker: str
    date: str
    headline: str
    sentiment: float
    source: str = ""


class NewsPage(BaseModel):
    """Headlines dated in [start, end], oldest first, paged."""

    run_id: str
    tickers: list[str]
    start: str
    end: str
    total: int = Field(ge=0)
    offset: int = Field(ge=0)
    limit: int = Field(ge=1, le=MAX_PAGE)
    items: list[NewsHeadline]


class FinalCall(BaseModel):
    """An analyst's final direction after the conference (scored for the leaderboard)."""

    agent_id: str
    direction: str
    confidence: float


class RiskView(BaseModel):
    """The risk manager's limit for the ticker, and the day's portfolio-wide warnings."""

    max_position_value: float | None = None
    volatility: float | None = Field(None, description="annualised, fraction")
    warnings: list[str] = Field(default_factory=list)
    portfolio_warnings: list[str] = Field(default_factory=list)


class ConferenceRevision(BaseModel):
    """What one analyst said about the ticker in one conference cycle."""

    agent_id: str
    cycle: int
    text: str


class ConferenceView(BaseModel):
    """The conference: the whole summary, the ticker's consensus, revisions naming it."""

    summary: str
    ticker_view: str | None = Field(None, description="e.g. 'bear (-0.16)'")
    revisions: list[ConferenceRevision] = Field(default_factory=list)


class DecisionView(BaseModel):
    """The portfolio manager's decision for the ticker."""

    action: str
    quantity: int
    confidence: float
    reasoning: str


class ApprovalView(BaseModel):
    """The approval a trade went through: the request and how it was resolved."""

    approval_id: str
    status: str = Field(description="requested, approved, rejected, expired, or unknown when the events "
                                    "log has no record of it")
    requested_quantity: int | None = None
    notional: float | None = None
    reasoning: str | None = None
    decided_by: str | None = None
    reason: str | None = None
    quantity: int | None = Field(None, description="quantity set by the approver, if changed")


class AgentToolCall(BaseModel):
    """A tool an `llm` agent called on the way to the day's calls (from its transcripts.jsonl)."""

    agent_id: str
    stage: str
    tool: str
    arguments: dict[str, Any] = Field(default_factory=dict)
    ok: bool
    result: Any = Field(None, description="the part of the tool's answer about this ticker, or its error")


class Explanation(BaseModel):
    """Why the team did what it did with one ticker on one trading day."""

    run_id: str
    date: str
    ticker: str
    trade: Trade | None = None
    signals: list[AnalystSignal] = Field(default_factory=list)
    final_calls: list[FinalCall] = Field(default_factory=list)
    risk: RiskView | None = None
    conference: ConferenceView | None = None
    decision: DecisionView | None = None
    approval: ApprovalView | None = None
    tool_calls: list[AgentToolCall] = Field(default_factory=list)
    summary: str = Field(description="one paragraph a person can read")
