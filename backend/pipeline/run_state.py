"""Everything a run accumulates across days, and its resume checkpoint."""

from __future__ import annotations

import copy
from typing import Any

from backend.agents.evo_agent import EvoAgent
from backend.agents.leaderboard import Leaderboard
from backend.pipeline.curves import BoundedCurve
from backend.schema.events import BOUNDED_CURVE_POINTS
from backend.trading.baselines import Baselines
from backend.trading.portfolio import Portfolio

CURVES = ("equity", "baseline", "baseline_vw", "momentum")
RECENT_TRADES = 100
DAY_HISTORY = 30


class RunState:
    """Portfolio, baselines, leaderboard, curves and counters of one run.

    Args:
        initial_cash: starting cash of the team and of each baseline.
        margin_requirement: fraction of a short's notional reserved as margin.
        tickers: the run's universe.
        analysts: leaderboard entries ``{id, role, model, provider}``.
    """

    def __init__(self, initial_cash: float, margin_requirement: float, tickers: list[str],
                 analysts: list[dict[str, str]]) -> None:
        self.initial_cash = initial_cash
        self.tickers = tickers
        self.portfolio = Portfolio(cash=initial_cash, margin_requirement=margin_requirement)
        self.baselines = Baselines(initial_cash=initial_cash)
        self.leaderboard = Leaderboard(analysts)
        # Value curves and their cumulative-return twins (``<name>_return``), a
        # point per settled day; kept incrementally since they grow daily. A
        # point, once added, is never changed (checkpoints share them).
        self.curves: dict[str, list[dict[str, float]]] = {name: [] for name in CURVES}
        self.curves.update({f"{name}_return": [] for name in CURVES})
        self._values: dict[str, list[float]] = {name: [] for name in CURVES}
        self.bounded: dict[str, BoundedCurve] = {}
        self._bound_curves()
        self.recent_trades: list[dict[str, Any]] = []
        self.trade_count = 0
        self.days_completed = 0
        self.last_completed_date: str | None = None
        self.prices: dict[str, dict[str, float]] = {}
        self.day_history: list[dict[str, Any]] = []

    # -- derived views -------------------------------------------------------
    def last_prices(self) -> dict[str, float]:
        return {t: p["price"] for t, p in self.prices.items()}

    def equity(self) -> float:
        return self.portfolio.equity(self.last_prices()) if self.prices else self.portfolio.cash

    def curve_values(self, name: str) -> list[float]:
        """The values of a value curve (kept as points are added: do not change the list)."""
        return self._values[name]

    def return_curve(self, name: str) -> list[dict[str, float]]:
        return self.curves[f"{name}_return"]

    def add_curve_point(self, name: str, t_ms: int, value: float) -> None:
        point = {"t": t_ms, "v": round(value, 4)}
        ret = {"t": t_ms, "v": round((value / self.initial_cash - 1.0) * 100.0, 6)}
        self.curves[name].append(point)  # type: ignore[arg-type]
        self.curves[f"{name}_return"].append(ret)  # type: ignore[arg-type]
        self._values[name].append(point["v"])
        self.bounded[name].add(point)  # type: ignore[arg-type]
        self.bounded[f"{name}_return"].add(ret)  # type: ignore[arg-type]

    def _bound_curves(self) -> None:
        """(Re)build the bounded views and value lists from the whole curves (a restore)."""
        self.bounded = {name: BoundedCurve(BOUNDED_CURVE_POINTS) for name in self.curves}
        for name, points in self.curves.items():
            self.bounded[name].extend(points)  # type: ignore[arg-type]
        self._values = {name: [p["v"] for p in self.curves[name]] for name in CURVES}

    def add_trade(self, trade: dict[str, Any]) -> None:
        self.trade_count += 1
        self.recent_trades.insert(0, trade)
        del self.recent_trades[RECENT_TRADES:]

    # -- resume checkpoint (taken at the end of each completed day) ------------
    def checkpoint(self, team: list[EvoAgent], *, curve_lengths: bool = False) -> dict[str, Any]:
        """A deep snapshot of the state, sharing no container the run goes on changing.

        Every curve point, trade row, price and history row holds scalars
        only, so copying each of them is a deep copy; the parts' ``to_dict``
        and ``state_dict`` build fresh containers. (A JSON round trip would do
        the same at several times the cost, paid every day of a backtest.)

        ``curve_lengths``: the engine's own day-end checkpoint, taken every
        day and written only now and then, by a holder that never changes it
        (a snapshot validates it into a new model, a restore deep-copies it).
        Each curve is then its length instead of its points
        (:meth:`curves_upto` turns them back into points): the curves only
        grow by appending until the next restore, so the length at a day's
        end names exactly that day's curves, at O(1) instead of a copy of
        every point. And what is never changed once made is shared instead
        of copied (its lists and dicts still are): trade rows and history
        rows (each made once), the day's quotes (settlement makes new ones
        each day), the leaderboard's scored signals
        (:meth:`Leaderboard.records_view`). Later days change nothing in it
        (tests/pipeline/test_day_end_checkpoint.py).
        """
        if curve_lengths:
            return {
                "portfolio": self.portfolio.to_dict(),
                "baselines": self.baselines.to_dict(),
                "leaderboard": self.leaderboard.records_view(),
                "curves": {k: len(v) for k, v in self.curves.items()},
                "recent_trades": list(self.recent_trades),
                "trade_count": self.trade_count,
                "days_completed": self.days_completed,
                "last_completed_date": self.last_completed_date,
                "prices": dict(self.prices),
                "day_history": list(self.day_history),
                "agents": {a.id: a.state_dict() for a in team},
            }
        return {
            "portfolio": self.portfolio.to_dict(),
            "baselines": self.baselines.to_dict(),
            "leaderboard": self.leaderboard.to_dict(),
            "curves": {k: [dict(p) for p in v] for k, v in self.curves.items()},
            "recent_trades": [dict(t) for t in self.recent_trades],
            "trade_count": self.trade_count,
            "days_completed": self.days_completed,
            "last_completed_date": self.last_completed_date,
            "prices": {t: dict(p) for t, p in self.prices.items()},
            "day_history": [dict(d) for d in self.day_history],
            "agents": {a.id: a.state_dict() for a in team},
        }

    def curves_upto(self, checkpoint: dict[str, Any]) -> dict[str, Any]:
        """``checkpoint`` with curves given as lengths (``curve_lengths``) as their points then.

        The points are shared with the run (never changed once added); a
        checkpoint with whole curves is returned as it is.
        """
        curves = checkpoint.get("curves") or {}
        if not all(isinstance(n, int) for n in curves.values()):
            return checkpoint
        return {**checkpoint, "curves": {k: self.curves[k][:n] for k, n in curves.items()}}

    def restore(self, data: dict[str, Any], team: list[EvoAgent]) -> None:
        """Continue from a checkpoint; the run never shares (so never changes) ``data``."""
        data = copy.deepcopy(data)
        self.portfolio = Portfolio.from_dict(data["portfolio"])
        self.baselines = Baselines.from_dict(data["baselines"])
        self.leaderboard = Leaderboard(self.leaderboard.agents, data["leaderboard"])
        self.curves = {k: list(v) for k, v in data["curves"].items()}
        for name in CURVES:
            self.curves.setdefault(name, [])
            self.curves.setdefault(f"{name}_return", [])
        self._bound_curves()
        self.recent_trades = list(data["recent_trades"])
        self.trade_count = int(data["trade_count"])
        self.days_completed = int(data["days_completed"])
        self.last_completed_date = data["last_completed_date"]
        self.prices = dict(data["prices"])
        self.day_history = list(data.get("day_history", []))
        states = data.get("agents", {})
        for agent in team:
            if agent.id in states:
                agent.load_state(states[agent.id])
