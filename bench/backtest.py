"""Benchmark: a 1-year backtest of 10 tickers, `rules` agents, in-process skills.

Prints trading days per second and peak RSS. Targets on a 2-core machine:
at least 100 trading days/s and under 300 MB RSS (docs/performance.md).

    .venv/bin/python bench/backtest.py [--repeat 3] [--via-gateway]

``--via-gateway`` runs the same backtest through a Gateway subprocess with
one connected WebSocket client and reports the overhead.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from backend.config import load_settings  # noqa: E402
from backend.pipeline.engine import RunEngine  # noqa: E402
from backend.storage.run_store import RunStore  # noqa: E402
from backend.storage.workspaces import WorkspaceStore  # noqa: E402

TICKERS = ["AAPL", "MSFT", "GOOGL", "NVDA", "TSLA", "META", "AMZN", "JPM", "XOM", "UNH"]
YEAR = {"start_date": "2024-01-02", "end_date": "2024-12-31", "tickers": TICKERS}


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def in_process_once(root: Path, run_id: str) -> tuple[int, float]:
    settings = load_settings(runs_dir=root / "runs", workspaces_dir=root / "ws")
    store = RunStore(settings.runs_dir, WorkspaceStore(settings.workspaces_dir))
    store.create_run("default", run_id=run_id, overrides=YEAR)
    engine = RunEngine(store, run_id, settings, write_every_stage=False)

    async def go() -> None:
        try:
            await engine.run()
        finally:
            await engine.close()

    started = time.perf_counter()
    asyncio.run(go())
    return engine.state.days_completed, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--via-gateway", action="store_true")
    args = parser.parse_args()
    rates = []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.repeat):
            days, seconds = in_process_once(Path(tmp), f"bench{i}")
            rates.append(days / seconds)
            print(f"run {i + 1}: {days} trading days in {seconds:.2f} s = {days / seconds:.1f} days/s")
        print(f"in-process: median {statistics.median(rates):.1f} trading days/s, peak RSS {peak_rss_mb():.0f} MB "
              f"(10 tickers, 1 year, rules agents, skills in-process)")
        if args.via_gateway:
            from bench.gateway_backtest import run_via_gateway

            gw_days, gw_seconds = run_via_gateway(Path(tmp), YEAR)
            gw_rate = gw_days / gw_seconds
            print(f"via Gateway + 1 client: {gw_rate:.1f} trading days/s; overhead "
                  f"{(statistics.median(rates) / gw_rate - 1) * 100:.0f} % over in-process")


if __name__ == "__main__":
    main()
