"""Trading accounting: the team's portfolio, the benchmark portfolios and performance metrics."""

from backend.trading.baselines import (
    Baselines,
    EqualWeightBuyHold,
    MonthlyMomentum,
    ValueWeightBuyHold,
)
from backend.trading.metrics import (
    daily_returns,
    excess_return_pct,
    max_drawdown_pct,
    sharpe_ratio,
    summary,
    total_return_pct,
)
from backend.trading.portfolio import ExecutionResult, Portfolio, Position

__all__ = [
    "Baselines",
    "EqualWeightBuyHold",
    "ExecutionResult",
    "MonthlyMomentum",
    "Portfolio",
    "Position",
    "ValueWeightBuyHold",
    "daily_returns",
    "excess_return_pct",
    "max_drawdown_pct",
    "sharpe_ratio",
    "summary",
    "total_return_pct",
]
