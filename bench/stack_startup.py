"""Benchmark: cold `stack up` to all five processes healthy, and `stack down`.

Starts agent, trading, news and runtime services (LocalStack, free ports),
then has runtime_service create a run and spawn its Gateway; measures the
time until all five answer /health, then the time for everything to stop.
Targets on 2 cores: median up < 1.5 s, down < 2 s (docs/performance.md).

    .venv/bin/python bench/stack_startup.py [--repeat 5]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from backend.config import load_settings  # noqa: E402
from backend.stack.local_stack import LocalStack  # noqa: E402
from backend.clients.services import runtime_client
from backend.stack.launcher import StackLauncher  # noqa: E402


async def once(root: Path, i: int) -> tuple[float, float, float]:
    settings = load_settings(runs_dir=root / f"runs{i}", workspaces_dir=root / f"ws{i}")
    stack = LocalStack(settings, state_dir=root / f"stack{i}",
                       ports={"agent": 0, "trading": 0, "news": 0, "runtime": 0})
    launcher = StackLauncher(stack)
    runs = runtime_client(stack.urls["runtime"], launcher.endpoint.admin_token)
    started = time.perf_counter()
    services = asyncio.create_task(launcher.launch())
    # As `stack up` does: the run starts as soon as runtime_service answers,
    # while the other services are still coming up.
    gateway = await launcher.start_run(runs, {"workspace": "default", "end_date": "2025-01-10"}, paused=True)
    await services
    services_up = time.perf_counter() - started
    all_up = time.perf_counter() - started
    assert gateway["status"] == "healthy", gateway
    stopping = time.perf_counter()
    await stack.down()
    while psutil.Process().children(recursive=True):
        await asyncio.sleep(0.01)
    down = time.perf_counter() - stopping
    return services_up, all_up, down


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.repeat):
            rows.append(asyncio.run(once(Path(tmp), i)))
            print(f"run {i + 1}: 4 services healthy {rows[-1][0]:.2f} s, all five {rows[-1][1]:.2f} s, "
                  f"down {rows[-1][2]:.2f} s")
    print(f"median: 4 services {statistics.median(r[0] for r in rows):.2f} s, all five healthy "
          f"{statistics.median(r[1] for r in rows):.2f} s, down to no process {statistics.median(r[2] for r in rows):.2f} s")


if __name__ == "__main__":
    main()
