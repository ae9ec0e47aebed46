"""Helpers shared by the sandbox tests (a unique module name: conftest is not importable)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any, Callable

import psutil

from backend.sandbox.outcome import RUNNER_PATH

SKILLS_DIR = Path(__file__).parent / "skills"
DOCKER_IMAGE = "evotraders/skill-python:3.11"
DOCKER_HOST_DEFAULT = "unix:///tmp/evotraders-docker/docker.sock"


def runner_processes() -> list[psutil.Process]:
    """Live processes running the sandbox runner (from this checkout or inside bwrap)."""
    found = []
    for proc in psutil.process_iter(["cmdline", "status"]):
        cmdline = " ".join(proc.info["cmdline"] or [])
        if proc.info["status"] == psutil.STATUS_ZOMBIE:
            continue
        if "/sandbox/runner.py" in cmdline or str(RUNNER_PATH) in cmdline:
            found.append(proc)
    return found


async def eventually(check: Callable[[], bool], within: float = 5.0) -> bool:
    """Poll ``check`` until it holds or ``within`` seconds pass (no timing assertion: a bound)."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if check():
            return True
        await asyncio.sleep(0.05)
    return check()


def run_to_completion(engine: Any) -> None:
    """Run a :class:`RunEngine` to its end (it must complete) and close it."""

    async def go() -> None:
        try:
            assert await engine.run() == "completed"
        finally:
            await engine.close()

    asyncio.run(go())
