"""Benchmark: per-call overhead of each skill sandbox backend for a trivial skill.

Calls a skill that returns ``{"ok": true}`` N times through ``SkillExecutor``
with every backend available here and prints median and p95 wall time per
call. Targets (2 cores): none < 1 ms, process cold < 60 ms, process warm
< 10 ms, docker < 1.5 s (docs/performance.md).

    .venv/bin/python bench/sandbox_overhead.py [--calls 50] [--docker-calls 15]

Docker is measured when ``DOCKER_HOST`` (or the default socket) answers and
the image (``--image``, default evotraders/skill-python:3.11) is present; it
is never pulled. Warm-pool calls are spaced so each finds a ready worker
(the refill is not counted: it happens between calls in real use too).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from backend.skills.spec import load_skill  # noqa: E402
from backend.sandbox.executor import SkillExecutor  # noqa: E402
from backend.sandbox.in_process import NoSandboxBackend  # noqa: E402
from backend.sandbox.limits import SandboxLimits  # noqa: E402

TARGETS_MS = {"none": 1.0, "process (cold)": 60.0, "process (warm pool)": 10.0, "docker": 1500.0}


def trivial_skill(root: Path):
    folder = root / "trivial"
    folder.mkdir()
    (folder / "SKILL.md").write_text("---\nname: trivial\nentry: main.py:run\n---\nReturns ok.\n")
    (folder / "main.py").write_text("def run(payload):\n    return {'ok': True}\n")
    return load_skill(folder)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


async def measure(executor: SkillExecutor, spec, calls: int, before_each=None) -> list[float]:
    await executor.run(spec, {})  # first call: imports, client set-up, pool fill
    timings = []
    for _ in range(calls):
        if before_each is not None:
            await before_each()
        started = time.perf_counter()
        result = await executor.run(spec, {})
        timings.append((time.perf_counter() - started) * 1000)
        if not result.ok:
            raise SystemExit(f"{executor.mode}: {result.error}")
    return timings


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=50)
    parser.add_argument("--docker-calls", type=int, default=15)
    parser.add_argument("--image", default="evotraders/skill-python:3.11")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    limits = SandboxLimits(timeout_s=30)
    rows: list[tuple[str, int, float, float, str]] = []

    with tempfile.TemporaryDirectory() as tmp:
        spec = trivial_skill(Path(tmp))

        def record(name: str, timings: list[float], note: str = "") -> None:
            rows.append((name, len(timings), statistics.median(timings), percentile(timings, 0.95), note))

        record("none", await measure(SkillExecutor(NoSandboxBackend(), limits), spec, args.calls * 10))

        from backend.sandbox.process import ProcessSandboxBackend

        cold = ProcessSandboxBackend(warm_pool=0)
        confinement = "bwrap" if cold.confined else "rlimits only"
        record("process (cold)", await measure(SkillExecutor(cold, limits), spec, args.calls), confinement)

        warm = ProcessSandboxBackend(warm_pool=2, isolation=cold.isolation)

        async def pool_ready() -> None:
            while len(warm._idle) < warm.warm_pool:
                await asyncio.sleep(0.005)
            await asyncio.sleep(0.03)  # let the newest worker finish starting its interpreter

        await warm.warm_up()
        record("process (warm pool)", await measure(SkillExecutor(warm, limits), spec, args.calls, pool_ready),
               confinement)
        await warm.close()

        from backend.sandbox.docker_backend import DockerSandboxBackend

        docker = DockerSandboxBackend(image=args.image, pull_policy="never")
        probe = await SkillExecutor(docker, limits).run(spec, {})
        if probe.ok:
            record("docker", await measure(SkillExecutor(docker, limits), spec, args.docker_calls), args.image)
        else:
            rows.append(("docker", 0, float("nan"), float("nan"), f"skipped: {probe.error.message[:70]}"))
        await docker.close()

    print(f"{'backend':<22}{'calls':>6}{'median ms':>12}{'p95 ms':>10}{'target ms':>11}  note")
    for name, count, median, p95, note in rows:
        target = TARGETS_MS[name]
        verdict = "" if count == 0 else ("ok" if median < target else "MISSED")
        print(f"{name:<22}{count:>6}{median:>12.2f}{p95:>10.2f}{'< ' + format(target, 'g'):>11}  {verdict} {note}")


if __name__ == "__main__":
    asyncio.run(main())
