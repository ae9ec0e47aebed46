"""trading_service under load on an 8-year run: 50 concurrent clients, against a bare uvicorn serving the same bytes.

Generates an 8-year backtest once (10 tickers, ``rules`` agents, 2016-01-04 ..
2023-12-31) and keeps it under ``--cache`` (default
``/tmp/evotraders-bench/trading-8y-<schema digest>``, so a changed state
schema makes a new one). Starts ``python -m backend.apps.trading_service``
on a free loopback port with a viewer token, warms it (every path of the
mix once), then runs ``--clients`` closed-loop clients over keep-alive
connections, in their own process, for ``--requests`` requests or
``--seconds``. The mix: portfolio, holdings, stats, metrics, leaderboard,
prices, the whole curves, trades pages all over the run (filtered by ticker
and dates or not) and signals pages (by ticker, date, agent). The baseline is
measured in the same run: a bare uvicorn + FastAPI process answering each
path of the mix with the very bytes trading_service answered (a dictionary
lookup), under the same client load.

    .venv/bin/python bench/trading_load.py [--clients 50] [--requests 20000] [--seconds 30] [--years 8]

Target (issue 13): p99 < 100 ms and no errors with 50 clients.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import random
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import httpx
import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.http_load import free_port, load, wait_health  # noqa: E402

RUN_ID = "bench-8y"  # set from --years in main()
TOKEN = "bench-trading-viewer-token-0123"
TARGET_P99_MS = 100.0
TICKERS = "AAPL,MSFT,GOOGL,NVDA,TSLA,META,AMZN,JPM,XOM,UNH"
AGENTS = ("technical_analyst", "fundamentals_analyst", "sentiment_analyst", "valuation_analyst")
BARE_SERVER = textwrap.dedent("""
    import json, sys
    import uvicorn
    from fastapi import FastAPI, Request, Response

    answers = {k: v.encode("latin-1") for k, v in json.load(open(sys.argv[2])).items()}
    app = FastAPI()

    @app.get("/health")
    def health() -> dict:
        return {"status": "ok"}

    @app.get("/{path:path}")
    def answer(path: str, request: Request) -> Response:
        key = request.url.path + ("?" + request.url.query if request.url.query else "")
        return Response(answers[key], media_type="application/json")

    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")
""")


def schema_digest() -> str:
    digest = hashlib.sha256()
    for path in sorted((ROOT / "backend" / "schema").glob("*.py")):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def ensure_run(cache: Path, years: int) -> Path:
    """The cached run folder root (``cache/runs``), generated when missing."""
    done = cache / "runs" / RUN_ID / "state" / "runtime_state.json"
    if done.is_file() and json.loads(done.read_text()).get("status") == "completed":
        return cache
    import shutil

    shutil.rmtree(cache, ignore_errors=True)
    cache.mkdir(parents=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("EVOTRADERS_", "AGENT_"))}
    env.update(RUNS_DIR=str(cache / "runs"), WORKSPACES_DIR=str(cache / "ws"))
    end = f"{2016 + years - 1}-12-31"
    t0 = time.perf_counter()
    subprocess.run([str(Path(sys.executable).parent / "evotraders"), "backtest", "--run-id", RUN_ID,
                    "--start", "2016-01-04", "--end", end, "--tickers", TICKERS], env=env, cwd=ROOT, check=True,
                   capture_output=True)
    print(f"{years}-year backtest generated in {time.perf_counter() - t0:.1f} s (cached in {cache})")
    return cache


def paths_mix(seed: int, years: int, trades: int) -> list[str]:
    rng = random.Random(seed)
    base = f"/runs/{RUN_ID}"
    tickers = TICKERS.split(",")
    mix = [f"{base}/portfolio"] * 4 + [f"{base}/curves"] * 2 + [f"{base}/leaderboard"] * 2 + \
          [f"{base}/stats", f"{base}/holdings", f"{base}/metrics", f"{base}/prices"]
    mix += [f"{base}/trades?limit=100&offset={rng.randrange(0, max(trades - 100, 1))}" for _ in range(8)]
    for _ in range(6):
        year = 2016 + rng.randrange(years)
        mix.append(f"{base}/trades?ticker={rng.choice(tickers)}&date_from={year}-03-01&date_to={year}-09-30")
    for _ in range(3):
        year = 2016 + rng.randrange(years)
        mix.append(f"{base}/signals?ticker={rng.choice(tickers)}&limit=100")
        mix.append(f"{base}/signals?date={year}-06-1{rng.randrange(3, 7)}")
        mix.append(f"{base}/signals?agent_id={rng.choice(AGENTS)}&offset={rng.randrange(0, 5000)}&limit=50")
    return mix


# -- client side (a separate process) -------------------------------------------------------
def client_main(argv: list[str]) -> None:
    host, port, clients, requests, seconds, paths_file = (argv[0], int(argv[1]), int(argv[2]), int(argv[3]),
                                                          float(argv[4]), argv[5])
    if hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) > 1:
        os.sched_setaffinity(0, {os.cpu_count() - 1})
    paths = json.loads(Path(paths_file).read_text())
    print(json.dumps(asyncio.run(load(host, port, TOKEN, paths, clients, requests, seconds))))


# -- orchestration -------------------------------------------------------------------------------
def _run_load(port: int, server: subprocess.Popen, paths_file: Path, args: argparse.Namespace) -> dict:
    cpu = psutil.Process(server.pid)
    before = sum(cpu.cpu_times()[:2])
    out = subprocess.run([sys.executable, __file__, "--as-client", "127.0.0.1", str(port), str(args.clients),
                          str(args.requests), str(args.seconds), str(paths_file)], cwd=ROOT, capture_output=True,
                         text=True, check=True)
    result = json.loads(out.stdout)
    result["server_cpu_ms_per_request"] = round((sum(cpu.cpu_times()[:2]) - before) * 1000
                                                / max(result["requests"], 1), 3)
    return result


def _pin(pid: int) -> None:
    if hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) > 1:
        os.sched_setaffinity(pid, {0})


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--requests", type=int, default=20_000, help="total requests per server (upper bound)")
    parser.add_argument("--seconds", type=float, default=30.0, help="time limit of each load phase")
    parser.add_argument("--years", type=int, default=8)
    parser.add_argument("--cache", type=Path, default=None)
    args = parser.parse_args()
    global RUN_ID
    RUN_ID = f"bench-{args.years}y"
    cache = args.cache or Path(tempfile.gettempdir()) / "evotraders-bench" / f"trading-{args.years}y-{schema_digest()}"
    root = ensure_run(cache, args.years)
    run = root / "runs" / RUN_ID
    trades = sum(1 for _ in open(run / "state" / "trades.jsonl", "rb"))
    paths = paths_mix(1, args.years, trades)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("EVOTRADERS_", "AGENT_"))}
    env.update(RUNS_DIR=str(root / "runs"), WORKSPACES_DIR=str(root / "ws"), PYTHONUNBUFFERED="1",
               EVOTRADERS_VIEWER_TOKEN=TOKEN)
    with tempfile.TemporaryDirectory(prefix="trading-load-") as tmp:
        paths_file = Path(tmp) / "paths.json"
        paths_file.write_text(json.dumps(paths))
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        server = subprocess.Popen([sys.executable, "-m", "backend.apps.trading_service", "--port", str(port)],
                                  env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                  start_new_session=True)
        bare = None
        try:
            _pin(server.pid)
            wait_health(url, server, "trading_service")
            answers = {}
            t0 = time.perf_counter()
            for path in sorted(set(paths)):  # warm the caches, check every path, keep the bytes for the baseline
                answer = httpx.get(url + path, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=120)
                if answer.status_code != 200:
                    raise SystemExit(f"warm-up {path}: {answer.status_code} {answer.text[:200]}")
                answers[path] = answer.content.decode("latin-1")
            warm_s = time.perf_counter() - t0
            ours = _run_load(port, server, paths_file, args)
            answers_file = Path(tmp) / "answers.json"
            answers_file.write_text(json.dumps(answers))
            bare_port = free_port()
            bare = subprocess.Popen([sys.executable, "-c", BARE_SERVER, str(bare_port), str(answers_file)], cwd=ROOT,
                                    stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
            _pin(bare.pid)
            wait_health(f"http://127.0.0.1:{bare_port}", bare, "the bare uvicorn server")
            baseline = _run_load(bare_port, bare, paths_file, args)
        finally:
            for proc in (server, bare):
                if proc is not None and proc.poll() is None:
                    proc.terminate()
                    proc.wait(timeout=10)
    result = {"years": args.years, "clients": args.clients, "events_log_mb": round(
        (run / "logs" / "events.jsonl").stat().st_size / 1e6, 1), "trades_in_run": trades,
        "warm_up_s (first reads: state, trades, events index)": round(warm_s, 2),
        "trading_service": ours, "bare_same_bytes": baseline,
        "ratio_p99": round(ours["p99_ms"] / max(baseline["p99_ms"], 1e-6), 2), "load_average": os.getloadavg()}
    print(json.dumps(result, indent=2))
    ok = ours["errors"] == 0 and ours["p99_ms"] < TARGET_P99_MS
    print(f"{'PASS' if ok else 'MISS'}: {args.years}-year run, {args.clients} clients: {ours['requests_per_s']} req/s, "
          f"p50 {ours['p50_ms']} ms, p99 {ours['p99_ms']} ms (target < {TARGET_P99_MS:.0f} ms), "
          f"{ours['errors']} errors; bare uvicorn with the same bytes p99 {baseline['p99_ms']} ms "
          f"(ratio {result['ratio_p99']})")
    return 0 if ok else 1


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--as-client":
        client_main(sys.argv[2:])
    else:
        sys.exit(main())
