"""Replaying an 8-year run in the desk: how long the event loop stalls, against the same loop idle.

Uses the 8-year run that ``bench/trading_load.py`` generates and caches
(``--cache``; generated here the same way when missing). The app side is the
real thing, offscreen: a ``MainWindow`` with the Live panel on one qasync
loop; the run is replayed as fast as possible (``speed=0``) through
``LivePanel.replay``, from the local events.jsonl or, with ``--remote``,
streamed page by page from a real runtime_service subprocess with a viewer
token (``GET /runs/{id}/events``, as a remote profile does). A 5 ms asyncio
heartbeat measures the loop's lateness during the replay, and, as the
baseline measured in the same run, for ``--idle`` seconds with the window
shown and nothing replaying (what the machine's other load costs the loop).

    QT_QPA_PLATFORM=offscreen .venv/bin/python bench/replay_stall.py [--remote] [--years 8]

Printed: events replayed and events/s, RSS growth, and stall p50/p99/max
during the replay beside the idle loop's.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
import types
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import trading_load  # noqa: E402

TOKEN = "bench-replay-viewer-token-01234"


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


async def heartbeat(samples: list[float], stop: list[bool]) -> None:
    period = 0.005
    while not stop[0]:
        t0 = time.perf_counter()
        await asyncio.sleep(period)
        samples.append((time.perf_counter() - t0 - period) * 1000)


async def measure(log: Path, idle: float, remote_url: str | None, run_id: str) -> dict[str, Any]:
    import psutil

    from app.models import live_model
    from app.models.settings_store import AppSettings, MemorySettings
    from app.qt.main_window import MainWindow
    from app.qt.panels.live import LivePanel
    from app.session import Session
    from backend.clients.services import runtime_client

    from app.qt.gc_policy import collect_on_gui_thread, freeze_startup_objects

    collect_on_gui_thread()  # as the desk does (app/main.py): the collector runs from a GUI-thread timer
    me = psutil.Process()
    session = Session(health_interval=3600)
    window = MainWindow(session, AppSettings(MemorySettings()), panel_classes=[LivePanel])
    window.resize(1600, 1000)
    window.show()
    panel = window.panel("live")
    freeze_startup_objects()  # as app/main.py does once the panels are up
    if os.environ.get("REPLAY_NO_VIEW"):  # diagnosis: the model alone, the panel's refresh a no-op
        panel.throttle._refresh = lambda: None

    idle_samples: list[float] = []
    stop = [False]
    beat = asyncio.get_running_loop().create_task(heartbeat(idle_samples, stop))
    await asyncio.sleep(idle)
    stop[0] = True
    await beat

    client = runtime_client(remote_url, TOKEN) if remote_url else None
    source: Any = client.event_lines(run_id) if client is not None else log
    samples: list[float] = []
    stop = [False]
    # The replay's own slices (the time between two of its yields): what it holds the loop for itself.
    slices: list[float] = []
    mark = [time.perf_counter()]
    real_yield = live_model._yield_to_loop

    @types.coroutine
    def timed_yield() -> Any:
        slices.append((time.perf_counter() - mark[0]) * 1000)
        yield
        mark[0] = time.perf_counter()

    async def timed_source(lines: Any) -> Any:
        # Time spent awaiting the next page (the loop is free then) is not the replay's slice.
        iterator = lines.__aiter__()
        while True:
            t = time.perf_counter()
            try:
                line = await iterator.__anext__()
            except StopAsyncIteration:
                return
            mark[0] += time.perf_counter() - t
            yield line

    if client is None:
        source = live_model._file_lines(log)  # what LiveModel.replay reads a path with
    source = timed_source(source)

    live_model._yield_to_loop = timed_yield
    beat = asyncio.get_running_loop().create_task(heartbeat(samples, stop))
    rss0 = me.memory_info().rss
    t0 = time.perf_counter()
    mark[0] = t0
    try:
        applied = await panel.replay(source, 0, name=run_id)
    finally:
        live_model._yield_to_loop = real_yield
    wall = time.perf_counter() - t0
    stop[0] = True
    await beat
    result = {"applied": applied, "refused": panel.model.refused, "seconds": round(wall, 2),
              "events_per_s": round(applied / wall, 1), "rss_growth_mb": round((me.memory_info().rss - rss0) / 2**20, 1),
              "equity_points": len(panel.model.curves["equity"]),
              "replay_stall_ms": {"p50": round(pct(samples, 0.5), 2), "p99": round(pct(samples, 0.99), 2),
                                  "max": round(max(samples), 2), "samples": len(samples)},
              "replay_own_slice_ms": {"p50": round(pct(slices, 0.5), 2), "p99": round(pct(slices, 0.99), 2),
                                      "max": round(max(slices), 2), "slices": len(slices)},
              "idle_stall_ms": {"p50": round(pct(idle_samples, 0.5), 2), "p99": round(pct(idle_samples, 0.99), 2),
                                "max": round(max(idle_samples), 2), "samples": len(idle_samples)}}
    if client is not None:
        await client.http.aclose()
    await window.shutdown()
    window.hide()
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--years", type=int, default=8)
    parser.add_argument("--cache", type=Path, default=None)
    parser.add_argument("--remote", action="store_true", help="stream the run from a runtime_service subprocess")
    parser.add_argument("--idle", type=float, default=3.0, help="seconds of the idle baseline")
    args = parser.parse_args()
    trading_load.RUN_ID = run_id = f"bench-{args.years}y"
    cache = args.cache or Path(tempfile.gettempdir()) / "evotraders-bench" / \
        f"trading-{args.years}y-{trading_load.schema_digest()}"
    root = trading_load.ensure_run(cache, args.years)
    log = root / "runs" / run_id / "logs" / "events.jsonl"
    server = None
    url = None
    if args.remote:
        port = trading_load._free_port()
        url = f"http://127.0.0.1:{port}"
        env = {k: v for k, v in os.environ.items() if not k.startswith(("EVOTRADERS_", "AGENT_"))}
        env.update(RUNS_DIR=str(root / "runs"), WORKSPACES_DIR=str(root / "ws"), EVOTRADERS_VIEWER_TOKEN=TOKEN,
                   EVOTRADERS_ADMIN_TOKEN=TOKEN + "-admin")
        server = subprocess.Popen([sys.executable, "-m", "backend.apps.runtime_service", "--port", str(port)],
                                  env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                  start_new_session=True)
        trading_load._wait_health(url, server, "runtime_service")
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    import qasync
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setQuitOnLastWindowClosed(False)
    loop = qasync.QEventLoop(app)
    try:
        result = loop.run_until_complete(measure(log, args.idle, url, run_id))
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=10)
    result.update(years=args.years, source="runtime_service (streamed)" if args.remote else "local events.jsonl",
                  log_mb=round(log.stat().st_size / 1e6, 1), load_average=os.getloadavg())
    print(json.dumps(result, indent=2))
    r, i, o = result["replay_stall_ms"], result["idle_stall_ms"], result["replay_own_slice_ms"]
    print(f"replay of a {args.years}-year run ({result['source']}): {result['applied']} events in "
          f"{result['seconds']} s; loop stall p99 {r['p99']} ms, max {r['max']} ms (the replay's own slices p99 "
          f"{o['p99']} ms, max {o['max']} ms); idle loop p99 {i['p99']} ms, max {i['max']} ms "
          f"(ratio p99 {round(r['p99'] / max(i['p99'], 1e-3), 2)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
