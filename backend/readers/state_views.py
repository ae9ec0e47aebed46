"""Views of one ``server_state.json`` as trading_service response models.

Each builder takes the run id, the state (:class:`ServerStateFile`; an empty
one before the run's first snapshot) and its BOOTSTRAP config, and returns a
model; a run that has not started yet answers with its initial cash, no
holdings and empty curves.
"""

from __future__ import annotations

from typing import Callable

from pydantic import BaseModel

from backend.schema import api_trading as api
from backend.schema.bootstrap import BootstrapConfig
from backend.schema.state import CURVE_NAMES, RETURN_CURVE_NAMES, ServerStateFile, TeamStats
from backend.trading import metrics

ALL_CURVES = CURVE_NAMES + RETURN_CURVE_NAMES


def _initial_cash(state: ServerStateFile, config: BootstrapConfig) -> float:
    resumed = state.resume.portfolio.get("initial_cash") if state.resume is not None else None
    ok = isinstance(resumed, (int, float)) and not isinstance(resumed, bool) and resumed > 0
    return float(resumed) if ok else float(config.initial_cash)  # type: ignore[arg-type]


def _stats(state: ServerStateFile, config: BootstrapConfig) -> TeamStats:
    if state.stats is not None:
        return state.stats
    cash = _initial_cash(state, config)
    return TeamStats(totalAssetValue=cash, totalReturn=0.0, cashPosition=cash)


def _curve_values(state: ServerStateFile, name: str) -> list[float]:
    return [p["v"] for p in state.portfolio.curve(name)] if state.portfolio is not None else []


def portfolio(run_id: str, state: ServerStateFile, config: BootstrapConfig) -> api.Portfolio:
    initial = _initial_cash(state, config)
    stats = _stats(state, config)
    port = state.portfolio
    total = port.total_value if port is not None else stats.totalAssetValue
    cash = state.dashboard.summary.cash if state.dashboard is not None else stats.cashPosition
    return api.Portfolio(
        run_id=run_id, status=state.status or "created", current_date=state.current_date,
        initial_cash=initial, total_value=total, cash=cash, pnl=round(total - initial, 2),
        pnl_percent=port.pnl_percent if port is not None else (total / initial - 1) * 100,
        margin_used=stats.marginUsed,
        trading_days_completed=state.trading_days_completed, trading_days_total=state.trading_days_total,
    )


def holdings(run_id: str, state: ServerStateFile, config: BootstrapConfig) -> api.Holdings:
    return api.Holdings(run_id=run_id, items=state.holdings)


def prices(run_id: str, state: ServerStateFile, config: BootstrapConfig) -> api.Prices:
    return api.Prices(run_id=run_id, current_date=state.current_date, prices=state.realtime_prices)


def curves(run_id: str, state: ServerStateFile, config: BootstrapConfig) -> api.Curves:
    port = state.portfolio
    return api.Curves(run_id=run_id, **{name: port.curve(name) if port is not None else [] for name in ALL_CURVES})


def stats(run_id: str, state: ServerStateFile, config: BootstrapConfig) -> api.Stats:
    return api.Stats(run_id=run_id, **_stats(state, config).model_dump())


def run_metrics(run_id: str, state: ServerStateFile, config: BootstrapConfig) -> api.Metrics:
    """The same figures the engine computes at the end of each day, from the saved curves."""
    equity = _curve_values(state, "equity")
    baselines = {name: _curve_values(state, name) for name in metrics.BASELINE_NAMES}
    stats_ = _stats(state, config)
    figures = metrics.summary(equity or [_initial_cash(state, config)], baselines, stats_.totalTrades, stats_.winRate)
    return api.Metrics(run_id=run_id, days=len(equity), **figures)


def leaderboard(run_id: str, state: ServerStateFile, config: BootstrapConfig) -> api.Leaderboard:
    return api.Leaderboard(run_id=run_id, items=state.leaderboard)


VIEWS: dict[str, Callable[[str, ServerStateFile, BootstrapConfig], BaseModel]] = {
    "portfolio": portfolio, "holdings": holdings, "prices": prices, "curves": curves,
    "stats": stats, "metrics": run_metrics, "leaderboard": leaderboard,
}
