"""What a run writes under ``state/`` and ``team_dashboard/``.

``server_state.json`` carries the same field names as the ``initial_state``
event of the protocol, plus ``run_id``, ``metrics`` and ``resume`` (the
checkpoint taken at the end of the last completed day, from which an
interrupted run continues). Every write is atomic.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from backend.storage.atomic import atomic_write_json
from backend.trading import metrics

if TYPE_CHECKING:
    from backend.pipeline.engine import RunEngine


def run_metrics(engine: "RunEngine") -> dict[str, Any]:
    state = engine.state
    baselines = {name: state.curve_values(name) for name in ("baseline", "baseline_vw", "momentum")}
    return metrics.summary(state.curve_values("equity") or [state.initial_cash], baselines,
                           state.trade_count, state.portfolio.win_rate)


def server_state(engine: "RunEngine", feed_history: list[dict[str, Any]]) -> dict[str, Any]:
    state = engine.state
    prices = state.last_prices()
    equity = state.equity()
    holdings = state.portfolio.holdings_rows(prices)
    stats = state.portfolio.stats(prices, state.trade_count)
    leaderboard = state.leaderboard.rows()
    # Copies of the containers the run keeps growing in place (curves, trades,
    # day history), so a snapshot stays the state of its moment; their items
    # are never changed once added, so a shallow copy is enough.
    trades = list(state.recent_trades)
    portfolio = {
        "total_value": round(equity, 2),
        "pnl_percent": round((equity / state.initial_cash - 1.0) * 100.0, 4),
        **{name: list(state.curves[name]) for name in ("equity", "baseline", "baseline_vw", "momentum")},
        **{f"{name}_return": list(state.return_curve(name))
           for name in ("equity", "baseline", "baseline_vw", "momentum")},
    }
    summary = {"totalAssetValue": round(equity, 2), "pnlPct": portfolio["pnl_percent"],
               "balance": round(equity, 2), "cash": round(state.portfolio.cash, 2)}
    return {
        "run_id": engine.run_id,
        "server_mode": engine.mode,
        "is_mock_mode": engine.mode == "mock",
        "is_backtest": engine.mode == "backtest",
        "status": engine.status,
        "current_date": engine.current_date,
        "trading_days_total": engine.days_total,
        "trading_days_completed": state.days_completed,
        "holdings": holdings,
        "trades": trades,
        "stats": stats,
        "leaderboard": leaderboard,
        "portfolio": portfolio,
        "realtime_prices": dict(state.prices),
        "dashboard": {"summary": summary, "holdings": holdings, "stats": stats,
                      "trades": trades, "leaderboard": leaderboard},
        "market_status": engine.market_status(),
        "sandbox": sandbox_state(engine),
        "last_day_history": list(state.day_history),
        "feed_history": feed_history,
        "metrics": run_metrics(engine),
    }


def runtime_state(engine: "RunEngine", updated_at: str) -> dict[str, Any]:
    return {
        "run_id": engine.run_id,
        "mode": engine.mode,
        "status": engine.status,
        "current_date": engine.current_date,
        "last_completed_date": engine.state.last_completed_date,
        "days_completed": engine.state.days_completed,
        "days_total": engine.days_total,
        "progress": engine.progress,
        "stage": engine.stage,
        "gateway_pid": engine.gateway_pid,
        "sandbox": sandbox_state(engine),
        "updated_at": updated_at,
    }


def sandbox_state(engine: "RunEngine") -> dict[str, Any]:
    """Where this run's skills run and why (``EffectiveSandbox``), plus the calls by backend so far."""
    executor = engine.executor
    chosen = executor.sandbox.model_dump() if executor.sandbox is not None else {"mode": executor.mode}
    return {**chosen, "calls": dict(executor.calls)}


def write_all(engine: "RunEngine", server: dict[str, Any], runtime: dict[str, Any],
              resume: dict[str, Any] | None, exports: bool, fsync: bool = True) -> None:
    """Write the state files (and the dashboard exports when enabled), each atomically.

    Every write is a rename of a complete temporary file, so a killed process
    never leaves a torn file whatever ``fsync`` says; ``fsync`` adds
    durability against power loss.
    """
    paths = engine.paths
    atomic_write_json(paths.server_state, {**server, "resume": resume}, indent=None, fsync=fsync)
    # runtime_state is a status report rebuilt at every snapshot; the resume
    # checkpoint that must survive power loss is in server_state.
    atomic_write_json(paths.runtime_state, runtime, fsync=False)
    if exports:
        # A compatibility layer, rebuilt from server_state at every snapshot:
        # atomic, but not worth an fsync each.
        dash = server["dashboard"]
        for name in ("summary", "holdings", "stats", "trades", "leaderboard"):
            atomic_write_json(paths.dashboard_dir / f"{name}.json", dash[name], indent=None, fsync=False)
