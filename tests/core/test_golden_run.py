"""The embedded default is seeded: a known short run has exactly these outcomes.

If a deliberate change to the market, the agents or the accounting moves
these figures, update them in the same commit and say why in its message.
"""

from __future__ import annotations

import json
import subprocess

from tests.conftest import VENV_BIN


def test_february_2025_seed_7_on_three_tickers(tmp_path):
    env = {"RUNS_DIR": str(tmp_path / "runs"), "WORKSPACES_DIR": str(tmp_path / "ws"), "PATH": "/usr/bin:/bin"}
    proc = subprocess.run([str(VENV_BIN / "evotraders"), "backtest", "--start", "2025-02-03", "--end", "2025-02-28",
                           "--tickers", "AAPL,MSFT,NVDA", "--seed", "7", "--run-id", "gold", "--json"],
                          env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert summary["trading_days"] == 19
    assert summary["final_equity"] == 103546.55
    assert summary["trades"] == 9
    first = json.loads((tmp_path / "runs/gold/state/trades.jsonl").read_text().splitlines()[0])
    assert (first["id"], first["ticker"], first["side"], first["quantity"], first["price"]) == \
        ("T20250203-001", "MSFT", "LONG", 19, 449.61)


def test_the_default_six_month_run(tmp_path):
    # The default workspace as shipped (2025-01-02..2025-06-30, six tickers,
    # seed 7). It sees the Q4 2024 and the Q1 2025 reports on their
    # publication days (issue 10: a market built in January used to miss the
    # Q1 ones, 97,059.07 with 208 trades).
    env = {"RUNS_DIR": str(tmp_path / "runs"), "WORKSPACES_DIR": str(tmp_path / "ws"), "PATH": "/usr/bin:/bin"}
    proc = subprocess.run([str(VENV_BIN / "evotraders"), "backtest", "--run-id", "six", "--json"],
                          env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert (summary["start_date"], summary["end_date"], summary["trading_days"]) == ("2025-01-02", "2025-06-30", 122)
    assert summary["final_equity"] == 96876.28
    assert summary["trades"] == 200
