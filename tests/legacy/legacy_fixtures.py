"""Hand-written run folders of the earlier EvoTraders layout (the upstream dashboard's field names).

``write_legacy_run(folder)`` writes a three-day backtest of two tickers:
team_dashboard/{summary,holdings,stats,trades,leaderboard}.json,
team_dashboard/_internal_state.json and state/server_state.json with a
feed_history (newest first, as the upstream server kept it).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

# The day's close, New York (21:00 UTC), of 2024-03-04, 05 and 06, in epoch ms.
DAYS = ["2024-03-04", "2024-03-05", "2024-03-06"]
CLOSES = [1709589600000, 1709676000000, 1709762400000]
OPENS_930 = [1709562600000, 1709649000000, 1709735400000]

TRADES = [  # newest first, as the upstream dashboard lists them
    {"id": "T20240306-001", "ticker": "NVDA", "side": "SHORT", "qty": 10, "price": 880.0,
     "timestamp": OPENS_930[2], "trading_date": DAYS[2]},
    {"id": "T20240305-001", "ticker": "AAPL", "side": "LONG", "qty": 40, "price": 170.5,
     "timestamp": OPENS_930[1], "trading_date": DAYS[1]},
    {"id": "T20240304-001", "ticker": "NVDA", "side": "LONG", "qty": 30, "price": 850.0,
     "timestamp": OPENS_930[0], "trading_date": DAYS[0]},
]
EQUITY = [100000.0, 100850.0, 101420.5]


def curve(values: list[float]) -> list[dict[str, Any]]:
    return [{"t": t, "v": v} for t, v in zip(CLOSES, values)]


def legacy_files() -> dict[str, Any]:
    """Each file of one legacy run folder (relative path -> JSON value)."""
    summary = {"totalAssetValue": EQUITY[-1], "balance": EQUITY[-1], "pnlPct": 1.4205, "cash": 69680.5,
               "equity": curve(EQUITY), "baseline": curve([100000.0, 100400.0, 100900.0]),
               "baseline_vw": curve([100000.0, 100300.0, 100700.0]),
               "momentum": curve([100000.0, 100100.0, 100250.0])}
    holdings = [
        {"ticker": "NVDA", "quantity": 20, "avg": 850.0, "currentPrice": 885.0, "marketValue": 17700.0,
         "weight": 0.1745},
        {"ticker": "AAPL", "quantity": 40, "avg": 170.5, "currentPrice": 351.0, "marketValue": 14040.0,
         "weight": 0.1384},
        {"ticker": "CASH", "quantity": 69680.5, "avg": 1.0, "currentPrice": 1.0, "marketValue": 69680.5,
         "weight": 0.6871},
    ]
    stats = {"totalAssetValue": EQUITY[-1], "totalReturn": 1.4205, "cashPosition": 69680.5,
             "tickerWeights": {"NVDA": 0.1745, "AAPL": 0.1384}, "totalTrades": 3, "winRate": 0.5}
    leaderboard = [
        {"agentId": "technical_analyst", "name": "Technical Analyst", "role": "technical_analyst", "winRate": 0.6,
         "bull": {"n": 3, "win": 2}, "bear": {"n": 2, "win": 1, "unknown": 0},
         "signals": [{"ticker": "NVDA", "signal": "bull", "date": DAYS[2], "is_correct": None}]},
        {"agentId": "portfolio_manager", "name": "Portfolio Manager", "role": "portfolio_manager", "winRate": 0.5,
         "bull": {"n": 2, "win": 1}, "bear": {"n": 1, "win": 0}},
    ]
    feed = [  # oldest first here; written newest first
        {"type": "system", "content": "Backtest started"},
        {"type": "day_start", "date": DAYS[0], "progress": 0.0},
        {"type": "agent_message", "agentId": "technical_analyst", "agentName": "Technical Analyst",
         "content": "NVDA: bullish breakout", "ts": OPENS_930[0] - 5400000, "timestamp": f"{DAYS[0]}T08:00:00"},
        {"type": "day_complete", "date": DAYS[0], "progress": 0.3333},
        {"type": "day_start", "date": DAYS[1], "progress": 0.3333},
        {"type": "agent_message", "agentId": "portfolio_manager", "agentName": "Portfolio Manager",
         "content": "Buy 40 AAPL", "ts": OPENS_930[1] - 1200000, "timestamp": f"{DAYS[1]}T09:10:00"},
        {"type": "day_complete", "date": DAYS[1], "progress": 0.6667},
        {"type": "day_start", "date": DAYS[2], "progress": 0.6667},
        {"type": "day_complete", "date": DAYS[2], "progress": 1.0},
        {"type": "system", "content": "Backtest complete"},
    ]
    server_state = {"server_mode": "backtest", "is_backtest": True, "status": "completed",
                    "current_date": DAYS[2], "trading_days_total": 3, "trading_days_completed": 3,
                    "holdings": holdings, "stats": stats, "leaderboard": leaderboard,
                    "trades": TRADES, "feed_history": list(reversed(feed)),
                    "realtime_prices": {"NVDA": {"price": 885.0}, "AAPL": {"price": 351.0}}}
    internal = {"initial_cash": 100000.0, "baseline_state": {"initialized": True},
                "equity_history": curve(EQUITY), "price_history": {}}
    return {"team_dashboard/summary.json": summary, "team_dashboard/holdings.json": holdings,
            "team_dashboard/stats.json": stats, "team_dashboard/trades.json": TRADES,
            "team_dashboard/leaderboard.json": leaderboard, "team_dashboard/_internal_state.json": internal,
            "state/server_state.json": server_state}


FILES = tuple(legacy_files())


def write_legacy_run(folder: Path, only: set[str] | None = None, malformed: dict[str, bytes] | None = None) -> Path:
    """Write the run folder: the files in ``only`` (all by default), ``malformed`` ones with the bytes given."""
    for name, value in legacy_files().items():
        if only is not None and name not in only:
            continue
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes((malformed or {}).get(name) or json.dumps(value, indent=1).encode())
    return folder


def tree_digest(root: Path) -> dict[str, tuple[str, int]]:
    """Every file under ``root``: sha256 and mode (the source-untouched check)."""
    return {str(p.relative_to(root)): (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mode)
            for p in sorted(root.rglob("*")) if p.is_file()} | {
        str(p.relative_to(root)) + "/": ("dir", p.stat().st_mode) for p in root.rglob("*") if p.is_dir()}
