"""Run comparison's evolving-vs-frozen line (Qt-free).

When the compared runs include both evolving runs and runs with reflection
frozen at day 0 (``evolution: frozen`` in BOOTSTRAP.md, the history row's
``evolution``), the comparison says what evolving added: the mean final
return of each group and their difference, and for each pair that traded
the same tickers over the same dates, that pair's difference.
"""

from __future__ import annotations

from typing import Any

from app.models.history_model import Comparison


def final_return(points: list[tuple[int, float]]) -> float | None:
    """Percent return of an equity curve from its first point to its last."""
    returns = Comparison.as_return(points)
    return returns[-1][1] if returns else None


def evolution_note(comparison: Comparison, rows: dict[str, Any]) -> str:
    """The line to show, or "" when the comparison lacks an evolving or a frozen run.

    ``rows`` maps run id -> its history row (``RunSummary``: ``evolution``,
    ``tickers``, ``start_date``, ``end_date``).
    """
    groups: dict[str, list[tuple[str, float]]] = {"evolving": [], "frozen": []}
    for run_id, points in comparison.curves.items():
        row, ret = rows.get(run_id), final_return(points)
        if row is None or ret is None:
            continue
        groups[getattr(row, "evolution", "evolving") or "evolving"].append((run_id, ret))
    if not groups["evolving"] or not groups["frozen"]:
        return ""
    mean = {k: sum(r for _, r in v) / len(v) for k, v in groups.items()}
    text = (f"Evolving vs frozen: evolving {mean['evolving']:+.2f} % ({len(groups['evolving'])} run(s)), "
            f"frozen {mean['frozen']:+.2f} % ({len(groups['frozen'])} run(s)): "
            f"evolution added {mean['evolving'] - mean['frozen']:+.2f} pp")

    def market(run_id: str) -> tuple:
        row = rows[run_id]
        return tuple(row.tickers), row.start_date, row.end_date

    pairs = []
    frozen = {market(r): (r, ret) for r, ret in groups["frozen"]}
    for run_id, ret in groups["evolving"]:
        match = frozen.get(market(run_id))
        if match is not None:
            pairs.append(f"{run_id} - {match[0]} = {ret - match[1]:+.2f} pp")
    return text + (" (same tickers and dates: " + "; ".join(pairs) + ")" if pairs else "")
