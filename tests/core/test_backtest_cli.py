"""`evotraders backtest` end to end, as a user runs it (a real subprocess)."""

import json
import subprocess
from pathlib import Path

import pytest

from tests.conftest import VENV_BIN

EVOTRADERS = str(VENV_BIN / "evotraders")
VOLATILE = {"updated_at", "gateway_pid"}


def backtest(env, *args, timeout=240):
    return subprocess.run([EVOTRADERS, "backtest", *args], env=env, capture_output=True, text=True, timeout=timeout)


def strip_volatile(obj):
    if isinstance(obj, dict):
        return {k: strip_volatile(v) for k, v in obj.items() if k not in VOLATILE}
    if isinstance(obj, list):
        return [strip_volatile(v) for v in obj]
    return obj


@pytest.fixture(scope="module")
def six_months(tmp_path_factory):
    root = tmp_path_factory.mktemp("bt")
    env = {"RUNS_DIR": str(root / "runs"), "WORKSPACES_DIR": str(root / "ws"), "PATH": "/usr/bin:/bin"}
    proc = backtest(env, "--start", "2025-01-02", "--end", "2025-06-30", "--run-id", "six", "--json")
    assert proc.returncode == 0, proc.stderr
    return root, env, json.loads(proc.stdout)


def test_summary_has_every_figure(six_months):
    _, _, summary = six_months
    assert summary["status"] == "completed"
    assert summary["trading_days"] == 122  # NYSE sessions in H1 2025 (holidays and the 2025-01-09 closure skipped)
    for key in ("final_equity", "total_return_pct", "max_drawdown_pct", "sharpe", "trades"):
        assert isinstance(summary[key], (int, float))
    assert set(summary["excess_return_pct"]) == {"baseline", "baseline_vw", "momentum"}
    assert summary["trades"] > 0
    # The four analysts ranked, then the portfolio and risk managers' rows (docs/protocol.md, "Leaderboard").
    assert [row["rank"] for row in summary["leaderboard"]] == [1, 2, 3, 4, None, None]


def test_run_tree_is_complete_and_uses_protocol_names(six_months):
    root, _, summary = six_months
    run = root / "runs" / "six"
    for rel in ("BOOTSTRAP.md", "state/runtime_state.json", "state/server_state.json", "state/trades.jsonl",
                "logs/events.jsonl", "agents/technical_analyst/memory.jsonl",
                "agents/technical_analyst/skills/technical_indicators/SKILL.md"):
        assert (run / rel).is_file(), rel
    for name in ("summary", "holdings", "stats", "trades", "leaderboard"):
        json.loads((run / "team_dashboard" / f"{name}.json").read_text())
    server = json.loads((run / "state/server_state.json").read_text())
    for key in ("server_mode", "is_mock_mode", "is_backtest", "status", "feed_history", "current_date",
                "trading_days_total", "trading_days_completed", "holdings", "trades", "stats", "leaderboard",
                "portfolio", "realtime_prices", "dashboard", "market_status", "last_day_history"):
        assert key in server, key
    assert server["status"] == "completed" and server["trading_days_completed"] == 122
    assert set(server["dashboard"]) == {"summary", "holdings", "stats", "trades", "leaderboard"}
    portfolio = server["portfolio"]
    assert round(portfolio["total_value"], 2) == round(summary["final_equity"], 2)
    lengths = {len(portfolio[c]) for c in ("equity", "baseline", "baseline_vw", "momentum")}
    assert lengths == {122}
    point = portfolio["equity"][0]
    assert set(point) == {"t", "v"} and point["t"] > 1_700_000_000_000  # epoch milliseconds
    assert server["holdings"][-1]["ticker"] == "CASH"
    assert {"ticker", "quantity", "avg", "currentPrice", "marketValue", "weight"} <= set(server["holdings"][0])
    assert {"totalAssetValue", "totalReturn", "cashPosition", "tickerWeights", "marginUsed", "totalTrades",
            "winRate"} <= set(server["stats"])
    trade = server["trades"][0]
    assert {"id", "ticker", "side", "qty", "quantity", "action", "price", "timestamp", "trading_date"} <= set(trade)
    row = server["leaderboard"][0]
    assert {"agentId", "name", "role", "rank", "winRate", "bull", "bear", "signals", "modelName"} <= set(row)
    assert len(server["feed_history"]) == 200
    feed_types = {e["type"] for e in server["feed_history"]}
    assert feed_types <= {"system", "agent_message", "day_start", "day_complete", "day_error", "team_summary",
                          "conference_start", "conference_message", "conference_end", "memory"}
    assert server["feed_history"][0]["type"] == "day_complete"  # newest first
    trades = [json.loads(ln) for ln in (run / "state/trades.jsonl").read_text().splitlines()]
    assert len(trades) == summary["trades"] == server["stats"]["totalTrades"]
    runtime = json.loads((run / "state/runtime_state.json").read_text())
    assert runtime["status"] == "completed" and runtime["progress"] == 1.0


def test_same_seed_same_run(six_months, tmp_path):
    root, _, first = six_months
    env = {"RUNS_DIR": str(tmp_path / "runs"), "WORKSPACES_DIR": str(tmp_path / "ws"), "PATH": "/usr/bin:/bin"}
    proc = backtest(env, "--start", "2025-01-02", "--end", "2025-06-30", "--run-id", "six", "--json")
    assert proc.returncode == 0, proc.stderr
    second = json.loads(proc.stdout)
    assert {k: v for k, v in first.items() if k != "run_dir"} == {k: v for k, v in second.items() if k != "run_dir"}
    for rel in ("state/server_state.json", "state/runtime_state.json", "state/trades.jsonl",
                "team_dashboard/stats.json", "team_dashboard/leaderboard.json"):
        a = (root / "runs/six" / rel).read_text()
        b = (tmp_path / "runs/six" / rel).read_text()
        if rel.endswith(".json"):
            assert strip_volatile(json.loads(a)) == strip_volatile(json.loads(b)), rel
        else:
            assert a == b, rel


def test_another_seed_trades_differently(six_months, tmp_path):
    _, _, first = six_months
    env = {"RUNS_DIR": str(tmp_path / "runs"), "WORKSPACES_DIR": str(tmp_path / "ws"), "PATH": "/usr/bin:/bin"}
    proc = backtest(env, "--start", "2025-01-02", "--end", "2025-06-30", "--seed", "8", "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["final_equity"] != first["final_equity"]


@pytest.mark.parametrize("args,needle", [
    (["--run-id", "../escape"], "invalid run id"),
    (["--start", "2025-03-01", "--end", "2025-02-01"], "end_date"),
    (["--tickers", "AAPL,ZZZZ", "--csv-dir", "resources/sample_data/ret_data"], "ZZZZ"),
    (["--start", "2025-13-01"], "invalid date"),
])
def test_bad_input_gives_one_line_and_writes_nothing(tmp_path, args, needle):
    env = {"RUNS_DIR": str(tmp_path / "runs"), "WORKSPACES_DIR": str(tmp_path / "ws"), "PATH": "/usr/bin:/bin"}
    proc = subprocess.run([EVOTRADERS, "backtest", *args], env=env, capture_output=True, text=True, timeout=60,
                          cwd=Path(__file__).resolve().parents[2])
    assert proc.returncode == 2
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and needle in lines[0], proc.stderr
    runs = tmp_path / "runs"
    assert not runs.exists() or [p.name for p in runs.iterdir() if not p.name.startswith(".")] == []


def test_malformed_workspace_bootstrap_is_reported_with_line(tmp_path):
    env = {"RUNS_DIR": str(tmp_path / "runs"), "WORKSPACES_DIR": str(tmp_path / "ws"), "PATH": "/usr/bin:/bin"}
    broken = tmp_path / "ws" / "broken"
    broken.mkdir(parents=True)
    (broken / "BOOTSTRAP.md").write_text("---\nmode: backtest\nmax_comm_cycles: lots\n---\nprompt\n")
    proc = subprocess.run([EVOTRADERS, "backtest", "--workspace", "broken"], env=env, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 2
    assert "BOOTSTRAP.md:3: field 'max_comm_cycles'" in proc.stderr
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())
