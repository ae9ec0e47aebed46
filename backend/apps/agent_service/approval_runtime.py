"""The live side of approvals inside agent_service: the change fan-out and the expiry clock.

:class:`ChangeHub` hands every persisted change to each open change stream;
:class:`ExpiryClock` expires overdue approvals on time, whether or not any
Gateway is connected (agent_service is the one authority on expiry).
Both hang off :class:`ApprovalStore` listeners, which may fire on a worker
thread (store calls run off the event loop), hence ``call_soon_threadsafe``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import AsyncIterator

from starlette.concurrency import run_in_threadpool

from backend.apps.common.openapi import EventStreamResponse
from backend.approvals.store import ApprovalStore
from backend.schema.api_approvals import ApprovalChange

log = logging.getLogger(__name__)

HEARTBEAT_SECONDS = 5.0
EXPIRY_TICK_MAX = 1.0          # re-check at least this often (cheap; guards against clock jumps)
SUBSCRIBER_BACKLOG = 10_000    # a stream this far behind is dropped (it reconnects with after=)


class ChangeHub:
    """Fans approval changes out to open server-sent-event streams (framed by sse-starlette).

    Args:
        store: the approvals store whose changes are streamed.
    """

    def __init__(self, store: ApprovalStore) -> None:
        self.store = store
        self._loop: asyncio.AbstractEventLoop | None = None
        self._queues: set[asyncio.Queue[ApprovalChange | None]] = set()
        self._closing = False

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self.store.changed.connect(self._on_change)

    def close(self) -> None:
        """End every open stream (their clients reconnect elsewhere or later)."""
        self._closing = True
        self.store.changed.disconnect(self._on_change, missing_ok=True)
        for queue in list(self._queues):
            queue.put_nowait(None)

    def _on_change(self, change: ApprovalChange) -> None:
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._deliver, change)

    def _deliver(self, change: ApprovalChange) -> None:
        for queue in list(self._queues):
            if queue.qsize() >= SUBSCRIBER_BACKLOG:
                self._queues.discard(queue)
                queue.put_nowait(None)
            else:
                queue.put_nowait(change)

    @property
    def subscribers(self) -> int:
        """How many change streams are open now."""
        return len(self._queues)

    def response(self, run_id: str | None, after: int) -> EventStreamResponse:
        """The change stream as server-sent events, with a ``keep-alive`` comment every few seconds."""
        return EventStreamResponse(self.events(run_id, after), ping=HEARTBEAT_SECONDS,
                                   headers={"Cache-Control": "no-cache"})

    async def events(self, run_id: str | None, after: int) -> AsyncIterator[dict[str, str]]:
        """The changes after ``after`` (replayed), then live ones: one event each, ``id`` its seq, named by its kind.

        A client that disconnects cancels this generator where it waits; the
        ``finally`` unsubscribes it.
        """
        queue: asyncio.Queue[ApprovalChange | None] = asyncio.Queue()
        # Subscribe before the replay snapshot so that nothing falls between them.
        self._queues.add(queue)
        try:
            last = after
            yield {"comment": "approvals change stream"}
            for change in self.store.changes(run_id, after):
                last = change.seq
                yield _event(change)
            while not self._closing:
                change = await queue.get()
                if change is None:
                    break
                if change.seq <= last or (run_id is not None and change.approval.run_id != run_id):
                    continue
                last = change.seq
                yield _event(change)
        finally:
            self._queues.discard(queue)


def _event(change: ApprovalChange) -> dict[str, str]:
    return {"id": str(change.seq), "event": change.kind, "data": change.model_dump_json()}


class ExpiryClock:
    """Expires each pending approval at its deadline.

    Args:
        store: the approvals store.
    """

    def __init__(self, store: ApprovalStore) -> None:
        self.store = store
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        self.store.changed.connect(self._on_change)
        self._task = asyncio.create_task(self._run(), name="approval-expiry")

    async def close(self) -> None:
        self.store.changed.disconnect(self._on_change, missing_ok=True)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def _on_change(self, change: ApprovalChange) -> None:
        # A new approval may expire sooner than what the clock sleeps for.
        if change.kind == "filed" and self._loop is not None and self._wake is not None:
            self._loop.call_soon_threadsafe(self._wake.set)

    async def _run(self) -> None:
        assert self._wake is not None
        while True:
            self._wake.clear()
            try:
                expired = await run_in_threadpool(self.store.expire_due)
                for approval in expired:
                    log.info("approval %s expired: %s", approval.id, approval.outcome)
            except Exception:  # e.g. a full disk: keep the clock alive and try again
                log.exception("expiring approvals failed")
            deadline = self.store.next_deadline()
            delay = EXPIRY_TICK_MAX if deadline is None else min(EXPIRY_TICK_MAX, max(0.0, deadline - time.time()))
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._wake.wait(), delay)
