"""A bounded ring of recent log lines that async readers can follow live."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator


class LogBuffer:
    """The last ``maxlen`` lines of a process's output, plus live followers.

    Followers keep a cursor (a line sequence number) rather than a queue, so a
    slow reader costs no memory: if it falls more than ``maxlen`` lines
    behind, it silently skips to the oldest line still held.

    The buffer is *open* while its process runs (or restarts) and *closed*
    once it stops for good; :meth:`follow` ends when the buffer closes.

    Args:
        maxlen: how many recent lines to keep.
    """

    def __init__(self, maxlen: int = 1000) -> None:
        if maxlen < 1:
            raise ValueError(f"log buffer size must be at least 1, got {maxlen}")
        self._lines: deque[str] = deque(maxlen=maxlen)
        self._next_seq = 0  # sequence number the next appended line will get
        self._closed = True
        self._changed: asyncio.Event | None = None

    @property
    def maxlen(self) -> int:
        return self._lines.maxlen or 0

    @property
    def total(self) -> int:
        """How many lines were ever appended (including those rolled out)."""
        return self._next_seq

    @property
    def closed(self) -> bool:
        return self._closed

    def __len__(self) -> int:
        return len(self._lines)

    def lines(self) -> list[str]:
        return list(self._lines)

    def tail(self, n: int) -> list[str]:
        if n <= 0:
            return []
        return list(self._lines)[-n:]

    def append(self, line: str) -> None:
        self._lines.append(line)
        self._next_seq += 1
        self._wake()

    def open(self) -> None:
        self._closed = False

    def close(self) -> None:
        self._closed = True
        self._wake()

    def _wake(self) -> None:
        if self._changed is not None:
            self._changed.set()
            self._changed = None

    async def follow(self, backlog: int = 0, *, forever: bool = False) -> AsyncIterator[str]:
        """Yield the last ``backlog`` lines, then each new line as it arrives.

        Ends once the buffer is closed and drained, unless ``forever`` (then
        it keeps following across stops and restarts until the caller breaks).
        """
        cursor = max(self._first_seq(), self._next_seq - max(backlog, 0))
        while True:
            while cursor < self._next_seq:
                cursor = max(cursor, self._first_seq())
                line = self._lines[cursor - self._first_seq()]
                cursor += 1
                yield line
            if self._closed and not forever:
                return
            if self._changed is None:
                self._changed = asyncio.Event()
            await self._changed.wait()

    def _first_seq(self) -> int:
        return self._next_seq - len(self._lines)
