"""Helpers shared by the supervisor tests: child argv, waiting for lines and for pids to go."""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

import psutil

CHILDREN = Path(__file__).with_name("children")


def child(script: str, *args: object) -> list[str]:
    """argv running one of the test children with this interpreter."""
    return [sys.executable, str(CHILDREN / script), *map(str, args)]


def is_gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


async def wait_gone(pid: int, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while not is_gone(pid):
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.05)
    return True


async def wait_line(proc, prefix: str, timeout: float = 10.0) -> str:
    """The first log line of ``proc`` starting with ``prefix`` (already logged or coming)."""
    async def scan() -> str:
        async for line in proc.follow(backlog=proc.spec.log_lines, forever=True):
            if line.startswith(prefix):
                return line
        raise AssertionError("unreachable")

    return await asyncio.wait_for(scan(), timeout)


