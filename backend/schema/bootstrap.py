"""BOOTSTRAP.md front matter: the machine-readable config of a run or workspace."""

from __future__ import annotations

import datetime as dt
import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from backend.schema.sandbox import SandboxMode

ROLES = (
    "fundamentals_analyst", "technical_analyst", "sentiment_analyst",
    "valuation_analyst", "risk_manager", "portfolio_manager",
)
ANALYST_ROLES = ROLES[:4]
AGENT_ID_RE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
TICKER_RE = re.compile(r"^[A-Z][A-Z0-9.\-]{0,9}$")

Role = Literal[
    "fundamentals_analyst", "technical_analyst", "sentiment_analyst",
    "valuation_analyst", "risk_manager", "portfolio_manager",
]


class AgentSpec(BaseModel):
    """One member of the team roster."""

    model_config = ConfigDict(extra="forbid")
    id: str
    role: Role
    policy: Literal["rules", "llm"] = "rules"
    model: str | None = None
    provider: str | None = None

    @field_validator("id")
    @classmethod
    def _check_id(cls, value: str) -> str:
        if not AGENT_ID_RE.match(value):
            raise ValueError("agent id must be lowercase letters, digits and _ (e.g. technical_analyst)")
        return value


class ApprovalPolicy(BaseModel):
    """When orders need a human decision before execution."""

    model_config = ConfigDict(extra="forbid")
    mode: Literal["none", "all", "threshold"] = "none"
    notional_threshold: float = Field(25_000.0, ge=0)
    max_position_weight: float = Field(0.35, gt=0, le=1)
    approve_new_shorts: bool = True
    timeout_seconds: float = Field(300.0, gt=0, le=7 * 24 * 3600)
    on_timeout: Literal["reject", "approve"] = "reject"
    allow_quantity_change: bool = True


class MarketSource(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: Literal["synthetic", "csv", "live"] = "synthetic"
    seed: int = 7
    csv_dir: str | None = None
    # The synthetic market's price process: "default" (as it always was) or
    # "regimes" (which signals pay switches with a slow style regime:
    # backend/market/synthetic_regimes.py). Absent means "default".
    profile: Literal["default", "regimes"] | None = None


def default_roster() -> list[AgentSpec]:
    return [AgentSpec(id=role, role=role) for role in ROLES]  # type: ignore[arg-type]


class BootstrapConfig(BaseModel):
    """Validated front matter of ``BOOTSTRAP.md``."""

    model_config = ConfigDict(extra="forbid")
    run_id: str | None = None
    mode: Literal["backtest", "mock", "live"] = "backtest"
    tickers: list[str] = Field(default_factory=lambda: ["AAPL", "MSFT", "GOOGL", "NVDA", "TSLA", "META"])
    start_date: dt.date = dt.date(2025, 1, 2)
    end_date: dt.date = dt.date(2025, 6, 30)
    initial_cash: float = Field(100_000.0, gt=0)
    margin_requirement: float = Field(0.0, ge=0, le=1)
    max_comm_cycles: int = Field(2, ge=0, le=10)
    market: MarketSource = Field(default_factory=MarketSource)
    agents: list[AgentSpec] = Field(default_factory=default_roster)
    approval: ApprovalPolicy = Field(default_factory=ApprovalPolicy)
    # A request: absent means the operator's floor; a weaker one runs at the
    # floor (backend/sandbox/floor.py).
    sandbox_mode: SandboxMode | None = None
    pace_seconds: float = Field(0.0, ge=0, le=3600)
    # "frozen": reflection writes memory but never moves an analyst's feature
    # weights nor the PM's trust (the team stays as it was on day 0); absent
    # means evolving. Recorded in the run's BOOTSTRAP.md, so history can tell.
    evolution: Literal["evolving", "frozen"] | None = None

    @field_validator("tickers")
    @classmethod
    def _check_tickers(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("at least one ticker is required")
        bad = [t for t in value if not isinstance(t, str) or not TICKER_RE.match(t)]
        if bad:
            raise ValueError(f"invalid ticker symbol(s): {', '.join(map(str, bad))}")
        if len(set(value)) != len(value):
            raise ValueError("tickers must not repeat")
        return value

    @field_validator("end_date")
    @classmethod
    def _check_dates(cls, value: dt.date, info: ValidationInfo) -> dt.date:
        start = info.data.get("start_date")
        if start is not None and value < start:
            raise ValueError(f"end date {value} is before start date {start}")
        return value

    @model_validator(mode="after")
    def _check_consistency(self) -> "BootstrapConfig":
        ids = [a.id for a in self.agents]
        if len(set(ids)) != len(ids):
            raise ValueError("agent ids must be unique")
        roles = {a.role for a in self.agents}
        for needed in ("risk_manager", "portfolio_manager"):
            if needed not in roles:
                raise ValueError(f"the roster needs a {needed}")
        if not roles & set(ANALYST_ROLES):
            raise ValueError("the roster needs at least one analyst")
        return self

    def agent(self, agent_id: str) -> AgentSpec:
        for spec in self.agents:
            if spec.id == agent_id:
                return spec
        raise KeyError(agent_id)
