"""Decision and trade models shared by agents, pipeline, services and app."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

SignalValue = Literal["bull", "bear", "neutral"]
Direction = Literal["up", "down", "neutral"]
Action = Literal["long", "short", "hold"]


class TickerSignal(BaseModel):
    """An analyst's view of one ticker on one day."""

    ticker: str
    signal: SignalValue
    confidence: float = Field(ge=0, le=100)
    reasoning: str
    score: float = 0.0  # signed strength in [-1, 1] behind the label


class AnalystReport(BaseModel):
    agent_id: str
    role: str
    date: str
    signals: list[TickerSignal]


class Prediction(BaseModel):
    """A final per-ticker direction call, scored after settlement for the leaderboard."""

    agent_id: str
    ticker: str
    date: str
    direction: Direction
    confidence: float = Field(ge=0, le=100)


class RiskLimits(BaseModel):
    """Per-ticker limits the risk manager hands the portfolio manager."""

    ticker: str
    max_position_value: float = Field(ge=0)
    volatility: float = Field(ge=0)  # annualised
    warnings: list[str] = Field(default_factory=list)


class RiskReport(BaseModel):
    date: str
    limits: list[RiskLimits]
    gross_exposure: float
    warnings: list[str] = Field(default_factory=list)

    def for_ticker(self, ticker: str) -> RiskLimits | None:
        return next((lim for lim in self.limits if lim.ticker == ticker), None)

    def limits_by_ticker(self) -> dict[str, RiskLimits]:
        """ticker -> :meth:`for_ticker` (the first limits of each ticker), to look many up in one pass."""
        out: dict[str, RiskLimits] = {}
        for lim in self.limits:
            out.setdefault(lim.ticker, lim)
        return out


class OrderDecision(BaseModel):
    """The portfolio manager's decision for one ticker."""

    model_config = ConfigDict(extra="forbid")
    ticker: str
    action: Action
    quantity: int = Field(ge=0)
    confidence: float = Field(ge=0, le=100)
    reasoning: str


class Trade(BaseModel):
    """One executed trade; ``side`` is LONG for buys and SHORT for sells (dashboard)."""

    id: str
    ticker: str
    action: Literal["long", "short"]
    side: Literal["LONG", "SHORT"]
    quantity: int
    qty: int
    price: float
    timestamp: int  # epoch ms of the simulated execution time
    trading_date: str
    notional: float
    approval_id: str | None = None
