"""LogBuffer: bounded ring, exact live following, end on close."""

from __future__ import annotations

import asyncio

import pytest

from backend.supervisor import LogBuffer


def test_ring_keeps_the_last_lines():
    buf = LogBuffer(3)
    for i in range(10):
        buf.append(f"l{i}")
    assert buf.lines() == ["l7", "l8", "l9"]
    assert buf.tail(2) == ["l8", "l9"]
    assert buf.tail(0) == []
    assert buf.total == 10
    assert len(buf) == 3


def test_size_must_be_positive():
    with pytest.raises(ValueError, match="at least 1"):
        LogBuffer(0)


async def test_follow_yields_backlog_then_live_lines_and_ends_on_close():
    buf = LogBuffer(100)
    buf.open()
    buf.append("old-1")
    buf.append("old-2")
    got: list[str] = []

    async def reader():
        async for line in buf.follow(backlog=1):
            got.append(line)

    task = asyncio.create_task(reader())
    await asyncio.sleep(0)
    for i in range(5):
        buf.append(f"new-{i}")
        if i % 2:
            await asyncio.sleep(0)
    buf.close()
    await asyncio.wait_for(task, 5)
    assert got == ["old-2", "new-0", "new-1", "new-2", "new-3", "new-4"]


async def test_follow_on_closed_buffer_returns_backlog_only():
    buf = LogBuffer(10)
    buf.append("a")
    buf.append("b")
    assert [line async for line in buf.follow(backlog=5)] == ["a", "b"]


async def test_slow_follower_skips_to_oldest_kept_line():
    buf = LogBuffer(3)
    buf.open()
    buf.append("x0")
    follower = buf.follow(backlog=1)
    assert await follower.__anext__() == "x0"
    for i in range(1, 10):
        buf.append(f"x{i}")  # x1..x6 roll out before the follower reads again
    buf.close()
    assert [line async for line in follower] == ["x7", "x8", "x9"]


async def test_forever_follower_survives_close_and_reopen():
    buf = LogBuffer(10)
    buf.open()
    got: list[str] = []

    async def reader():
        async for line in buf.follow(forever=True):
            got.append(line)
            if line == "second run":
                return

    task = asyncio.create_task(reader())
    await asyncio.sleep(0)
    buf.append("first run")
    buf.close()
    await asyncio.sleep(0)
    buf.open()
    buf.append("second run")
    await asyncio.wait_for(task, 5)
    assert got == ["first run", "second run"]
