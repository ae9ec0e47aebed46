"""What a run writes under ``state/`` and ``team_dashboard/``.

``server_state.json`` is a :class:`backend.schema.state.ServerStateFile`: the
``initial_state`` of the protocol (:class:`ServerState`) plus ``resume`` (the
checkpoint taken at the end of the last completed day, from which an
interrupted run continues). Every write is atomic.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from backend.schema.state import CURVE_NAMES, Checkpoint, ServerState, ServerStateFile
from backend.storage.atomic import atomic_write_bytes, atomic_write_json
from backend.trading import metrics

if TYPE_CHECKING:
    from backend.pipeline.engine import RunEngine


def run_metrics(engine: "RunEngine") -> dict[str, Any]:
    state = engine.state
    baselines = {name: state.curve_values(name) for name in ("baseline", "baseline_vw", "momentum")}
    return metrics.summary(state.curve_values("equity") or [state.initial_cash], baselines,
                           state.trade_count, state.portfolio.win_rate)


def server_state(engine: "RunEngine", feed_history: list[dict[str, Any]]) -> ServerState:
    """The state of the run at this moment: every part validated into the schema's model.

    Validation copies every container the run keeps growing in place
    (curves, trades, day history), so the snapshot stays the state of its
    moment. Holdings, stats, trades and leaderboard are given once: the
    dashboard block mirrors them (see :class:`ServerState`).
    """
    state = engine.state
    prices = state.last_prices()
    raw_equity = state.equity()
    equity = round(raw_equity, 2)
    pnl_percent = round((raw_equity / state.initial_cash - 1.0) * 100.0, 4)
    curves = {name: state.curves[name] for name in CURVE_NAMES}
    returns = {f"{name}_return": state.return_curve(name) for name in CURVE_NAMES}
    summary = {"totalAssetValue": equity, "pnlPct": pnl_percent, "balance": equity,
               "cash": round(state.portfolio.cash, 2)}
    return ServerState.model_validate({
        "run_id": engine.run_id,
        "server_mode": engine.mode,
        "is_mock_mode": engine.mode == "mock",
        "is_backtest": engine.mode == "backtest",
        "status": engine.status,
        "current_date": engine.current_date,
        "trading_days_total": engine.days_total,
        "trading_days_completed": state.days_completed,
        "holdings": state.portfolio.holdings_rows(prices),
        "trades": state.recent_trades,
        "stats": state.portfolio.stats(prices, state.trade_count),
        "leaderboard": state.leaderboard.rows(),
        "portfolio": {"total_value": equity, "pnl_percent": pnl_percent, **curves, **returns},
        "realtime_prices": state.prices,
        "dashboard": {"summary": summary},
        "market_status": engine.market_status(),
        "sandbox": sandbox_state(engine),
        "last_day_history": state.day_history,
        "feed_history": feed_history,
        "metrics": run_metrics(engine),
    })


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


def write_all(engine: "RunEngine", server: ServerState, runtime: dict[str, Any],
              resume: dict[str, Any] | None, exports: bool, fsync: bool = True) -> None:
    """Write the state files (and the dashboard exports when enabled), each atomically.

    ``server_state.json`` is ``server`` plus the ``resume`` checkpoint, as a
    :class:`ServerStateFile`. Every write is a rename of a complete temporary
    file, so a killed process never leaves a torn file whatever ``fsync``
    says; ``fsync`` adds durability against power loss.
    """
    paths = engine.paths
    given = server.model_fields_set
    checkpoint = None if resume is None else Checkpoint.model_validate(resume)
    stored = ServerStateFile.model_construct(_fields_set=given | {"resume"}, resume=checkpoint,
                                             **{name: getattr(server, name) for name in given})
    # Encoded straight from the model, the keys it was given (see backend.schema.state).
    atomic_write_bytes(paths.server_state, stored.model_dump_json(exclude_unset=True).encode() + b"\n", fsync=fsync)
    # runtime_state is a status report rebuilt at every snapshot; the resume
    # checkpoint that must survive power loss is in server_state.
    atomic_write_json(paths.runtime_state, runtime, fsync=False)
    if exports and server.dashboard is not None:
        # A compatibility layer, rebuilt from server_state at every snapshot:
        # atomic, but not worth an fsync each.
        dash = server.dashboard.to_wire()
        for name in ("summary", "holdings", "stats", "trades", "leaderboard"):
            atomic_write_json(paths.dashboard_dir / f"{name}.json", dash[name], indent=None, fsync=False)
