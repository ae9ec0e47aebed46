"""Run folders with history figures, written the way a Gateway writes them (atomic files), fast enough for 1,000."""

from __future__ import annotations

import datetime as dt
import random
from pathlib import Path
from typing import Any

from backend.schema.bootstrap import BootstrapConfig
from backend.storage.atomic import atomic_write_json, atomic_write_text
from backend.storage.bootstrap_file import render_bootstrap

STATUSES = ("completed", "failed", "stopped", "running", "paused")


def run_figures(rng: random.Random, seq: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(runtime_state, server_state)`` of one moment of a run, numbered ``seq``."""
    status = rng.choice(STATUSES)
    metrics = {"final_equity": 100_000 + seq, "total_return_pct": round(rng.uniform(-30, 60), 4),
               "excess_return_pct": {"baseline": round(rng.uniform(-5, 5), 3), "baseline_vw": None,
                                     "momentum": round(rng.uniform(-5, 5), 3)},
               "max_drawdown_pct": round(rng.uniform(0, 40), 3), "sharpe": round(rng.uniform(-2, 3), 4),
               "trades": rng.randrange(0, 5000), "win_rate": round(rng.random(), 4)}
    runtime = {"status": status, "progress": 1.0 if status == "completed" else round(rng.random(), 4),
               "current_date": "2024-06-28", "updated_at": f"2026-01-01T00:00:{seq % 60:02d}+00:00", "seq": seq}
    # A server state the size of a long run's (curves in full) that a listing must not need to parse.
    curve = [{"t": 1_700_000_000_000 + i * 86_400_000, "v": 100_000 + i} for i in range(rng.randrange(10, 400))]
    server = {"run_id": None, "status": status, "portfolio": {"equity": curve}, "metrics": metrics, "seq": seq}
    return runtime, server


def write_run(runs_dir: Path, run_id: str, rng: random.Random, seq: int = 0, *, state: bool = True) -> None:
    """A run folder: BOOTSTRAP.md and (when ``state``) both state files."""
    start = dt.date(2015, 1, 2) + dt.timedelta(days=rng.randrange(0, 3000))
    config = BootstrapConfig(run_id=run_id, mode=rng.choice(("backtest", "mock")),
                             tickers=rng.sample(["AAPL", "MSFT", "NVDA", "TSLA", "META", "GOOGL"], 2),
                             start_date=start, end_date=start + dt.timedelta(days=rng.randrange(30, 3000)))
    root = runs_dir / run_id
    atomic_write_text(root / "BOOTSTRAP.md", render_bootstrap(config, "history run\n"), fsync=False)
    if state:
        write_state(root, rng, seq)


def write_state(root: Path, rng: random.Random, seq: int) -> None:
    """The state files of one moment, server_state first (as ``pipeline.state_files.write_all`` does)."""
    runtime, server = run_figures(rng, seq)
    runtime["run_id"] = server["run_id"] = root.name
    atomic_write_json(root / "state" / "server_state.json", server, fsync=False, indent=None)
    atomic_write_json(root / "state" / "runtime_state.json", runtime, fsync=False, indent=None)
