"""Cyclic garbage made in a worker thread, as qasync's resolver threads and asyncio's child watcher make it."""

from __future__ import annotations

import threading


def allocate_in_thread(name: str, cycles: int) -> None:
    """Make ``cycles`` self-referencing lists in a thread called ``name``; return once it is done."""

    def allocate() -> None:
        for _ in range(cycles):
            junk: list = []
            junk.append(junk)

    worker = threading.Thread(target=allocate, name=name)
    worker.start()
    worker.join()
