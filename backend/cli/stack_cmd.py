"""`evotraders stack up|status|down`: the local split-service stack.

``up`` starts agent, trading, news and runtime services, waits until all
are healthy (showing each coming up), then asks runtime_service to create
and start a run on the embedded default, so runtime_service spawns the
Gateway as in the architecture. Ctrl-C (or ``stack down``) stops
everything it started, in order, and leaves no process behind.

``up --reload`` is the developer's loop: a saved service module restarts
the services that import it within a second or two, a saved Gateway module
(``gateway/``, ``backend/pipeline/``, ``backend/agents/``) restarts every
running Gateway at its next day boundary, resuming its run; one line says
what each save restarted (see :mod:`backend.supervisor.watch`).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import time
from typing import Any


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="stack_command", required=True)
    up = sub.add_parser("up", help="start the stack and a default run; Ctrl-C stops it")
    up.add_argument("--profile", default="local", choices=["local"], help="stack profile (only local)")
    up.add_argument("--ports", default=None,
                    help="service ports, e.g. agent=9000,trading=9001 (0 = any free port)")
    up.add_argument("--no-run", action="store_true", help="do not create and start a default run")
    up.add_argument("--end", default=None, help="end date of the default run (YYYY-MM-DD)")
    up.add_argument("--pace", type=float, default=None, help="seconds per trading day of the default run")
    up.add_argument("--reload", action="store_true",
                    help="restart what a saved source file affects: its services at once, Gateways at the "
                         "next day boundary (resuming their runs)")
    up.set_defaults(func=stack_up)
    status = sub.add_parser("status", help="show the running stack")
    status.set_defaults(func=stack_status)
    down = sub.add_parser("down", help="stop the running stack")
    down.set_defaults(func=stack_down)


def _parse_ports(text: str | None) -> dict[str, int]:
    if not text:
        return {}
    ports = {}
    for part in text.split(","):
        name, _, value = part.partition("=")
        if name not in ("agent", "trading", "news", "runtime") or not value.isdigit():
            raise ValueError(f"invalid --ports entry {part!r}: use agent=9000,trading=9001,news=9002,runtime=9003")
        ports[name] = int(value)
    return ports


def _say(text: str) -> None:
    print(text, flush=True)


def stack_up(args: argparse.Namespace) -> int:
    from backend.config import get_settings
    from backend.stack.local_stack import LocalStack
    from backend.stack.launcher import StackLauncher

    launcher = StackLauncher(LocalStack(get_settings(), ports=_parse_ports(args.ports),
                                        reload=getattr(args, "reload", False)))
    running = launcher.running_elsewhere()
    if running is not None:
        raise ValueError(f"a stack is already running (pid {running.endpoint.owner_pid}); "
                         "`evotraders stack down` stops it")
    return asyncio.run(_up(launcher, args))


def _reloaded(plan: Any) -> None:
    _say(f"  reload   {plan.describe()}")


def _progress(event: Any) -> None:
    if getattr(event, "kind", "status") == "status":
        _say(f"  {event.name:<8} {event.status.value}")


async def _up(launcher: Any, args: argparse.Namespace) -> int:
    from backend.clients.services import runtime_client

    stack = launcher.stack
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    started = time.perf_counter()
    _say(f"Starting the local stack ({', '.join(s.name for s in stack.services)})"
         + (", reloading on source change" if stack.reload else ""))
    stack.reloaded.connect(_reloaded)
    runs = None
    try:
        up = asyncio.create_task(launcher.launch(progress=_progress))
        run_task = None
        if not args.no_run:
            # The run starts as soon as runtime_service answers (its Gateway does
            # not need the other services to start), overlapping their start-up.
            runs = runtime_client(stack.urls["runtime"], launcher.endpoint.admin_token)
            body = {"workspace": "default", **({"end_date": args.end} if args.end else {})}
            run_task = asyncio.create_task(launcher.start_run(runs, body, pace=args.pace))
        try:
            result = await up
        except BaseException:
            if run_task is not None:
                run_task.cancel()
            raise
        if result.error is not None:  # a port is taken: one line naming it and its holder
            if run_task is not None:
                run_task.cancel()
            raise result.error
        if result.problems:
            if run_task is not None:
                run_task.cancel()
            for name in result.problems:
                proc = stack.supervisor.get(name)
                reason = proc.last_exit.reason if proc.last_exit else proc.status.value
                _say(f"  {name} did not become healthy: {reason}")
                for line in proc.lines()[-5:]:
                    _say(f"    | {line}")
            return 1
        gateway = await run_task if run_task is not None else None
        _say(f"All services healthy in {time.perf_counter() - started:.2f} s")
        for name, url in stack.urls.items():
            _say(f"  {name:<8} {url}")
        if stack.generated_tokens:
            _say(f"  tokens   {stack.tokens_file} (generated for this stack, mode 0600)")
        if gateway is not None:
            _say(f"  run      {gateway['run_id']}: Gateway {gateway.get('url')} (pid {gateway.get('pid')})")
        _say("Press Ctrl-C to stop the stack.")
        await stop.wait()
    finally:
        _say("Stopping the stack ...")
        if runs is not None:
            await runs.http.aclose()
        await launcher.stop()
        _say("Stopped.")
    return 0


def stack_status(args: argparse.Namespace) -> int:
    import httpx

    from backend.config import get_settings
    from backend.stack.local_stack import default_state_dir, read_lock

    data = read_lock(default_state_dir(get_settings()))
    if data is None:
        _say("No stack is running.")
        return 1
    _say(f"Stack of pid {data['pid']}, up {time.time() - data['started_at']:.0f} s")
    for name in data["services"]:
        url = data["urls"][name]
        try:
            health = httpx.get(f"{url}/health", timeout=2).json()
            state = f"{health.get('status')} (uptime {health.get('uptime_s', 0):.0f} s)"
        except (httpx.HTTPError, ValueError):
            state = "not answering"
        _say(f"  {name:<8} {url:<28} {state}")
    return 0


def stack_down(args: argparse.Namespace) -> int:
    from backend.config import get_settings
    from backend.stack.local_stack import default_state_dir, read_lock

    data = read_lock(default_state_dir(get_settings()))
    if data is None:
        _say("No stack is running.")
        return 0
    pid = int(data["pid"])
    os.kill(pid, signal.SIGTERM)
    import psutil

    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            # A zombie has exited; only its parent (a shell, a test) has not reaped it yet.
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                raise psutil.NoSuchProcess(pid)
        except psutil.NoSuchProcess:
            _say(f"Stopped the stack of pid {pid}.")
            return 0
        time.sleep(0.1)
    _say(f"The stack of pid {pid} did not stop within 15 s.")
    return 1



