"""Benchmark: backtests of 10 tickers, `rules` agents, in-process skills, by run length.

For each length in ``--years`` (default 1) it runs the backtest ``--repeat``
times and prints trading days per second (median), the ratio to the 1-year
figure measured in the same run (the short-run baseline: a day should cost
the same wherever it falls in the run), events.jsonl bytes per trading day
and its ratio to the 1-year figure, team_summary's share of the log and its
largest line, and the peak RSS. Targets (issue 13, docs/performance.md): at
least 300 trading days/s for 1 year; 8 years at least 0.9x the 1-year rate;
bytes per day within 10 % from 1 to 8 years.

    .venv/bin/python bench/backtest.py [--years 1,4,8] [--repeat 3] [--via-gateway] [--profile out.prof]
    .venv/bin/python bench/backtest.py --against 9e5d5e1 [--rounds 5] [--repeat 3]

``--via-gateway`` runs the 1-year backtest through a Gateway subprocess with
one connected WebSocket client (asking for incremental curves, as the desk
does) and reports the overhead. ``--profile`` writes a cProfile of one
1-year run. ``--against REV`` runs the 1-year backtest of this tree and of
git revision REV (checked out into a temporary worktree) in turn, each in a
fresh process, for ``--rounds`` rounds, and prints the ratio: this machine
kind's speed drifts by up to 2x, so the figure to compare is the one
measured beside it (see bench/against.py; 9e5d5e1 is the tree issue 13
measured at 135-147 days/s when it set the 300 days/s target).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

# The tree whose engine runs: this one, or the one bench/against.py checked out.
TREE = Path(os.environ.get("EVOTRADERS_BENCH_TREE") or Path(__file__).resolve().parents[1])
sys.path.insert(0, str(TREE))

from backend.config import load_settings  # noqa: E402
from backend.pipeline.engine import RunEngine  # noqa: E402
from backend.storage.run_store import RunStore  # noqa: E402
from backend.storage.workspaces import WorkspaceStore  # noqa: E402

TICKERS = ["AAPL", "MSFT", "GOOGL", "NVDA", "TSLA", "META", "AMZN", "JPM", "XOM", "UNH"]
START = dt.date(2016, 1, 4)
YEAR = {"start_date": "2024-01-02", "end_date": "2024-12-31", "tickers": TICKERS}


def span(years: int) -> dict:
    """``years`` calendar years of trading days from 2016 (the synthetic market starts in 2015)."""
    end = dt.date(START.year + years, 1, 1) - dt.timedelta(days=1)
    return {"start_date": START.isoformat(), "end_date": end.isoformat(), "tickers": TICKERS}


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


YEAR_DAYS = 252


class Result:
    def __init__(self, days: int, seconds: float, cpu: float, log_bytes: int, summary_bytes: int,
                 summary_max: int, marks: list[tuple[float, float]]) -> None:
        self.days, self.seconds, self.cpu = days, seconds, cpu
        self.marks = marks  # (wall, CPU) clock after each day
        self.log_bytes, self.summary_bytes, self.summary_max = log_bytes, summary_bytes, summary_max

    @property
    def rate(self) -> float:
        return self.days / self.seconds

    @property
    def cpu_rate(self) -> float:
        """Days per CPU second of this process: steadier than wall time on a shared machine."""
        return self.days / self.cpu

    def year_rates(self) -> tuple[float, float]:
        """CPU days/s of the run's first and last YEAR_DAYS days: where a day falls in the run,
        measured within one run (steadier than two runs apart on a shared machine)."""
        cpu = [c for _, c in self.marks]
        n = min(YEAR_DAYS, len(cpu) // 2)
        return n / (cpu[n] - cpu[0]), n / (cpu[-1] - cpu[-1 - n])

    @property
    def bytes_per_day(self) -> float:
        return self.log_bytes / max(1, self.days)


def in_process_once(root: Path, run_id: str, overrides: dict | None = None) -> Result:
    settings = load_settings(runs_dir=root / "runs", workspaces_dir=root / "ws")
    store = RunStore(settings.runs_dir, WorkspaceStore(settings.workspaces_dir))
    store.create_run("default", run_id=run_id, overrides=overrides or YEAR)
    engine = RunEngine(store, run_id, settings, write_every_stage=False)

    marks: list[tuple[float, float]] = []

    async def go() -> None:  # the run, marking each day's end
        try:
            await engine.run(on_day=lambda *_: marks.append((time.perf_counter(), time.process_time())))
        finally:
            await engine.close()

    started, cpu_started = time.perf_counter(), time.process_time()
    asyncio.run(go())
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    log = engine.paths.events_log
    summary_bytes = summary_max = 0
    with log.open("rb") as lines:
        for line in lines:
            if line.startswith(b'{"type":"team_summary"'):
                summary_bytes += len(line)
                summary_max = max(summary_max, len(line))
    return Result(engine.state.days_completed, seconds, cpu, log.stat().st_size, summary_bytes, summary_max, marks)


def child(repeat: int) -> None:
    """``--child``: one JSON line, the median of ``repeat`` 1-year runs of TREE's engine."""
    import json

    import backend

    if not Path(backend.__file__).resolve().is_relative_to(TREE.resolve()):
        raise SystemExit(f"imported backend from {backend.__file__}, not from {TREE}")
    with tempfile.TemporaryDirectory() as tmp:
        runs = sorted((in_process_once(Path(tmp), f"child{i}", span(1)) for i in range(repeat)), key=lambda r: r.rate)
    median = runs[len(runs) // 2]
    print(json.dumps({"rate": median.rate, "cpu_rate": median.cpu_rate, "days": median.days}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--years", default="1", help="comma-separated run lengths in years (default 1)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--via-gateway", action="store_true")
    parser.add_argument("--profile", metavar="FILE", help="write a cProfile of one 1-year run to FILE")
    parser.add_argument("--against", metavar="REV", action="append", default=[],
                        help="alternate the 1-year backtest with git revision REV's (repeatable)")
    parser.add_argument("--rounds", type=int, default=5, help="rounds of --against (default 5)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.repeat)
        return
    if args.against:
        from bench.against import alternate

        alternate(args.against, args.rounds, args.repeat)
        return
    lengths = sorted({int(y) for y in args.years.split(",")} | {1})
    with tempfile.TemporaryDirectory() as tmp:
        if args.profile:
            import cProfile

            profiler = cProfile.Profile()
            profiler.runcall(in_process_once, Path(tmp), "profiled", span(1))
            profiler.dump_stats(args.profile)
            print(f"profile of one 1-year run written to {args.profile}")
        results: dict[int, Result] = {}
        for years in lengths:
            runs = []
            for i in range(args.repeat):
                result = in_process_once(Path(tmp), f"bench{years}y{i}", span(years))
                runs.append(result)
                print(f"{years}y run {i + 1}: {result.days} trading days in {result.seconds:.2f} s = "
                      f"{result.rate:.1f} days/s ({result.cpu_rate:.1f} per CPU second)", flush=True)
            results[years] = sorted(runs, key=lambda r: r.rate)[len(runs) // 2]  # the median run
        base = results[1]
        print(f"\n{'years':>5} {'days':>5} {'days/s':>8} {'x 1y':>6} {'CPU d/s':>8} {'x 1y':>6} "
              f"{'log B/day':>10} {'x 1y':>6} {'summary %':>9} {'summary max B':>13}")
        for years, r in results.items():
            print(f"{years:>5} {r.days:>5} {r.rate:>8.1f} {r.rate / base.rate:>6.2f} {r.cpu_rate:>8.1f} "
                  f"{r.cpu_rate / base.cpu_rate:>6.2f} {r.bytes_per_day:>10.0f} "
                  f"{r.bytes_per_day / base.bytes_per_day:>6.2f} {100 * r.summary_bytes / r.log_bytes:>9.1f} "
                  f"{r.summary_max:>13}")
        for years, r in results.items():
            if years > 1:
                first, last = r.year_rates()
                print(f"{years}y run: first year {first:.1f}, last year {last:.1f} days per CPU second "
                      f"(last/first {last / first:.2f})")
        print(f"in-process (10 tickers, rules agents, skills in-process): 1 year median {base.rate:.1f} "
              f"trading days/s ({base.cpu_rate:.1f} per CPU second; target 300); peak RSS {peak_rss_mb():.0f} MB; "
              f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        if args.via_gateway:
            from bench.gateway_backtest import run_via_gateway

            gw_days, gw_seconds = run_via_gateway(Path(tmp), span(1))
            gw_rate = gw_days / gw_seconds
            print(f"via Gateway + 1 client (curves=incremental): {gw_rate:.1f} trading days/s; overhead "
                  f"{(base.rate / gw_rate - 1) * 100:.0f} % over in-process")


if __name__ == "__main__":
    main()
