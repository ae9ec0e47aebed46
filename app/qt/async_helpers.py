"""Running coroutines from Qt slots on the qasync loop, without losing their errors.

    button.clicked.connect(lambda: spawn(self.model.restart(name)))
    connect_async(button.clicked, self._on_start)     # async def _on_start(self, *args)

Every task is kept referenced until it ends (so it is never garbage
collected mid-flight) and an exception it raises goes to ``sys.excepthook``
-- the app's hook logs it and shows it in a non-modal dialog -- instead of
"Task exception was never retrieved" at exit. ``QDialog.exec()`` must never
be called from a coroutine (it would re-enter the loop); use ``open()``.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

_TASKS: set[asyncio.Task[Any]] = set()


def spawn(coro: Coroutine[Any, Any, Any], *, name: str | None = None) -> asyncio.Task[Any] | None:
    """Schedule ``coro`` on the running loop; its exception (if any) is reported.

    Returns None (and drops the coroutine) when the loop is already closed --
    e.g. a window closed after the application's loop has ended.
    """
    loop = asyncio.get_event_loop()
    if loop.is_closed():
        coro.close()
        return None
    task = loop.create_task(coro, name=name)
    _TASKS.add(task)
    task.add_done_callback(_done)
    return task


def _done(task: asyncio.Task[Any]) -> None:
    _TASKS.discard(task)
    if task.cancelled():
        return
    err = task.exception()
    if err is not None:
        sys.excepthook(type(err), err, err.__traceback__)


def connect_async(signal: Any, handler: Callable[..., Awaitable[Any]]) -> None:
    """Connect a Qt signal to an ``async def`` handler (called with the signal's arguments)."""
    signal.connect(lambda *args: spawn(handler(*args)))


def pending() -> int:
    """Tasks started through :func:`spawn` and not finished yet."""
    return len(_TASKS)


async def cancel_all(timeout: float = 2.0) -> None:
    """Cancel every spawned task still running (window close)."""
    tasks = [t for t in _TASKS if not t.done()]
    for task in tasks:
        task.cancel()
    if tasks:
        await asyncio.wait(tasks, timeout=timeout)
