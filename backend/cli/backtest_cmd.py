"""`evotraders backtest`: create a run from a workspace and run it headless."""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import sys
from typing import Any, get_args

from backend.schema.sandbox import SandboxMode


def _date(text: str) -> str:
    try:
        return dt.date.fromisoformat(text).isoformat()
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid date {text!r}: use YYYY-MM-DD") from None


def _tickers(text: str) -> list[str]:
    return [t.strip().upper() for t in text.split(",") if t.strip()]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--start", type=_date, default=None, help="first date (YYYY-MM-DD)")
    parser.add_argument("--end", type=_date, default=None, help="last date (YYYY-MM-DD)")
    parser.add_argument("--tickers", type=_tickers, default=None, help="comma-separated, e.g. AAPL,MSFT")
    parser.add_argument("--seed", type=int, default=None, help="synthetic market seed")
    parser.add_argument("--run-id", default=None, help="run id (default: timestamp + suffix)")
    parser.add_argument("--workspace", default="default", help="workspace to create the run from")
    parser.add_argument("--csv-dir", default=None, help="use CSV market data from this folder")
    parser.add_argument("--market-profile", choices=["default", "regimes"], default=None,
                        help="the synthetic market's profile (regimes: which signals pay switches over time)")
    parser.add_argument("--evolution", choices=["evolving", "frozen"], default=None,
                        help="frozen: the team keeps its day-0 weights and trust (reflection does not adapt)")
    parser.add_argument("--sandbox", choices=list(get_args(SandboxMode)), default=None,
                        help="ask for this skill sandbox (at least SKILL_SANDBOX_MODE / the saved setting)")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    parser.set_defaults(func=run)


def _overrides(args: argparse.Namespace, base_market: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"start_date": args.start, "end_date": args.end, "tickers": args.tickers,
                           "sandbox_mode": args.sandbox, "mode": "backtest",
                           "evolution": getattr(args, "evolution", None)}
    market = dict(base_market)
    if args.seed is not None:
        market["seed"] = args.seed
    if args.csv_dir is not None:
        market.update(kind="csv", csv_dir=args.csv_dir)
    if getattr(args, "market_profile", None) is not None:
        market["profile"] = args.market_profile
    out["market"] = market
    return out


class Progress:
    """A one-line progress bar on a terminal; silent otherwise."""

    def __init__(self, stream=sys.stderr) -> None:
        self.stream = stream
        self.enabled = stream.isatty()

    def __call__(self, done: int, total: int, date: str) -> None:
        if not self.enabled:
            return
        width = 30
        filled = int(width * done / max(total, 1))
        self.stream.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total} {date}")
        self.stream.flush()
        if done == total:
            self.stream.write("\n")


def run(args: argparse.Namespace) -> int:
    from backend.config import get_settings
    from backend.pipeline.engine import RunEngine
    from backend.storage.bootstrap_file import read_bootstrap
    from backend.storage.run_store import RunStore

    settings = get_settings()
    store = RunStore.from_settings(settings)
    template, _ = read_bootstrap(store.workspaces.require(args.workspace) / "BOOTSTRAP.md")
    overrides = _overrides(args, template.market.model_dump(mode="json", exclude_none=True))
    # Build the engine before anything is written that could be left half-done:
    # a bad ticker or CSV fails here and the just-created run folder is removed.
    run_id = store.create_run(args.workspace, run_id=args.run_id, overrides=overrides)
    try:
        engine = RunEngine(store, run_id, settings, write_every_stage=False)
    except Exception:
        import shutil

        shutil.rmtree(store.paths(run_id).root, ignore_errors=True)
        raise
    status = asyncio.run(_drive(engine, Progress()))
    summary = build_summary(engine, status)
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print(format_summary(summary))
    return 0 if status == "completed" else 1


async def _drive(engine: Any, progress: Progress) -> str:
    try:
        return await engine.run(on_day=progress)
    finally:
        await engine.close()


def build_summary(engine: Any, status: str) -> dict[str, Any]:
    from backend.pipeline.state_files import run_metrics

    metrics = run_metrics(engine)
    return {
        "run_id": engine.run_id,
        "status": status,
        "run_dir": str(engine.paths.root),
        "start_date": engine.config.start_date.isoformat(),
        "end_date": engine.config.end_date.isoformat(),
        "tickers": engine.config.tickers,
        "trading_days": engine.state.days_completed,
        **metrics,
        "leaderboard": [{"agentId": r["agentId"], "rank": r["rank"], "winRate": r["winRate"],
                         "bull": r["bull"], "bear": r["bear"]} for r in engine.state.leaderboard.rows()],
    }


def format_summary(s: dict[str, Any]) -> str:
    lines = [
        f"Run {s['run_id']} {s['status']}: {s['trading_days']} trading days "
        f"{s['start_date']} .. {s['end_date']} on {', '.join(s['tickers'])}",
        f"  final equity     {s['final_equity']:>14,.2f}",
        f"  total return     {s['total_return_pct']:>13.2f} %",
    ]
    for name, label in (("baseline", "equal-weight"), ("baseline_vw", "value-weight"), ("momentum", "momentum")):
        value = (s.get("excess_return_pct") or {}).get(name)
        shown = f"{value:>+13.2f} %" if value is not None else f"{'n/a':>15}"
        lines.append(f"  vs {label:<13} {shown}")
    lines += [
        f"  max drawdown     {s['max_drawdown_pct']:>13.2f} %",
        f"  Sharpe           {s['sharpe']:>15.2f}",
        f"  trades           {s['trades']:>15d}",
        "  leaderboard:",
    ]
    for row in s["leaderboard"]:
        lines.append(f"    {row['rank']}. {row['agentId']:<22} win rate {row['winRate']:.0%} "
                     f"(bull {row['bull']['win']}/{row['bull']['n']}, bear {row['bear']['win']}/{row['bear']['n']})")
    lines.append(f"  files: {s['run_dir']}")
    return "\n".join(lines)
