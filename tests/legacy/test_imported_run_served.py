"""An imported legacy run served by the real services: trading_service answers its trades and metrics,
runtime_service lists it in run history and pages its feed for a remote replay."""

from __future__ import annotations

import json
from pathlib import Path

import httpx

from backend.legacy.importer import import_legacy
from tests.legacy.legacy_fixtures import EQUITY, TRADES, write_legacy_run
from tests.support.service_process import ServiceProcess, service_env

VIEWER = "viewer-token-for-legacy-00000"
TOKENS = {"EVOTRADERS_VIEWER_TOKEN": VIEWER, "EVOTRADERS_ADMIN_TOKEN": "admin-token-for-legacy-000000"}
AUTH = {"Authorization": f"Bearer {VIEWER}"}


def test_trading_service_and_runtime_service_serve_the_imported_run(tmp_path: Path) -> None:
    write_legacy_run(tmp_path / "legacy" / "backtest")
    [result] = import_legacy(tmp_path / "legacy", tmp_path / "runs")
    run_id = result.run_id
    env = service_env(tmp_path, **TOKENS)
    with ServiceProcess("trading_service", env) as trading:
        trades = httpx.get(f"{trading.url}/runs/{run_id}/trades", headers=AUTH, timeout=30)
        assert trades.status_code == 200, trades.text
        page = trades.json()
        assert page["total"] == 3 and [t["id"] for t in page["items"]] == [t["id"] for t in reversed(TRADES)]
        nvda = httpx.get(f"{trading.url}/runs/{run_id}/trades", params={"ticker": "NVDA"}, headers=AUTH,
                         timeout=30).json()
        assert [t["side"] for t in nvda["items"]] == ["LONG", "SHORT"]
        metrics = httpx.get(f"{trading.url}/runs/{run_id}/metrics", headers=AUTH, timeout=30).json()
        assert metrics["final_equity"] == EQUITY[-1] and metrics["days"] == 3 and metrics["trades"] == 3
        holdings = httpx.get(f"{trading.url}/runs/{run_id}/holdings", headers=AUTH, timeout=30).json()
        assert [h["ticker"] for h in holdings["items"]] == ["NVDA", "AAPL", "CASH"]
    with ServiceProcess("runtime_service", env) as runtime:
        runs = httpx.get(f"{runtime.url}/runs", headers=AUTH, timeout=30)
        assert runs.status_code == 200, runs.text
        [row] = [r for r in runs.json() if r["run_id"] == run_id]
        assert row["status"] == "completed" and row["mode"] == "backtest"
        assert row["metrics"]["final_equity"] == EQUITY[-1] and row["start_date"] == "2024-03-04"
        events = httpx.get(f"{runtime.url}/runs/{run_id}/events", headers=AUTH, timeout=30)
        assert events.status_code == 200, events.text
        lines = [json.loads(line) for line in events.text.splitlines() if line.strip()]
        assert [e["type"] for e in lines][:2] == ["system", "day_start"]
        assert lines == [json.loads(line) for line in
                         (tmp_path / "runs" / run_id / "logs" / "events.jsonl").read_text().splitlines()]
