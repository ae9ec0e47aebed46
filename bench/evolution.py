"""Benchmark: does evolution pay? The evolving rules team against the same team
with reflection frozen at day 0 (``evolution: frozen``), seed by seed.

For every market seed both runs trade the same market (the synthetic market's
``regimes`` profile, whose style regime decides which signals pay; and the
CSV sample in resources/sample_data), and the figure is the excess return of
evolving over frozen, (final equity evolving - final equity frozen) / initial
cash: its mean with a 95 % bootstrap interval and the share of seeds where
evolving ends ahead. The learning rule was tuned on the *tuning* seeds; the
reported figure is on the *held-out* seeds, which tuning never saw.

    .venv/bin/python bench/evolution.py [--split heldout|tuning|both] [--seeds 24] [--workers 2]
                                        [--profile regimes|default] [--csv-windows 20]

The engine runs in-process (skills in-process, no Gateway), one run per task
in a process pool; the wall time and the bare engine's days/s are printed.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import statistics
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

TUNING_SEEDS = list(range(1, 101))          # what the learning rule was tuned on
HELDOUT_SEEDS = list(range(1001, 1101))     # never looked at while tuning
TICKERS = ["AAPL", "MSFT", "GOOGL", "NVDA", "TSLA", "META"]
WINDOW = {"start_date": "2024-01-02", "end_date": "2024-12-31"}
CSV_DIR = "resources/sample_data/ret_data"
CSV_TICKERS = ["AAPL", "MSFT", "NVDA"]


@dataclass(frozen=True)
class PairedSummary:
    """What the bench reports about paired differences (evolving - frozen)."""

    n: int
    mean: float
    low: float            # the interval's bounds (bootstrap percentile)
    high: float
    win_share: float      # share of pairs with a difference > 0
    median: float


def paired_summary(diffs: list[float], confidence: float = 0.95, resamples: int = 10_000,
                   rng_seed: int = 0) -> PairedSummary:
    """Mean of ``diffs`` with a percentile-bootstrap interval, and the share of wins.

    The interval resamples the pairs with replacement ``resamples`` times
    (seeded, so the same inputs always give the same interval). Ties (0.0)
    are not wins.
    """
    values = np.asarray(diffs, dtype=float)
    if values.size == 0:
        raise ValueError("paired_summary needs at least one difference")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    rng = np.random.default_rng(rng_seed)
    means = values[rng.integers(0, values.size, size=(resamples, values.size))].mean(axis=1)
    tail = (1.0 - confidence) / 2.0
    low, high = np.quantile(means, [tail, 1.0 - tail])
    return PairedSummary(n=int(values.size), mean=float(values.mean()), low=float(low), high=float(high),
                         win_share=float((values > 0).mean()), median=float(np.median(values)))


def run_once(task: tuple[str, int, str, dict]) -> tuple[str, int, str, float, int, float]:
    """One in-process backtest; returns (market, seed, evolution, return, days, seconds)."""
    market, seed, evolution, extra = task
    from backend.config import load_settings
    from backend.pipeline.engine import RunEngine
    from backend.storage.run_store import RunStore
    from backend.storage.workspaces import WorkspaceStore

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        settings = load_settings(runs_dir=root / "runs", workspaces_dir=root / "ws")
        store = RunStore(settings.runs_dir, WorkspaceStore(settings.workspaces_dir))
        overrides = {"evolution": evolution, **extra}
        store.create_run("default", run_id="evo", overrides=overrides)
        engine = RunEngine(store, "evo", settings, write_every_stage=False)

        async def go() -> None:
            try:
                await engine.run()
            finally:
                await engine.close()

        started = time.perf_counter()
        asyncio.run(go())
        seconds = time.perf_counter() - started
        ret = engine.state.equity() / engine.state.initial_cash - 1.0
        return market, seed, evolution, ret, engine.state.days_completed, seconds


def synthetic_tasks(seeds: list[int], profile: str = "regimes") -> list[tuple[str, int, str, dict]]:
    return [("synthetic", seed, evolution, {**WINDOW, "tickers": TICKERS,
                                            "market": {"kind": "synthetic", "seed": seed, "profile": profile}})
            for seed in seeds for evolution in ("evolving", "frozen")]


def csv_tasks(offsets: list[int]) -> list[tuple[str, int, str, dict]]:
    """The CSV sample is one path: its "seeds" are start offsets into it (overlapping windows)."""
    from backend.market.csv_market import CsvMarket
    from backend.market.factory import resolve_csv_dir

    days = CsvMarket(resolve_csv_dir(CSV_DIR), CSV_TICKERS).trading_days(dt.date(2000, 1, 1), dt.date(2100, 1, 1))
    return [("csv", offset, evolution, {"start_date": days[offset].isoformat(), "end_date": days[-1].isoformat(),
                                         "tickers": CSV_TICKERS, "market": {"kind": "csv", "csv_dir": CSV_DIR}})
            for offset in offsets for evolution in ("evolving", "frozen")]


def report(label: str, results: list[tuple[str, int, str, float, int, float]]) -> PairedSummary:
    by_seed: dict[int, dict[str, float]] = {}
    for _market, seed, evolution, ret, _days, _secs in results:
        by_seed.setdefault(seed, {})[evolution] = ret
    diffs = [r["evolving"] - r["frozen"] for _s, r in sorted(by_seed.items())]
    s = paired_summary(diffs)
    evolving = statistics.mean(r["evolving"] for r in by_seed.values())
    frozen = statistics.mean(r["frozen"] for r in by_seed.values())
    print(f"{label}: {s.n} seeds; mean return evolving {evolving:+.2%}, frozen {frozen:+.2%}; "
          f"excess (evolving - frozen) mean {s.mean:+.2%} [95 % CI {s.low:+.2%}, {s.high:+.2%}], "
          f"median {s.median:+.2%}; evolving wins on {s.win_share:.0%} of seeds")
    return s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--split", choices=("heldout", "tuning", "both"), default="heldout")
    parser.add_argument("--seeds", type=int, default=24, help="seeds per split (>= 20 for the figure)")
    parser.add_argument("--csv-windows", type=int, default=20, help="start offsets into the CSV sample")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--profile", choices=("regimes", "default"), default="regimes",
                        help="the synthetic market's profile (default: the one without style regimes)")
    args = parser.parse_args()
    splits = {"tuning": TUNING_SEEDS[:args.seeds], "heldout": HELDOUT_SEEDS[:args.seeds]}
    chosen = ["tuning", "heldout"] if args.split == "both" else [args.split]
    tasks = {name: synthetic_tasks(splits[name], args.profile) for name in chosen}
    if args.csv_windows:
        tasks["csv"] = csv_tasks(list(range(args.csv_windows)))
    started = time.perf_counter()
    with ProcessPoolExecutor(max_workers=args.workers) as pool:
        done = {name: list(pool.map(run_once, batch)) for name, batch in tasks.items()}
    wall = time.perf_counter() - started
    for name in chosen:
        report(f"synthetic {args.profile}, {name} seeds {splits[name][0]}..{splits[name][-1]}, "
               f"{len(TICKERS)} tickers, {WINDOW['start_date']}..{WINDOW['end_date']}", done[name])
    if args.csv_windows:
        report(f"csv sample ({CSV_DIR}, {'/'.join(CSV_TICKERS)}), start offsets 0..{args.csv_windows - 1} "
               f"(overlapping windows of one path, not independent)", done["csv"])
    every = [r for batch in done.values() for r in batch]
    days, secs = sum(r[4] for r in every), sum(r[5] for r in every)
    print(f"{len(every)} runs, {days} trading days in {wall:.1f} s wall with {args.workers} workers "
          f"(engine: {days / secs:.1f} days/s per worker under this machine's load; cpu count {os.cpu_count()})")


if __name__ == "__main__":
    main()
