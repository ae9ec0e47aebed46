"""Views of one ``server_state.json`` as trading_service response models.

Each builder takes the run id, the parsed state (``{}`` before the run's
first snapshot) and its BOOTSTRAP config, and returns a model; a run that has
not started yet answers with its initial cash, no holdings and empty curves.
"""

from __future__ import annotations

from typing import Any, Callable

from pydantic import BaseModel

from backend.schema import api_trading as api
from backend.schema.bootstrap import BootstrapConfig
from backend.trading import metrics

CURVE_NAMES = ("equity", "baseline", "baseline_vw", "momentum",
               "equity_return", "baseline_return", "baseline_vw_return", "momentum_return")


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _initial_cash(state: dict[str, Any], config: BootstrapConfig) -> float:
    resumed = _dict(_dict(state.get("resume")).get("portfolio")).get("initial_cash")
    return float(resumed) if isinstance(resumed, (int, float)) and resumed > 0 else float(config.initial_cash)


def _stats(state: dict[str, Any], config: BootstrapConfig) -> dict[str, Any]:
    cash = _initial_cash(state, config)
    return {"totalAssetValue": cash, "totalReturn": 0.0, "cashPosition": cash,
            **_dict(state.get("stats"))}


def _curve_values(state: dict[str, Any], name: str) -> list[float]:
    return [p["v"] for p in _list(_dict(state.get("portfolio")).get(name))
            if isinstance(p, dict) and isinstance(p.get("v"), (int, float))]


def portfolio(run_id: str, state: dict[str, Any], config: BootstrapConfig) -> api.Portfolio:
    initial = _initial_cash(state, config)
    stats = _stats(state, config)
    port = _dict(state.get("portfolio"))
    total = float(port.get("total_value", stats["totalAssetValue"]))
    summary = _dict(_dict(state.get("dashboard")).get("summary"))
    return api.Portfolio(
        run_id=run_id, status=state.get("status") or "created", current_date=state.get("current_date"),
        initial_cash=initial, total_value=total, cash=float(summary.get("cash", stats["cashPosition"])),
        pnl=round(total - initial, 2), pnl_percent=float(port.get("pnl_percent", (total / initial - 1) * 100)),
        margin_used=float(stats.get("marginUsed", 0.0)),
        trading_days_completed=int(state.get("trading_days_completed") or 0),
        trading_days_total=int(state.get("trading_days_total") or 0),
    )


def holdings(run_id: str, state: dict[str, Any], config: BootstrapConfig) -> api.Holdings:
    return api.Holdings(run_id=run_id, items=_list(state.get("holdings")))


def prices(run_id: str, state: dict[str, Any], config: BootstrapConfig) -> api.Prices:
    quotes = {t: q for t, q in _dict(state.get("realtime_prices")).items() if isinstance(q, dict) and "price" in q}
    return api.Prices(run_id=run_id, current_date=state.get("current_date"), prices=quotes)


def curves(run_id: str, state: dict[str, Any], config: BootstrapConfig) -> api.Curves:
    port = _dict(state.get("portfolio"))
    return api.Curves(run_id=run_id, **{name: _list(port.get(name)) for name in CURVE_NAMES})


def stats(run_id: str, state: dict[str, Any], config: BootstrapConfig) -> api.Stats:
    return api.Stats(run_id=run_id, **_stats(state, config))


def run_metrics(run_id: str, state: dict[str, Any], config: BootstrapConfig) -> api.Metrics:
    """The same figures the engine computes at the end of each day, from the saved curves."""
    equity = _curve_values(state, "equity")
    baselines = {name: _curve_values(state, name) for name in metrics.BASELINE_NAMES}
    stats_ = _stats(state, config)
    figures = metrics.summary(equity or [_initial_cash(state, config)], baselines,
                              int(stats_.get("totalTrades") or 0), stats_.get("winRate"))
    return api.Metrics(run_id=run_id, days=len(equity), **figures)


def leaderboard(run_id: str, state: dict[str, Any], config: BootstrapConfig) -> api.Leaderboard:
    return api.Leaderboard(run_id=run_id, items=_list(state.get("leaderboard")))


VIEWS: dict[str, Callable[[str, dict[str, Any], BootstrapConfig], BaseModel]] = {
    "portfolio": portfolio, "holdings": holdings, "prices": prices, "curves": curves,
    "stats": stats, "metrics": run_metrics, "leaderboard": leaderboard,
}
