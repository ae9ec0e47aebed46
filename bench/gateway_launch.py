"""Benchmark: a run's Gateway from "start" to answering /health, per launcher, against the bare way to start it.

Each repeat measures, one after the other on the same machine, a paused
one-week run (nothing computed, so only the start is timed):

- **subprocess**: bare = ``python -m gateway`` spawned with ``subprocess.Popen``
  and /health polled every 20 ms; ours = ``RuntimeController.start_run`` with the
  subprocess launcher (the supervisor, its health watch, the log file);
- **docker** (``--docker``, needs ``DOCKER_HOST`` and the image built by
  ``scripts/build_image.sh``): bare = ``docker create`` + ``start`` of the same
  image and command through the SDK, its published port polled the same way;
  ours = ``start_run`` with the docker launcher (labels, network lookup, port
  read back, log stream, health watch).

Printed per repeat and as medians with the ratio ours / bare.

    .venv/bin/python bench/gateway_launch.py [--repeat 5] [--docker]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from backend.config import load_settings  # noqa: E402
from backend.control_plane.controller import RuntimeController, settings_env  # noqa: E402
from backend.security.tokens import generate_registry  # noqa: E402
from backend.storage.run_store import RunStore  # noqa: E402
from backend.supervisor.ports import free_port  # noqa: E402

IMAGE = "evotraders/control-center:0.1.0"


async def _healthy(url: str, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient(timeout=1.0, trust_env=False) as client:
        while time.monotonic() < deadline:
            try:
                if (await client.get(url)).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.02)
    raise TimeoutError(url)


def _run(store: RunStore, n: int) -> str:
    return store.create_run("default", run_id=f"bench-{n}", overrides={
        "start_date": dt.date(2025, 3, 3), "end_date": dt.date(2025, 3, 7), "tickers": ["AAPL"]})


async def bare_subprocess(settings, registry, run_id: str) -> float:
    port = free_port()
    env = {**os.environ, **settings_env(settings), **registry.gateway_env(run_id)}
    began = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "gateway", "--run-id", run_id, "--port", str(port), "--paused"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        await _healthy(f"http://127.0.0.1:{port}/health")
        return time.perf_counter() - began
    finally:
        proc.terminate()
        proc.wait(30)


async def bare_docker(engine, settings, registry, run_id: str) -> float:
    env = {**settings_env(settings), **registry.gateway_env(run_id)}
    began = time.perf_counter()
    container = engine.containers.create(
        IMAGE, command=["gateway", "--run-id", run_id, "--host", "0.0.0.0", "--port", "8765", "--paused"],
        environment=env, ports={"8765/tcp": ("127.0.0.1", None)}, user="0:0",
        volumes={str(settings.runs_dir): {"bind": str(settings.runs_dir), "mode": "rw"},
                 str(settings.workspaces_dir): {"bind": str(settings.workspaces_dir), "mode": "rw"}})
    try:
        container.start()
        container.reload()
        port = container.attrs["NetworkSettings"]["Ports"]["8765/tcp"][0]["HostPort"]
        await _healthy(f"http://127.0.0.1:{port}/health")
        return time.perf_counter() - began
    finally:
        container.remove(force=True)


async def ours(controller: RuntimeController, run_id: str) -> float:
    began = time.perf_counter()
    info = await controller.start_run(run_id, paused=True)
    took = time.perf_counter() - began
    assert info["status"] == "healthy", info
    await controller.stop_run(run_id)
    return took


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--docker", action="store_true", help="also the docker launcher (real engine)")
    args = parser.parse_args()
    kinds = ["subprocess"] + (["docker"] if args.docker else [])
    registry = generate_registry()
    with tempfile.TemporaryDirectory(prefix="bench-gw-") as tmp:
        for kind in kinds:
            settings = load_settings(runs_dir=Path(tmp) / kind / "runs", workspaces_dir=Path(tmp) / kind / "ws",
                                     gateway_launcher=kind, gateway_image=IMAGE)
            store = RunStore.from_settings(settings)
            engine = None
            if kind == "docker":
                import docker

                engine = docker.from_env()
            controller = RuntimeController(settings, store, registry=registry)
            bare_s, ours_s = [], []
            try:
                for n in range(args.repeat):
                    run_a, run_b = _run(store, 2 * n), _run(store, 2 * n + 1)
                    bare_s.append(await (bare_docker(engine, settings, registry, run_a) if kind == "docker"
                                         else bare_subprocess(settings, registry, run_a)))
                    ours_s.append(await ours(controller, run_b))
                    print(f"{kind} repeat {n + 1}: bare {bare_s[-1] * 1000:.0f} ms, ours {ours_s[-1] * 1000:.0f} ms")
            finally:
                await controller.shutdown()
            b, o = statistics.median(bare_s), statistics.median(ours_s)
            print(f"{kind}: start -> /health 200, median of {args.repeat}: bare {b * 1000:.0f} ms, "
                  f"ours {o * 1000:.0f} ms, ratio {o / b:.2f}x")


if __name__ == "__main__":
    asyncio.run(main())
