"""`evotraders backtest --evolution frozen --market-profile regimes`: the run records both and stays frozen."""

from __future__ import annotations

import json
import subprocess

import yaml

from tests.conftest import VENV_BIN


def backtest(tmp_path, run_id, *extra):
    env = {"RUNS_DIR": str(tmp_path / "runs"), "WORKSPACES_DIR": str(tmp_path / "ws"), "PATH": "/usr/bin:/bin"}
    proc = subprocess.run([str(VENV_BIN / "evotraders"), "backtest", "--start", "2024-02-01", "--end", "2024-02-29",
                           "--tickers", "AAPL,TSLA", "--seed", "3", "--run-id", run_id, "--json", *extra],
                          env=env, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def front_matter(tmp_path, run_id):
    return yaml.safe_load((tmp_path / "runs" / run_id / "BOOTSTRAP.md").read_text().split("---")[1])


def test_a_frozen_backtest_on_the_regimes_market(tmp_path):
    frozen = backtest(tmp_path, "frozen", "--evolution", "frozen", "--market-profile", "regimes")
    config = front_matter(tmp_path, "frozen")
    assert config["evolution"] == "frozen" and config["market"]["profile"] == "regimes"
    reflections = (tmp_path / "runs/frozen/agents/technical_analyst/memory.jsonl").read_text().splitlines()
    assert len(reflections) == frozen["trading_days"] and all(json.loads(r)["weights"] == {} for r in reflections)
    # The default invocation records neither setting: an existing run's BOOTSTRAP.md reads the same.
    backtest(tmp_path, "plain")
    assert "evolution" not in front_matter(tmp_path, "plain") and "profile" not in front_matter(tmp_path, "plain")["market"]


def test_a_bad_evolution_value_is_refused_by_name(tmp_path):
    env = {"RUNS_DIR": str(tmp_path / "runs"), "WORKSPACES_DIR": str(tmp_path / "ws"), "PATH": "/usr/bin:/bin"}
    proc = subprocess.run([str(VENV_BIN / "evotraders"), "backtest", "--evolution", "thawed"],
                          env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "--evolution" in proc.stderr and "thawed" in proc.stderr
