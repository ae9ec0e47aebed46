"""Benchmark: cold `stack up` to all five processes healthy, against four bare uvicorn + FastAPI processes.

Each repeat measures, one after the other on the same machine:

- **bare**: four processes, each ``import fastapi, uvicorn``, one ``GET /health``
  route, served by uvicorn on a free port, spawned in parallel by the same
  ``ProcessSupervisor`` (same health polling); the time until all four answer /health;
- **ours**: ``StackLauncher.launch()`` of a ``LocalStack`` (agent, trading, news and
  runtime services, free ports) while, as ``stack up`` does, a run is created and its
  Gateway started as soon as runtime_service answers; the time until all five answer
  /health. Then the time for everything to stop.

Printed per repeat and as medians, with the ratio ours / bare (issue 13's target: <= 1.0x).

    .venv/bin/python bench/stack_startup.py [--repeat 5] [--no-preload] [--sibling] [--phases]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from backend.clients.services import runtime_client  # noqa: E402
from backend.config import load_settings  # noqa: E402
from backend.stack.launcher import StackLauncher  # noqa: E402
from backend.stack.local_stack import LocalStack  # noqa: E402
from backend.supervisor.forkserver import TRACE_ENV, trace  # noqa: E402
from backend.supervisor.ports import free_port  # noqa: E402
from backend.supervisor.process_spec import ProcessSpec, ProcessStatus  # noqa: E402
from backend.supervisor.supervisor import ProcessSupervisor  # noqa: E402

BARE_APP = """
import sys
import fastapi, uvicorn
app = fastapi.FastAPI()
@app.get("/health")
async def health():
    return {"status": "ok"}
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")
"""


def _children_cpu() -> float:
    """CPU seconds (user + system) the live processes under this one have used."""
    total = 0.0
    for proc in psutil.Process().children(recursive=True):
        try:
            times = proc.cpu_times()
        except psutil.Error:
            continue
        total += times.user + times.system
    return total


async def _no_children() -> None:
    while psutil.Process().children(recursive=True):
        await asyncio.sleep(0.01)


async def bare_once() -> tuple[float, float]:
    supervisor = ProcessSupervisor()
    for i in range(4):
        port = free_port("127.0.0.1")
        supervisor.add(ProcessSpec(name=f"bare{i}", argv=[sys.executable, "-c", BARE_APP, str(port)],
                                   health_url=f"http://127.0.0.1:{port}/health", ready_timeout=30.0,
                                   port=port, grace_seconds=5.0))
    started = time.perf_counter()
    statuses = await supervisor.start_all(wait_ready=True, parallel=True)
    up = time.perf_counter() - started
    cpu = _children_cpu()
    assert all(s is ProcessStatus.healthy for s in statuses.values()), statuses
    await supervisor.stop_all()
    await _no_children()
    return up, cpu


async def ours_once(root: Path, i: int, preload: bool = True) -> tuple[float, float, float, float]:
    settings = load_settings(runs_dir=root / f"runs{i}", workspaces_dir=root / f"ws{i}", stack_preload=preload)
    stack = LocalStack(settings, state_dir=root / f"stack{i}",
                       ports={"agent": 0, "trading": 0, "news": 0, "runtime": 0})
    launcher = StackLauncher(stack)
    runs = runtime_client(stack.urls["runtime"], launcher.endpoint.admin_token)
    if os.environ.get(TRACE_ENV):
        stack.supervisor.event.connect(lambda e: trace(f"bench-supervisor {e.name} {e.status.value}"))
    started = time.perf_counter()
    trace("bench launch")
    services = asyncio.create_task(launcher.launch())
    services_done: list[float] = []
    services.add_done_callback(lambda _: services_done.append(time.perf_counter() - started))
    # As `stack up` does: the run starts as soon as runtime_service answers,
    # while the other services are still coming up.
    gateway = await launcher.start_run(runs, {"workspace": "default", "end_date": "2025-01-10"}, paused=True)
    gateway_up = time.perf_counter() - started
    trace("bench gateway healthy (start_run returned)")
    result = await services
    services_up = services_done[0]
    all_up = max(gateway_up, services_up)
    trace("bench all five healthy")
    cpu = _children_cpu()
    assert gateway["status"] == "healthy", gateway
    assert result.started and not result.problems, result
    trace("bench stopping")
    stopping = time.perf_counter()
    await stack.down()
    await _no_children()
    down = time.perf_counter() - stopping
    return services_up, all_up, down, cpu


_PHASES = (  # (label, what a trace line contains); the first matching line of each is shown
    ("fork server listening", "forkserver listening"),
    ("fork server: shared + runtime_service modules imported", "forkserver ready"),
    ("sibling fork server forked", "forkserver sibling forked"),
    ("sibling: its modules imported (the Gateway's, or with --sibling agent/trading/news apps)",
     "forkserver sibling ready"),
    ("runtime_service forked", "fork backend.apps.runtime_service "),
    ("agent_service forked", "fork backend.apps.agent_service "),
    ("runtime_service app built (uvicorn starting)", "line backend.apps.runtime_service cpu=", "Started server"),
    ("runtime_service bound", "line backend.apps.runtime_service cpu=", "Uvicorn running"),
    ("runtime_service healthy (supervisor's probe)", "bench-supervisor runtime healthy"),
    ("news_service bound", "line backend.apps.news_service cpu=", "Uvicorn running"),
    ("trading_service bound", "line backend.apps.trading_service cpu=", "Uvicorn running"),
    ("agent_service bound", "line backend.apps.agent_service cpu=", "Uvicorn running"),
    ("run created: POST /runs sent", "launcher create_run"),
    ("run created; POST /runs/{id}/start sent", "launcher start_run"),
    ("fork server: later modules (Gateway's) imported", "later modules preloaded"),
    ("Gateway asked for (runtime_service's fork request)", "request gateway"),
    ("Gateway forked", "fork gateway "),
    ("Gateway listening", "line gateway cpu=", "gateway listening on"),
    ("Gateway healthy (start_run returned)", "bench gateway healthy"),
    ("all five healthy", "bench all five healthy"),
)


def print_phases(path: Path) -> None:
    """One line per phase: seconds since launch() and the CPU seconds the child had used by then."""
    try:
        lines = [line.split(" ", 2) for line in path.read_text().splitlines()]
    except OSError:
        return
    start = next((float(t) for t, _pid, what in lines if what == "bench launch"), None)
    if start is None:
        return
    for label, *needles in _PHASES:
        for t, _pid, what in lines:
            if all(n in what for n in needles):
                cpu = what.split("cpu=", 1)[1].split(" ", 1)[0] if "cpu=" in what else ""
                print(f"    {float(t) - start:6.3f} s  {label}" + (f"  ({cpu} CPU-s in that process)" if cpu else ""))
                break


def _without_gateway_sibling(root: Path, i: int, bare: float, rows: list, preload_on: bool) -> None:
    import backend.stack.preload as preload

    preload.GATEWAY_SIBLING = False  # type: ignore[misc]
    try:
        rows.append(asyncio.run(ours_once(root, 1000 + i, preload=preload_on)))
    finally:
        preload.GATEWAY_SIBLING = True  # type: ignore[misc]
    print(f"run {i + 1}: without the Gateway's fork server: all five {rows[-1][1]:.2f} s "
          f"({rows[-1][3]:.2f} CPU-s, {rows[-1][1] / bare:.2f}x)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--no-preload", action="store_true",
                        help="spawn every service with a fresh interpreter (settings.stack_preload off)")
    parser.add_argument("--sibling", action="store_true",
                        help="fork agent, trading and news from a sibling fork server that preloads their apps "
                             "(backend.stack.preload.SIBLING_OPTION; off by default)")
    parser.add_argument("--compare-gateway-sibling", action="store_true",
                        help="each repeat also starts ours with the Gateway's modules imported by the fork server "
                             "after the services' (backend.stack.preload.GATEWAY_SIBLING off), in the same run")
    parser.add_argument("--phases", action="store_true",
                        help="also print where the wall time of each of our starts went (fork servers' imports, "
                             "forks, each service's start, bind, /health, the Gateway), from the fork server's "
                             f"{TRACE_ENV} trace")
    args = parser.parse_args()
    if args.sibling:
        import backend.stack.preload as preload
        from backend.stack.preload import SIBLING_OPTION

        preload.GATEWAY_SIBLING = False  # type: ignore[misc]  # one sibling at a time
        preload.SIBLING_SERVES = SIBLING_OPTION  # type: ignore[misc]  # what LocalStack.up() passes on
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f} at start"
          + (" (sibling fork server on)" if args.sibling else ""))
    bare_rows, rows, alt_rows = [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.repeat):
            bare_rows.append(asyncio.run(bare_once()))
            trace_file = Path(tmp) / f"trace{i}"
            if args.phases:
                os.environ[TRACE_ENV] = str(trace_file)
            if args.compare_gateway_sibling and i % 2:  # alternated: neither always runs first
                _without_gateway_sibling(Path(tmp), i, bare_rows[-1][0], alt_rows, not args.no_preload)
            rows.append(asyncio.run(ours_once(Path(tmp), i, preload=not args.no_preload)))
            os.environ.pop(TRACE_ENV, None)
            if args.compare_gateway_sibling and not i % 2:
                _without_gateway_sibling(Path(tmp), i, bare_rows[-1][0], alt_rows, not args.no_preload)
            if args.phases:
                print_phases(trace_file)
            services, everything, down, cpu = rows[-1]
            print(f"run {i + 1}: bare four {bare_rows[-1][0]:.2f} s ({bare_rows[-1][1]:.2f} CPU-s) | ours: "
                  f"4 services {services:.2f} s, all five {everything:.2f} s ({cpu:.2f} CPU-s, "
                  f"{everything / bare_rows[-1][0]:.2f}x), down {down:.2f} s")
    bare = statistics.median(r[0] for r in bare_rows)
    everything = statistics.median(r[1] for r in rows)
    print(f"median: bare four uvicorn+FastAPI healthy {bare:.2f} s; ours: 4 services "
          f"{statistics.median(r[0] for r in rows):.2f} s, all five healthy {everything:.2f} s, "
          f"down to no process {statistics.median(r[2] for r in rows):.2f} s")
    print(f"ratio all five / bare four: {everything / bare:.2f}x (target <= 1.00x); CPU used until healthy: "
          f"bare {statistics.median(r[1] for r in bare_rows):.2f} CPU-s, ours "
          f"{statistics.median(r[3] for r in rows):.2f} CPU-s (fork server and Gateway included)")
    if alt_rows:
        alt = statistics.median(r[1] for r in alt_rows)
        print(f"without the Gateway's fork server (same run): all five healthy {alt:.2f} s, {alt / bare:.2f}x, "
              f"{statistics.median(r[3] for r in alt_rows):.2f} CPU-s")
    print(f"load average {os.getloadavg()[0]:.2f} at the end (other processes on the machine slow a serial "
          f"preload more than four parallel imports)")


if __name__ == "__main__":
    main()
