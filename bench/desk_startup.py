"""Desktop startup benchmark: launch to window shown, and to local stack healthy.

1. ``evotraders desk --quit-after-shown`` as a fresh process, ``--runs`` times
   (offscreen): wall time from spawn to the "window shown" line (the
   interpreter start and every import included), plus the app's own figure
   (from ``run()`` to the window shown), and to every panel built (panels are
   imported once the window is on screen). Target: shown under 1 s.
2. The local stack as the app starts it (``Session.start_local_stack`` with a
   ``LocalStack`` on free ports, temporary runs/workspaces): from the click to
   every service healthy, then ``down()``. Target: under 2.5 s.

    .venv/bin/python bench/desk_startup.py [--runs 5] [--no-stack]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def launch_once(tmp: Path) -> tuple[float, float, float]:
    env = {**os.environ, "QT_QPA_PLATFORM": os.environ.get("QT_QPA_PLATFORM", "offscreen"),
           "XDG_CONFIG_HOME": str(tmp / "cfg"), "RUNS_DIR": str(tmp / "runs"), "WORKSPACES_DIR": str(tmp / "ws")}
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "backend.cli.main", "desk", "--quit-after-shown",
                             "--settings", str(tmp / "desk.ini")], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    shown = time.perf_counter() - start
    second = proc.stdout.readline()
    ready = time.perf_counter() - start
    proc.wait(30)
    if not line.startswith("window shown after ") or not second.startswith("panels ready after "):
        raise SystemExit(f"desk did not report a shown window: {line!r} {second!r} (exit {proc.returncode})")
    return shown, float(line.split()[-1].rstrip("s")), ready


async def stack_once(tmp: Path) -> tuple[float, dict[str, str], float]:
    from backend.config import load_settings
    from backend.stack.local_stack import LocalStack

    from app.session import Session

    settings = load_settings(runs_dir=tmp / "runs", workspaces_dir=tmp / "ws")
    stack = LocalStack(settings, state_dir=tmp / "stack", ports={name: 0 for name in ("agent", "trading", "news",
                                                                                        "runtime")})
    session = Session(health_interval=3600)
    start = time.perf_counter()
    try:
        statuses = (await session.start_local_stack(stack)).statuses
        up = time.perf_counter() - start
    finally:
        t0 = time.perf_counter()
        await session.close(timeout=5.0)
        down = time.perf_counter() - t0
    return up, statuses, down


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="launches to time (default 5)")
    parser.add_argument("--no-stack", action="store_true", help="skip the local stack measurement")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="desk-startup-") as name:
        tmp = Path(name)
        launch_once(tmp)  # warm the OS file cache and .pyc files: the figure is a warm start
        results = [launch_once(tmp) for _ in range(args.runs)]
        walls = [w for w, _, _ in results]
        inner = [i for _, i, _ in results]
        ready = [r for _, _, r in results]
        print(f"desk startup ({args.runs} warm launches, {os.environ.get('QT_QPA_PLATFORM', 'offscreen')}, "
              f"load average {os.getloadavg()[0]:.2f})")
        print(f"  launch to window shown   median {statistics.median(walls):.3f}s  min {min(walls):.3f}s  "
              f"max {max(walls):.3f}s   (target < 1 s)")
        print(f"  inside the app (run() to shown)  median {statistics.median(inner):.3f}s")
        print(f"  launch to every panel built      median {statistics.median(ready):.3f}s")
        if not args.no_stack:
            up, statuses, down = asyncio.run(stack_once(tmp))
            healthy = all(s == "healthy" for s in statuses.values())
            print(f"  local stack {'healthy' if healthy else 'NOT healthy: ' + str(statuses)} after {up:.3f}s "
                  f"(target < 2.5 s); stopped in {down:.3f}s (limit 5 s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
