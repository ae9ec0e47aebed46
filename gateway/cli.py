"""`python -m gateway` / `evotraders gateway`: one Gateway process for one run.

    python -m gateway --run-id ID [--host 127.0.0.1] [--port 8765]
                      [--create --start D --end D --tickers T,U --seed N]
                      [--pace S] [--paused] [--exit-when-done]

SIGTERM stops the run after the current stage with its state flushed, then
exits; a second SIGTERM exits at once (every state file is written
atomically, so no file is left torn). After ``restart_at_day_boundary`` it
exits with ``RESTART_REQUESTED_EXIT`` once the current day is checkpointed
(at once if the run has finished): its supervisor starts it again at once.
The run's pace then is carried over to the new process in
``state/gateway_restart.json`` (read and removed at start), and the new
process starts running even if launched ``--paused``: the run was running.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from backend.config import Settings
    from backend.security.tokens import TokenRegistry
    from backend.storage.run_store import RunStore

log = logging.getLogger("gateway")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from backend.cli.backtest_cmd import _date, _tickers

    parser.add_argument("--run-id", required=True, help="the run to serve (runs/<run_id>/)")
    parser.add_argument("--host", default=None, help="bind address (default EVOTRADERS_HOST, 127.0.0.1)")
    parser.add_argument("--port", type=int, default=None, help="WebSocket port (default GATEWAY_PORT, 8765; 0 = any)")
    parser.add_argument("--create", action="store_true", help="create the run from a workspace if it does not exist")
    parser.add_argument("--workspace", default="default", help="workspace for --create")
    parser.add_argument("--mode", choices=["backtest", "mock", "live"], default=None, help="mode for --create")
    parser.add_argument("--start", type=_date, default=None)
    parser.add_argument("--end", type=_date, default=None)
    parser.add_argument("--tickers", type=_tickers, default=None)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--pace", type=float, default=None, help="seconds per trading day (0 = as fast as possible)")
    parser.add_argument("--paused", action="store_true", help="start paused; clients resume it")
    parser.add_argument("--exit-when-done", action="store_true", help="exit when the run completes")
    parser.set_defaults(func=run)


def _create_if_needed(store: RunStore, args: argparse.Namespace) -> None:
    if store.exists(args.run_id):
        return
    if not args.create:
        from backend.errors import NotFoundError

        raise NotFoundError(f"unknown run {args.run_id!r} (pass --create to create it from a workspace)")
    market: dict[str, Any] = {}
    if args.seed is not None:
        market["seed"] = args.seed
    overrides = {"start_date": args.start, "end_date": args.end, "tickers": args.tickers, "mode": args.mode,
                 "market": market or None}
    store.create_run(args.workspace, run_id=args.run_id, overrides=overrides)


def run(args: argparse.Namespace) -> int:
    from backend.config import get_settings
    from backend.security.tokens import check_bind_allowed, registry_from_settings
    from backend.storage.run_store import RunStore

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        stream=sys.stderr)
    settings = get_settings()
    host = args.host or settings.evotraders_host
    port = settings.gateway_port if args.port is None else args.port
    registry = registry_from_settings(settings)
    check_bind_allowed(host, registry)
    store = RunStore.from_settings(settings)
    _create_if_needed(store, args)
    return asyncio.run(serve(store, settings, args, host, port, registry))


async def serve(store: RunStore, settings: Settings, args: argparse.Namespace, host: str, port: int, registry: TokenRegistry) -> int:
    from backend.pipeline.engine import RunEngine
    from backend.supervisor.restart_policy import RESTART_REQUESTED_EXIT
    from gateway.approvals_wiring import make_gate
    from gateway.engine_driver import EngineRunDriver
    from gateway.server import GatewayServer

    gate = make_gate(store, settings, args.run_id)
    engine = RunEngine(store, args.run_id, settings, write_every_stage=True, gateway_pid=os.getpid(),
                       gate=gate.gate if gate is not None else _approve_all())
    if gate is not None:
        gate.bind(engine)
    if args.pace is not None:
        engine.set_pace(args.pace)
    carried = _take_carried(store, args.run_id)
    if carried is not None:
        engine.set_pace(carried["pace"])
    runtime = EngineRunDriver(engine, paused=args.paused and carried is None)
    server = GatewayServer(runtime, host, port, registry=registry,
                           queue_bytes=settings.gateway_client_queue_bytes)
    await server.start()
    # One parseable line for supervisors and humans (the real port when --port 0).
    print(f"gateway listening on {server.url} run={args.run_id} mode={engine.mode}", flush=True)
    engine.write_state()

    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    hits = {"n": 0}

    def on_term() -> None:
        hits["n"] += 1
        if hits["n"] > 1:
            os._exit(143)  # second signal: leave now (state files are atomic)
        log.info("stopping after the current stage")
        runtime.request_stop()
        stopping.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, on_term)
    runtime.start()
    done = asyncio.create_task(runtime.wait())
    stop_wait = asyncio.create_task(stopping.wait())
    restart_wait = asyncio.create_task(runtime.restart_requested.wait())
    code = 0
    while True:
        finished, _ = await asyncio.wait({done, stop_wait, restart_wait}, return_when=asyncio.FIRST_COMPLETED)
        if stop_wait in finished:
            break
        if restart_wait in finished:
            if runtime.running:  # the day loop stops at the next day boundary
                await asyncio.wait({done, stop_wait}, return_when=asyncio.FIRST_COMPLETED)
                if stop_wait.done():
                    break
            code = RESTART_REQUESTED_EXIT
            break
        if done in finished:
            if args.exit_when_done and not runtime.restart_requested.is_set():
                break
            # Keep serving the finished run's state until told to stop.
            done = asyncio.create_task(_wait_for_restart(runtime))
    restart_wait.cancel()
    await runtime.close()
    engine.write_state(final=True)
    await server.stop()
    if gate is not None:
        await gate.close()
    if code:
        _carry(store, args.run_id, engine.control.pace)
        log.info("exiting with %d: restart requested, the run resumes from its checkpoint", code)
    return code


CARRY_FILE = "gateway_restart.json"
CARRY_SECONDS = 120.0


def _carry(store: RunStore, run_id: str, pace: float) -> None:
    """What the restarted Gateway takes over from this one (``restart_at_day_boundary``)."""
    from backend.storage.atomic import atomic_write_json

    atomic_write_json(store.paths(run_id).state_dir / CARRY_FILE, {"pace": pace, "at": time.time()})


def _take_carried(store: RunStore, run_id: str) -> dict[str, Any] | None:
    import json

    path = store.paths(run_id).state_dir / CARRY_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as err:
        log.warning("ignoring %s: %s", path, err)
        data = None
    path.unlink(missing_ok=True)
    if not isinstance(data, dict) or not isinstance(data.get("pace"), (int, float)) or data["pace"] < 0:
        return None
    # Only for the restart that wrote it (started again at once), never a later start by hand.
    if not isinstance(data.get("at"), (int, float)) or not 0 <= time.time() - data["at"] < CARRY_SECONDS:
        return None
    return {"pace": float(data["pace"])}


async def _wait_for_restart(runtime: Any) -> None:
    """A finished run ends again only after a client restarted it (``start_backtest``)."""
    await runtime.wait_started()
    await runtime.wait()


def _approve_all() -> Any:
    from backend.pipeline.approval_gate import approve_all

    return approve_all


def main(argv: list[str] | None = None) -> int:
    from backend.cli.errors import user_errors
    from backend.cli.main import OneLineParser

    parser = OneLineParser(prog="python -m gateway", description="EvoTraders Gateway (WebSocket data plane)")
    add_arguments(parser)
    args = parser.parse_args(argv)
    with user_errors() as outcome:
        outcome.code = args.func(args)
    return outcome.code
