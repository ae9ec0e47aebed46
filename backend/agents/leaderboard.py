"""The leaderboard, scored at the close: the analysts' bull/bear records and recent signals,
then a ``portfolio_manager`` row (the team's record of money-making days) and a
``risk_manager`` row (the days its limits warned). docs/protocol.md defines each row."""

from __future__ import annotations

import copy
from typing import Any

from backend.schema.trading import Prediction

ROLE_NAMES = {
    "fundamentals_analyst": "Fundamentals Analyst", "technical_analyst": "Technical Analyst",
    "sentiment_analyst": "Sentiment Analyst", "valuation_analyst": "Valuation Analyst",
    "risk_manager": "Risk Manager", "portfolio_manager": "Portfolio Manager",
}
RECENT_SIGNALS = 20
# Record keys of the team's rows (never an analyst's id: analysts are ``*_analyst``).
TEAM_ROWS = ("portfolio_manager", "risk_manager")
# A prediction's direction as the side of the record it counts on (anything else is neutral).
_SIDES = {"up": "bull", "down": "bear"}


def _tally() -> dict[str, int]:
    return {"n": 0, "win": 0, "unknown": 0}


class Leaderboard:
    """Per-analyst records; ``rows()`` is the dashboard's ``team_leaderboard`` data."""

    def __init__(self, agents: list[dict[str, str]], records: dict[str, Any] | None = None) -> None:
        self.agents = agents  # [{id, role, model, provider}]
        # A copy: ``records`` may be a checkpoint, which scoring must never change.
        self.records: dict[str, Any] = copy.deepcopy(records) if records else {
            a["id"]: {"bull": {"n": 0, "win": 0, "unknown": 0}, "bear": {"n": 0, "win": 0, "unknown": 0},
                      "signals": []}
            for a in agents
        }
        # A checkpoint written before the team's rows existed has none: they start empty.
        for key in TEAM_ROWS:
            self.records.setdefault(key, {"bull": _tally(), "bear": _tally(), "signals": []})

    def mark_day(self, pnl: float, risk_warnings: int) -> None:
        """Record a settled day for the team's rows.

        Portfolio manager, ``bull``: ``n`` days marked, ``win`` days the team's
        equity rose (at the close, against the previous close or the initial
        cash), ``unknown`` days it did not move by a cent (nothing held: not
        decided); its ``winRate`` is win / (n - unknown). Risk manager: ``bull.n``
        days assessed, ``bull.win`` days with no limit warning (its ``winRate``
        is their share), ``bear.n`` days with a warning, ``bear.win`` the warnings.
        """
        pm = self.records["portfolio_manager"]["bull"]
        pm["n"] += 1
        if round(pnl, 2) == 0:
            pm["unknown"] += 1
        else:
            pm["win"] += int(pnl > 0)
        risk = self.records["risk_manager"]
        risk["bull"]["n"] += 1
        if risk_warnings:
            risk["bear"]["n"] += 1
            risk["bear"]["win"] += risk_warnings
        else:
            risk["bull"]["win"] += 1

    def score(self, preds: list[Prediction], realized: dict[str, float]) -> dict[str, float | None]:
        """Score a day's predictions; returns each analyst's hit rate that day (None if no calls)."""
        hits: dict[str, list[bool]] = {}
        records = self.records
        for p in preds:
            rec = records.get(p.agent_id)
            if rec is None:
                rec = records[p.agent_id] = {"bull": _tally(), "bear": _tally(), "signals": []}
            signal = _SIDES.get(p.direction, "neutral")
            correct: bool | None = None
            if signal != "neutral":
                ret = realized.get(p.ticker)
                side = rec[signal]
                side["n"] += 1
                if ret is None or ret == 0:
                    side["unknown"] += 1
                else:
                    correct = (ret > 0) == (signal == "bull")
                    side["win"] += int(correct)
                    hits.setdefault(p.agent_id, []).append(correct)
            signals = rec["signals"]
            signals.append({"ticker": p.ticker, "signal": signal, "date": p.date, "is_correct": correct})
            if len(signals) > RECENT_SIGNALS:
                del signals[:-RECENT_SIGNALS]
        ids = {p.agent_id for p in preds}
        return {a: (sum(hits[a]) / len(hits[a]) if hits.get(a) else None) for a in ids}

    def win_rate(self, agent_id: str) -> float:
        rec = self.records.get(agent_id)
        if not rec:
            return 0.0
        decided = sum(rec[s]["n"] - rec[s]["unknown"] for s in ("bull", "bear"))
        wins = rec["bull"]["win"] + rec["bear"]["win"]
        return round(wins / decided, 6) if decided else 0.0

    def rows(self) -> list[dict[str, Any]]:
        rows = []
        for a in self.agents:
            rec = self.records.get(a["id"])
            if rec is None:
                continue
            rows.append({
                "agentId": a["id"], "name": ROLE_NAMES.get(a["role"], a["id"]), "role": a["role"],
                "avatar": a["role"].split("_")[0], "winRate": self.win_rate(a["id"]),
                "bull": dict(rec["bull"]), "bear": dict(rec["bear"]), "signals": list(rec["signals"]),
                "modelName": a.get("model") or "rules-v1", "modelProvider": a.get("provider") or "local",
            })
        rows.sort(key=lambda r: (-r["winRate"], r["agentId"]))
        for rank, row in enumerate(rows, start=1):
            row["rank"] = rank
        return rows + self.team_rows()

    def team_rows(self) -> list[dict[str, Any]]:
        """The ``portfolio_manager`` and ``risk_manager`` rows (unranked: they make no calls)."""
        pm = self.records["portfolio_manager"]["bull"]
        decided = pm["n"] - pm["unknown"]
        risk = self.records["risk_manager"]
        assessed = risk["bull"]["n"]
        rows = []
        for role, win_rate, bull, bear in (
                ("portfolio_manager", round(pm["win"] / decided, 6) if decided else 0.0, pm, _tally()),
                ("risk_manager", round(risk["bull"]["win"] / assessed, 6) if assessed else 0.0,
                 risk["bull"], risk["bear"])):
            rows.append({"agentId": role, "name": ROLE_NAMES[role], "role": role, "avatar": role.split("_")[0],
                         "winRate": win_rate, "bull": dict(bull), "bear": dict(bear), "signals": [],
                         "modelName": "rules-v1", "modelProvider": "local", "rank": None})
        return rows

    def to_dict(self) -> dict[str, Any]:
        """A deep copy of the records: later scoring does not change it."""
        # Each record is {bull: {...}, bear: {...}, signals: [{...}]} of scalars;
        # copying two levels is a deep copy, at a fraction of copy.deepcopy's cost.
        return {agent: {key: [dict(s) for s in value] if isinstance(value, list) else dict(value)
                        for key, value in rec.items()}
                for agent, rec in self.records.items()}

    def records_view(self) -> dict[str, Any]:
        """The records as scoring will not change them, sharing each signal with the leaderboard.

        Scoring changes the tallies and the signals lists in place, never a
        signal once appended (each call is a new dict): those are copied, the
        signals shared. For a holder that never changes what it gets (the
        engine's day-end checkpoint); anyone else takes :meth:`to_dict`.
        """
        return {agent: {key: list(value) if isinstance(value, list) else dict(value)
                        for key, value in rec.items()}
                for agent, rec in self.records.items()}
