"""Performance figures over a daily equity curve: returns, drawdown, Sharpe, summary.

Pure functions of plain lists; percentages are percent (12.5 means 12.5 %),
win rate is a fraction. Empty or too-short curves give 0.0, never an error.
"""

from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

import numpy as np

BASELINE_NAMES = ("baseline", "baseline_vw", "momentum")


def _array(values: Sequence[float]) -> np.ndarray:
    return np.asarray(list(values), dtype=float)


def daily_returns(values: Sequence[float]) -> list[float]:
    """Simple returns v[i]/v[i-1] - 1; a step from a non-positive value counts as 0.0."""
    v = _array(values)
    if v.size < 2:
        return []
    prev, cur = v[:-1], v[1:]
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.where(prev > 0, cur / prev - 1.0, 0.0)
    return r.tolist()


def total_return_pct(values: Sequence[float]) -> float:
    """Return from the first value to the last, in percent (0.0 if undefined)."""
    v = _array(values)
    if v.size < 2 or v[0] <= 0:
        return 0.0
    return float((v[-1] / v[0] - 1.0) * 100.0)


def excess_return_pct(equity: Sequence[float], baseline: Sequence[float]) -> float:
    """Team total return minus the benchmark's, in percentage points."""
    return total_return_pct(equity) - total_return_pct(baseline)


def max_drawdown_pct(values: Sequence[float]) -> float:
    """Largest fall from a running peak, as a positive percent (12.5 for -12.5 %)."""
    v = _array(values)
    if v.size < 2:
        return 0.0
    peaks = np.maximum.accumulate(v)
    with np.errstate(divide="ignore", invalid="ignore"):
        dd = np.where(peaks > 0, (peaks - v) / peaks, 0.0)
    return float(dd.max() * 100.0)


def sharpe_ratio(values: Sequence[float], periods_per_year: int = 252, risk_free: float = 0.0) -> float:
    """Annualised Sharpe of daily returns: mean excess / sample std * sqrt(periods).

    ``risk_free`` is an annual rate, spread evenly over ``periods_per_year``.
    0.0 with fewer than two returns or a (numerically) constant return series.
    """
    r = np.asarray(daily_returns(values), dtype=float)
    if r.size < 2:
        return 0.0
    excess = r - risk_free / periods_per_year
    std = float(excess.std(ddof=1))
    if not math.isfinite(std) or std < 1e-12:
        return 0.0
    return float(excess.mean() / std * math.sqrt(periods_per_year))


def summary(equity_values: Sequence[float], baselines: Mapping[str, Sequence[float]],
            trades: int, win_rate: float | None) -> dict[str, Any]:
    """The run's closing figures, as the CLI prints and trading_service serves them."""
    eq = list(equity_values)
    return {
        "final_equity": float(eq[-1]) if eq else 0.0,
        "total_return_pct": total_return_pct(eq),
        # None for a benchmark without a curve: 0.0 would pass for "matched it".
        "excess_return_pct": {n: excess_return_pct(eq, baselines[n]) if baselines.get(n) else None
                              for n in BASELINE_NAMES},
        "max_drawdown_pct": max_drawdown_pct(eq),
        "sharpe": sharpe_ratio(eq),
        "trades": int(trades),
        "win_rate": float(win_rate or 0.0),
    }
