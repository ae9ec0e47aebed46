"""What the public EvoTraders web dashboard reads, against a real Gateway subprocess and a client
that, like the dashboard, does not ask for incremental curves (docs/protocol.md, "Leaderboard",
"Market status in a backtest"): its Statistics view's win rate (the ``portfolio_manager`` row),
its header's status after the run (``market_status_update``) and its holdings' prices (the
streamed ``team_holdings`` agree with the state a reload shows)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from backend.agents.leaderboard import Leaderboard
from tests.e2e.gateway_process import collect_until, connect, gateway_env, recv_json, start_gateway


def _closed(frame: dict[str, Any]) -> bool:
    return frame["type"] == "market_status_update" and frame["market_status"]["status"] == "closed"


async def test_dashboard_reads_win_rate_final_status_and_closing_holdings(tmp_path: Path) -> None:
    proc, url = start_gateway(gateway_env(tmp_path), "--run-id", "dash", "--create", "--end", "2025-01-14",
                              "--pace", "0", "--paused", "--tickers", "AAPL,MSFT")
    try:
        async with connect(url, max_size=None) as ws:
            hello, initial = await recv_json(ws), await recv_json(ws)
            assert hello["curves"] == "bounded" and initial["type"] == "initial_state"
            await ws.send(json.dumps({"type": "resume"}))
            frames = await collect_until(ws, _closed)
        async with connect(url, max_size=None) as reload:   # the dashboard reloaded after the run
            await recv_json(reload)
            reloaded = (await recv_json(reload))["state"]
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    state = json.loads((tmp_path / "runs/dash/state/server_state.json").read_text())
    days = state["trading_days_total"]
    assert days >= 6

    # Statistics: the portfolio manager's row carries the team's win rate, from its days.
    board = [f for f in frames if f["type"] == "team_leaderboard"][-1]["data"]
    assert [r["agentId"] for r in board[-2:]] == ["portfolio_manager", "risk_manager"]
    assert [r["rank"] for r in board[:-2]] == [1, 2, 3, 4]
    pm = board[-2]
    assert pm["bull"]["n"] == days
    curve, returns = state["portfolio"]["equity"], state["portfolio"]["equity_return"]
    initial_cash = curve[0]["v"] / (1 + returns[0]["v"] / 100)
    values = [initial_cash] + [p["v"] for p in curve]
    changes = [b - a for a, b in zip(values, values[1:])]
    decided = [c for c in changes if abs(c) >= 0.01]
    assert pm["winRate"] == round(sum(c > 0 for c in decided) / len(decided), 6)
    risk = board[-1]
    assert risk["bull"]["n"] == days and risk["bull"]["win"] + risk["bear"]["n"] == days
    assert board == state["leaderboard"] == reloaded["leaderboard"]

    # Header: resumed, the run is announced running (open); its end closed, completed.
    statuses = [(f["market_status"]["status"], f["market_status"]["status_text"])
                for f in frames if f["type"] == "market_status_update"]
    assert statuses == [("open", "Backtest running"), ("closed", "Backtest completed")]
    assert initial["state"]["market_status"]["status_text"] == "Backtest paused"
    assert reloaded["market_status"]["status"] == "closed"

    # Holdings: each day's streamed holdings are at that day's close; the last equal the state's.
    holdings = [f["data"] for f in frames if f["type"] == "team_holdings"]
    assert len(holdings) == days
    assert holdings[-1] == state["holdings"] == reloaded["holdings"]
    closes = {t: q["price"] for t, q in state["realtime_prices"].items()}
    assert all(row["currentPrice"] == closes[row["ticker"]] for row in holdings[-1] if row["ticker"] != "CASH")


ANALYSTS = [{"id": "technical_analyst", "role": "technical_analyst"}]


@given(st.lists(st.tuples(st.sampled_from([0.0, 0.004, -0.003, 12.5, -7.25, 0.01, -0.01]), st.integers(0, 3)),
                max_size=30))
def test_team_rows_count_decided_days_and_survive_a_checkpoint(days: list[tuple[float, int]]) -> None:
    board = Leaderboard(ANALYSTS)
    for pnl, warnings in days:
        board.mark_day(pnl, warnings)
    # Restored from a checkpoint (and from one written before the team's rows existed).
    restored = Leaderboard(ANALYSTS, board.to_dict())
    old = Leaderboard(ANALYSTS, {k: v for k, v in board.to_dict().items() if k == "technical_analyst"})
    rows = restored.rows()
    assert rows == board.rows()
    pm, risk = rows[-2], rows[-1]
    decided = [pnl for pnl, _ in days if round(pnl, 2) != 0]
    assert pm["winRate"] == (round(sum(p > 0 for p in decided) / len(decided), 6) if decided else 0.0)
    assert (pm["bull"]["n"], pm["bull"]["unknown"]) == (len(days), len(days) - len(decided))
    quiet = sum(1 for _, w in days if not w)
    assert risk["winRate"] == (round(quiet / len(days), 6) if days else 0.0)
    assert (risk["bear"]["n"], risk["bear"]["win"]) == (len(days) - quiet, sum(w for _, w in days))
    assert [r["winRate"] for r in old.rows()[-2:]] == [0.0, 0.0]
