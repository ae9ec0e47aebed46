"""Run history at scale: runtime_service listing 1,000 runs, and the desk's Run history panel opening and sorting them.

Creates ``--runs`` runs (BOOTSTRAP.md, runtime_state.json and a
server_state.json with whole one-year curves and the final metrics, written
atomically as a Gateway writes them) in a temporary runs/ folder, starts a
real ``python -m backend.apps.runtime_service`` on a free loopback port with
a viewer token, and measures ``GET /runs`` (sequential requests on one
keep-alive connection) against the ceiling measured in the same run: a bare
uvicorn + FastAPI process whose one route returns the very same bytes. It
also times reading every run's files once (what each listing cost before the
run index), and the Run history panel (offscreen) opening the listing and
sorting it by every column.

    QT_QPA_PLATFORM=offscreen .venv/bin/python bench/run_history.py [--runs 1000] [--requests 300]

Targets (issue 13): list p95 < 100 ms; panel open + sort < 1 s.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.http_load import free_port, wait_health  # noqa: E402

from backend.schema.bootstrap import BootstrapConfig  # noqa: E402
from backend.storage.atomic import atomic_write_json, atomic_write_text  # noqa: E402
from backend.storage.bootstrap_file import render_bootstrap  # noqa: E402
from backend.storage.run_index import build_row  # noqa: E402

TOKEN = "bench-history-viewer-token-0123"
TARGET_LIST_P95_MS = 100.0
TARGET_PANEL_S = 1.0
BARE_SERVER = textwrap.dedent("""
    import sys
    import uvicorn
    from fastapi import FastAPI, Response

    body = open(sys.argv[2], "rb").read()
    app = FastAPI()

    @app.get("/runs")
    def runs() -> Response:
        return Response(body, media_type="application/json")

    @app.get("/health")
    def health() -> dict:
        return {"status": "ok"}

    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")
""")


def make_runs(runs_dir: Path, count: int, seed: int = 1) -> None:
    """``count`` finished (or stopped, failed) runs of one year each, with whole curves and final metrics."""
    import datetime as dt

    rng = random.Random(seed)
    curve_days = 252
    for i in range(count):
        run_id = f"2026{i:04d}T000000Z-{rng.randrange(16**4):04x}"
        start = dt.date(2015, 1, 2) + dt.timedelta(days=rng.randrange(0, 3000))
        config = BootstrapConfig(run_id=run_id, tickers=["AAPL", "MSFT", "NVDA"], start_date=start,
                                 end_date=start + dt.timedelta(days=365))
        root = runs_dir / run_id
        atomic_write_text(root / "BOOTSTRAP.md", render_bootstrap(config, "bench run\n"), fsync=False)
        status = rng.choice(("completed", "completed", "completed", "stopped", "failed"))
        metrics = {"final_equity": 100_000 * (1 + rng.uniform(-0.3, 0.6)), "total_return_pct": rng.uniform(-30, 60),
                   "excess_return_pct": {"baseline": rng.uniform(-9, 9), "baseline_vw": rng.uniform(-9, 9),
                                         "momentum": rng.uniform(-9, 9)},
                   "max_drawdown_pct": rng.uniform(0, 40), "sharpe": rng.uniform(-2, 3),
                   "trades": rng.randrange(0, 3000), "win_rate": rng.random()}
        t0 = 1_420_000_000_000 + i * 1000
        curves = {name: [{"t": t0 + d * 86_400_000, "v": 100_000 + d * 3.5} for d in range(curve_days)]
                  for name in ("equity", "baseline", "baseline_vw", "momentum")}
        atomic_write_json(root / "state" / "server_state.json",
                          {"run_id": run_id, "status": status, "portfolio": curves, "metrics": metrics},
                          fsync=False, indent=None)
        atomic_write_json(root / "state" / "runtime_state.json",
                          {"run_id": run_id, "status": status, "progress": 1.0, "current_date": None,
                           "updated_at": "2026-01-01T00:00:00+00:00"}, fsync=False, indent=None)


def measure_list(url: str, requests: int) -> tuple[dict, bytes]:
    """p50/p95/max of GET /runs on one keep-alive connection; returns the figures and the last body."""
    times = []
    body = b""
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30) as client:
        for _ in range(5):  # warm: the first listing builds the index (or reads the index file)
            client.get("/runs").raise_for_status()
        for _ in range(requests):
            started = time.perf_counter()
            answer = client.get("/runs")
            times.append((time.perf_counter() - started) * 1000)
            answer.raise_for_status()
            body = answer.content
    q = statistics.quantiles(times, n=100, method="inclusive")
    return {"p50_ms": round(q[49], 2), "p95_ms": round(q[94], 2), "max_ms": round(max(times), 2)}, body


def measure_panel(url: str) -> dict:
    """The Run history panel, offscreen: refresh from runtime_service, fill and show the table, sort each column."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import Qt
    from PySide6.QtWidgets import QApplication

    from app.models.history_model import HistoryModel
    from app.qt.panels.history import HistoryPanel
    from backend.clients.services import runtime_client

    app = QApplication.instance() or QApplication([])
    client = runtime_client(url, TOKEN)
    started = time.perf_counter()
    model = HistoryModel(client)
    panel = HistoryPanel(model)
    panel.resize(1400, 800)
    asyncio.run(model.refresh())  # GET /runs and the rows validated into RunRow
    fetched = time.perf_counter()
    panel.throttle.flush()
    panel.show()
    app.processEvents()  # painted
    opened = time.perf_counter()
    sorts = []
    for column in range(panel.table_model.columnCount()):
        for order in (Qt.SortOrder.AscendingOrder, Qt.SortOrder.DescendingOrder):
            t = time.perf_counter()
            panel.runs.sortByColumn(column, order)
            app.processEvents()
            sorts.append(time.perf_counter() - t)
    rows = panel.table_model.rowCount()
    panel.close()
    panel.deleteLater()
    app.processEvents()
    return {"rows": rows, "fetch_s": round(fetched - started, 3), "open_s": round(opened - started, 3),
            "sort_median_ms": round(statistics.median(sorts) * 1000, 2), "sort_max_ms": round(max(sorts) * 1000, 2),
            "open_plus_slowest_sort_s": round(opened - started + max(sorts), 3)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--requests", type=int, default=300)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="run-history-") as tmp:
        runs_dir = Path(tmp) / "runs"
        t0 = time.perf_counter()
        make_runs(runs_dir, args.runs)
        print(f"{args.runs} runs written in {time.perf_counter() - t0:.1f} s")
        t0 = time.perf_counter()
        for p in runs_dir.iterdir():
            build_row(p)
        whole_read_ms = (time.perf_counter() - t0) * 1000
        time.sleep(1.1)  # past the run index's racy window: the files are now "old" to it

        env = {k: v for k, v in os.environ.items() if not k.startswith(("EVOTRADERS_", "AGENT_"))}
        env.update(RUNS_DIR=str(runs_dir), WORKSPACES_DIR=f"{tmp}/ws", PYTHONUNBUFFERED="1",
                   EVOTRADERS_VIEWER_TOKEN=TOKEN)
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        ours = subprocess.Popen([sys.executable, "-m", "backend.apps.runtime_service", "--port", str(port)], env=env,
                                cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
        bare = None
        try:
            wait_health(url, ours, "runtime_service")
            t0 = time.perf_counter()
            first = httpx.get(f"{url}/runs", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=60)
            first.raise_for_status()
            cold_ms = (time.perf_counter() - t0) * 1000
            listed, body = measure_list(url, args.requests)
            rows = json.loads(body)
            assert len(rows) == args.runs and all(r["metrics"] for r in rows), "the listing lacks runs or figures"
            body_file = Path(tmp) / "runs.json"
            body_file.write_bytes(body)
            bare_port = free_port()
            bare_url = f"http://127.0.0.1:{bare_port}"
            bare = subprocess.Popen([sys.executable, "-c", BARE_SERVER, str(bare_port), str(body_file)], cwd=ROOT,
                                    stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
            wait_health(bare_url, bare, "the bare uvicorn server")
            baseline, _ = measure_list(bare_url, args.requests)
            panel = measure_panel(url)
        finally:
            for proc in (ours, bare):
                if proc is not None and proc.poll() is None:
                    proc.terminate()
                    proc.wait(timeout=10)
    result = {"runs": args.runs, "body_bytes": len(body), "runtime_service": listed, "bare_same_bytes": baseline,
              "ratio_p95": round(listed["p95_ms"] / max(baseline["p95_ms"], 1e-6), 2),
              "first_listing_ms (index built)": round(cold_ms, 1),
              "reading every run's files once (no index) ms": round(whole_read_ms, 1), "panel": panel,
              "load_average": os.getloadavg()}
    print(json.dumps(result, indent=2))
    ok = listed["p95_ms"] < TARGET_LIST_P95_MS and panel["open_plus_slowest_sort_s"] < TARGET_PANEL_S
    print(f"{'PASS' if ok else 'MISS'}: GET /runs of {args.runs} runs p50 {listed['p50_ms']} ms, p95 "
          f"{listed['p95_ms']} ms (target < {TARGET_LIST_P95_MS:.0f}; bare uvicorn with the same bytes p95 "
          f"{baseline['p95_ms']} ms, ratio {result['ratio_p95']}); panel open {panel['open_s']} s + slowest sort "
          f"{panel['sort_max_ms']} ms (target < {TARGET_PANEL_S:.0f} s)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
