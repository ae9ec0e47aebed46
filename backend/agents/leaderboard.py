"""Analyst leaderboard: bull/bear records and recent signals, scored at the close."""

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

    def score(self, preds: list[Prediction], realized: dict[str, float]) -> dict[str, float | None]:
        """Score a day's predictions; returns each analyst's hit rate that day (None if no calls)."""
        hits: dict[str, list[bool]] = {}
        for p in preds:
            rec = self.records.setdefault(p.agent_id, {"bull": {"n": 0, "win": 0, "unknown": 0},
                                                       "bear": {"n": 0, "win": 0, "unknown": 0}, "signals": []})
            signal = {"up": "bull", "down": "bear"}.get(p.direction, "neutral")
            ret = realized.get(p.ticker)
            correct: bool | None = None
            if signal != "neutral":
                side = rec[signal]
                side["n"] += 1
                if ret is None or ret == 0:
                    side["unknown"] += 1
                else:
                    correct = (ret > 0) == (signal == "bull")
                    side["win"] += int(correct)
                    hits.setdefault(p.agent_id, []).append(correct)
            rec["signals"].append({"ticker": p.ticker, "signal": signal, "date": p.date, "is_correct": correct})
            del rec["signals"][:-RECENT_SIGNALS]
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
        return rows

    def to_dict(self) -> dict[str, Any]:
        """A deep copy of the records: later scoring does not change it."""
        # Each record is {bull: {...}, bear: {...}, signals: [{...}]} of scalars;
        # copying two levels is a deep copy, at a fraction of copy.deepcopy's cost.
        return {agent: {key: [dict(s) for s in value] if isinstance(value, list) else dict(value)
                        for key, value in rec.items()}
                for agent, rec in self.records.items()}
