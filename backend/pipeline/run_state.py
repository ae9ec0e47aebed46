"""Everything a run accumulates across days, and its resume checkpoint."""

from __future__ import annotations

import copy
from typing import Any

from backend.agents.evo_agent import EvoAgent
from backend.agents.leaderboard import Leaderboard
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
        # point per settled day; kept incrementally since they grow daily.
        self.curves: dict[str, list[dict[str, float]]] = {name: [] for name in CURVES}
        self.curves.update({f"{name}_return": [] for name in CURVES})
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
        return [p["v"] for p in self.curves[name]]

    def return_curve(self, name: str) -> list[dict[str, float]]:
        return self.curves[f"{name}_return"]

    def add_curve_point(self, name: str, t_ms: int, value: float) -> None:
        self.curves[name].append({"t": t_ms, "v": round(value, 4)})
        self.curves[f"{name}_return"].append({"t": t_ms, "v": round((value / self.initial_cash - 1.0) * 100.0, 6)})

    def add_trade(self, trade: dict[str, Any]) -> None:
        self.trade_count += 1
        self.recent_trades.insert(0, trade)
        del self.recent_trades[RECENT_TRADES:]

    # -- resume checkpoint (taken at the end of each completed day) ------------
    def checkpoint(self, team: list[EvoAgent]) -> dict[str, Any]:
        """A deep snapshot of the state, sharing no container the run goes on changing.

        Every curve point, trade row, price and history row holds scalars
        only, so copying each of them is a deep copy; the parts' ``to_dict``
        and ``state_dict`` build fresh containers. (A JSON round trip would do
        the same at several times the cost, paid every day of a backtest.)
        """
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

    def restore(self, data: dict[str, Any], team: list[EvoAgent]) -> None:
        """Continue from a checkpoint; the run never shares (so never changes) ``data``."""
        data = copy.deepcopy(data)
        self.portfolio = Portfolio.from_dict(data["portfolio"])
        self.baselines = Baselines.from_dict(data["baselines"])
        self.leaderboard = Leaderboard(self.leaderboard.agents, data["leaderboard"])
        self.curves = {k: list(v) for k, v in data["curves"].items()}
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
