"""Performance metrics against hand-computed values."""

from __future__ import annotations

import json
import math
import statistics

import pytest

from backend.trading.metrics import (
    daily_returns,
    excess_return_pct,
    max_drawdown_pct,
    sharpe_ratio,
    summary,
    total_return_pct,
)


def test_daily_returns() -> None:
    assert daily_returns([100.0, 110.0, 99.0]) == pytest.approx([0.10, -0.10])
    assert daily_returns([100.0]) == []
    assert daily_returns([]) == []
    assert daily_returns([0.0, 5.0]) == [0.0]  # no return from nothing


def test_total_and_excess_return_in_percent() -> None:
    assert total_return_pct([100.0, 90.0, 125.0]) == pytest.approx(25.0)
    assert total_return_pct([80.0, 60.0]) == pytest.approx(-25.0)
    assert total_return_pct([100.0]) == 0.0
    assert total_return_pct([]) == 0.0
    assert excess_return_pct([100.0, 120.0], [50.0, 55.0]) == pytest.approx(10.0)
    assert excess_return_pct([100.0, 90.0], [100.0, 95.0]) == pytest.approx(-5.0)


def test_max_drawdown_is_a_positive_percent_of_the_running_peak() -> None:
    # 120 -> 90 is -25 %; 130 -> 104 is only -20 %.
    assert max_drawdown_pct([100.0, 120.0, 90.0, 130.0, 104.0]) == pytest.approx(25.0)
    assert max_drawdown_pct([100.0, 101.0, 150.0]) == 0.0
    assert max_drawdown_pct([200.0, 175.0]) == pytest.approx(12.5)
    assert max_drawdown_pct([]) == 0.0


def test_sharpe_hand_computed() -> None:
    values = [100.0, 101.0, 104.03]  # returns 1 % and 3 %
    # mean 0.02, sample std 0.01 * sqrt(2), times sqrt(252)
    expected = 0.02 / (0.01 * math.sqrt(2)) * math.sqrt(252)
    assert expected == pytest.approx(22.4499443)
    assert sharpe_ratio(values) == pytest.approx(expected, rel=1e-9)
    # A 2.52 % annual risk-free rate is 0.01 % a day.
    assert sharpe_ratio(values, risk_free=0.0252) == pytest.approx(
        0.0199 / (0.01 * math.sqrt(2)) * math.sqrt(252), rel=1e-9)
    assert sharpe_ratio(values, periods_per_year=12) == pytest.approx(0.02 / (0.01 * math.sqrt(2)) * math.sqrt(12))


def test_sharpe_matches_the_textbook_formula_on_a_longer_curve() -> None:
    values = [100.0, 101.5, 100.2, 103.9, 103.1, 106.0, 104.4, 108.8]
    r = [b / a - 1 for a, b in zip(values, values[1:])]
    assert sharpe_ratio(values) == pytest.approx(statistics.mean(r) / statistics.stdev(r) * math.sqrt(252))


def test_sharpe_degenerate_cases_are_zero() -> None:
    assert sharpe_ratio([]) == 0.0
    assert sharpe_ratio([100.0, 110.0]) == 0.0  # one return
    assert sharpe_ratio([100.0, 100.0, 100.0, 100.0]) == 0.0  # zero std
    assert sharpe_ratio([100.0, 110.0, 121.0, 133.1]) == 0.0  # constant 10 % a day


def test_summary_shape_and_values() -> None:
    eq = [100_000.0, 102_000.0, 99_000.0, 104_000.0]
    out = summary(eq, {"baseline": [100_000.0, 101_000.0], "baseline_vw": [1.0, 1.1],
                       "momentum": [100.0, 100.0]}, trades=12, win_rate=0.75)
    assert set(out) == {"final_equity", "total_return_pct", "excess_return_pct",
                        "max_drawdown_pct", "sharpe", "trades", "win_rate"}
    assert out["final_equity"] == 104_000.0
    assert out["total_return_pct"] == pytest.approx(4.0)
    assert out["excess_return_pct"] == pytest.approx({"baseline": 3.0, "baseline_vw": -6.0, "momentum": 4.0})
    assert out["max_drawdown_pct"] == pytest.approx(3000 / 102_000 * 100)
    assert out["sharpe"] == pytest.approx(sharpe_ratio(eq))
    assert (out["trades"], out["win_rate"]) == (12, 0.75)
    json.dumps(out)


def test_summary_of_nothing_and_missing_benchmarks() -> None:
    out = summary([], {}, trades=0, win_rate=None)
    assert out == {"final_equity": 0.0, "total_return_pct": 0.0,
                   "excess_return_pct": {"baseline": None, "baseline_vw": None, "momentum": None},
                   "max_drawdown_pct": 0.0, "sharpe": 0.0, "trades": 0, "win_rate": 0.0}
