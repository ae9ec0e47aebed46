"""Response models of trading_service (:8001): read-only trading data of a run.

Dashboard rows keep the EvoTraders field names (camelCase where the
dashboard uses it); units follow docs/protocol.md: ``*_pct`` and
``totalReturn``/``pnl_percent`` are percent, weights and win rates are
fractions, curve points are ``{t: epoch ms, v}``. The desktop app imports
these models to parse the service's answers.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

# The rows are the state's (backend.schema.state), served as they are stored.
from backend.schema.state import (CurvePoint, CurveSet, HoldingRow, LeaderboardRow, LeaderboardSignal, PriceQuote,
                                  SideTally)
from backend.schema.trading import Trade

MAX_PAGE = 1000


class Page(BaseModel):
    """Paging fields shared by every paged answer."""

    run_id: str
    total: int = Field(ge=0, description="matching items before paging")
    offset: int = Field(ge=0)
    limit: int = Field(ge=1, le=MAX_PAGE)


class Portfolio(BaseModel):
    """Where the run's money stands now."""

    run_id: str
    status: str = Field(description="run status (created before the first state is written)")
    current_date: str | None = None
    initial_cash: float
    total_value: float
    cash: float
    pnl: float = Field(description="total_value - initial_cash, USD")
    pnl_percent: float = Field(description="percent of initial cash")
    margin_used: float
    trading_days_completed: int = 0
    trading_days_total: int = 0


class Holdings(BaseModel):
    run_id: str
    items: list[HoldingRow]


class TradesPage(Page):
    """Executed trades, oldest first, after the ticker/date filters."""

    items: list[Trade]


class Prices(BaseModel):
    run_id: str
    current_date: str | None = None
    prices: dict[str, PriceQuote]


class Curves(CurveSet):
    """A run's equity and benchmark curves, aligned by index; ``*_return`` curves are percent."""

    run_id: str


class Stats(BaseModel):
    """The dashboard's ``team_stats`` data."""

    run_id: str
    totalAssetValue: float
    totalReturn: float = Field(description="percent")
    cashPosition: float
    tickerWeights: dict[str, float] = Field(default_factory=dict)
    marginUsed: float = 0.0
    totalTrades: int = 0
    winRate: float = Field(0.0, description="fraction of closing fills that made money")


class Metrics(BaseModel):
    """Closing figures computed from the equity and benchmark curves
    (``backend.trading.metrics.summary``)."""

    run_id: str
    days: int = Field(description="points on the equity curve")
    final_equity: float
    total_return_pct: float
    excess_return_pct: dict[str, float | None] = Field(
        description="team minus benchmark, percentage points; null when the benchmark has no curve")
    max_drawdown_pct: float
    sharpe: float
    trades: int
    win_rate: float


class Leaderboard(BaseModel):
    run_id: str
    items: list[LeaderboardRow]


class AnalystSignal(BaseModel):
    """An analyst's morning view of a ticker."""

    agent_id: str
    signal: str
    confidence: float
    reasoning: str = ""
    score: float | None = None


class SignalRecord(AnalystSignal):
    """One analyst's signal for one ticker on one trading day (before the conference)."""

    date: str
    ticker: str


class SignalsPage(Page):
    """Analysts' signals, by date then analyst order, after the filters."""

    items: list[SignalRecord]


__all__ = [
    "AnalystSignal", "CurvePoint", "Curves", "HoldingRow", "Holdings", "Leaderboard", "LeaderboardRow", "LeaderboardSignal",
    "MAX_PAGE", "Metrics", "Page", "Portfolio", "PriceQuote", "Prices", "SideTally", "SignalRecord",
    "SignalsPage", "Stats", "TradesPage",
]
