"""trading_service under load: 50 concurrent clients reading a one-year run.

Creates a one-year backtest (2024-01-02 .. 2024-12-31, six tickers) in a
temporary folder, starts ``python -m backend.apps.trading_service`` on a free
loopback port with a viewer token configured, then runs ``--clients``
closed-loop clients (each sends its next request as soon as the previous
answer is read) over keep-alive connections for ``--requests`` requests in
all or ``--seconds``, whichever comes first. The mix is portfolio, a trades
page (filtered or not), curves and leaderboard. The clients speak raw
HTTP/1.1 on asyncio streams, in their own process (pinned to another core
when there is one), so that the server, not the client, is measured.

    .venv/bin/python bench/services_load.py [--clients 50] [--requests 20000] [--seconds 30]

Target: p99 < 100 ms and no errors with 50 clients. Besides requests/s and
latency it prints the server's CPU time per request, which other load on
the machine moves far less than latency.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.http_load import free_port, load, wait_health  # noqa: E402

RUN_ID = "bench-year"
TOKEN = "bench-viewer-token-0123456789"
TARGET_P99_MS = 100.0


def paths_mix(seed: int) -> list[str]:
    """The request mix: portfolio, trades pages, curves, leaderboard (and a few cheap views)."""
    rng = random.Random(seed)
    base = f"/runs/{RUN_ID}"
    trades = [f"{base}/trades?limit=100&offset={rng.randrange(0, 400)}" for _ in range(20)]
    trades += [f"{base}/trades?ticker={t}&date_from=2024-03-01&date_to=2024-09-30"
               for t in ("AAPL", "MSFT", "NVDA", "TSLA", "META", "GOOGL")]
    mix = [f"{base}/portfolio"] * 4 + [f"{base}/curves"] * 2 + [f"{base}/leaderboard"] * 2 + \
          [f"{base}/stats", f"{base}/holdings"]
    return mix + rng.sample(trades, 8)


# -- client side (a separate process) -------------------------------------------------------
def client_main(argv: list[str]) -> None:
    host, port, clients, requests, seconds = argv[0], int(argv[1]), int(argv[2]), int(argv[3]), float(argv[4])
    if hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) > 1:
        os.sched_setaffinity(0, {os.cpu_count() - 1})
    print(json.dumps(asyncio.run(load(host, port, TOKEN, paths_mix(1), clients, requests, seconds))))


# -- orchestration -------------------------------------------------------------------------------
def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--requests", type=int, default=20_000, help="total requests (upper bound)")
    parser.add_argument("--seconds", type=float, default=30.0, help="time limit of the load phase")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="svc-load-") as tmp:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("EVOTRADERS_", "AGENT_"))}
        env.update(RUNS_DIR=f"{tmp}/runs", WORKSPACES_DIR=f"{tmp}/workspaces", PYTHONUNBUFFERED="1")
        t0 = time.perf_counter()
        subprocess.run([str(Path(sys.executable).parent / "evotraders"), "backtest", "--run-id", RUN_ID,
                        "--start", "2024-01-02", "--end", "2024-12-31"], env=env, cwd=ROOT, check=True,
                       capture_output=True)
        print(f"one-year backtest created in {time.perf_counter() - t0:.1f} s")
        trades = sum(1 for _ in open(f"{tmp}/runs/{RUN_ID}/state/trades.jsonl"))
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        server_env = {**env, "EVOTRADERS_VIEWER_TOKEN": TOKEN}
        server = subprocess.Popen([sys.executable, "-m", "backend.apps.trading_service", "--port", str(port)],
                                  env=server_env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                  start_new_session=True)
        try:
            if hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) > 1:
                os.sched_setaffinity(server.pid, {0})
            wait_health(url, server, "trading_service", timeout=30.0)
            auth = {"Authorization": f"Bearer {TOKEN}"}
            for path in paths_mix(1):  # warm the caches, and check every path answers
                answer = httpx.get(url + path, headers=auth, timeout=10.0)
                if answer.status_code != 200:
                    raise SystemExit(f"warm-up {path}: {answer.status_code} {answer.text[:200]}")
            cpu = psutil.Process(server.pid)
            cpu_before = sum(cpu.cpu_times()[:2])
            out = subprocess.run([sys.executable, __file__, "--as-client", "127.0.0.1", str(port), str(args.clients),
                                  str(args.requests), str(args.seconds)], cwd=ROOT, capture_output=True, text=True,
                                 check=True)
            result = json.loads(out.stdout)
            # CPU the server spent per answer: unlike latency, barely moved by other load on the machine.
            result["server_cpu_ms_per_request"] = round(
                (sum(cpu.cpu_times()[:2]) - cpu_before) * 1000 / max(result["requests"], 1), 3)
        finally:
            server.terminate()
            server.wait(timeout=10)
    result["trades_in_run"] = trades
    print(json.dumps(result, indent=2))
    ok = result["errors"] == 0 and result["p99_ms"] < TARGET_P99_MS
    print(f"{'PASS' if ok else 'MISS'}: {result['requests_per_s']} req/s, p50 {result['p50_ms']} ms, "
          f"p99 {result['p99_ms']} ms (target < {TARGET_P99_MS:.0f} ms), {result['errors']} errors")
    return 0 if ok else 1


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--as-client":
        client_main(sys.argv[2:])
    else:
        sys.exit(main())
