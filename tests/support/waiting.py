"""Awaiting a condition without sleeping a guessed time."""

from __future__ import annotations

import asyncio
import time
from typing import Any, Callable


async def until(predicate: Callable[[], Any], timeout: float = 30.0, what: str = "condition") -> Any:
    """Await until ``predicate()`` is truthy (polled on the running loop, bounded by ``timeout``); returns its value."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.02)
