"""Fan-out of run events to WebSocket clients that a slow client cannot stall.

``EventHub.publish`` is synchronous and never waits for a client. Each event
is encoded once -- JSON and WebSocket frame both -- and the events published
in one event-loop turn are written to each client as one buffer, so a burst
of N events costs one socket write per client instead of N. A client whose
socket is backed up gets its frames queued for its own sender task; one whose
bounded queue is full is closed with 1013 (try again later), and the others
never notice.
"""

from __future__ import annotations

import asyncio
import collections
import itertools
import logging
import threading
import time
from typing import Any

from websockets.asyncio.server import ServerConnection, broadcast
from websockets.exceptions import ConnectionClosed
from websockets.frames import Frame, Opcode
from websockets.protocol import State

from backend.schema.events import Event
from backend.security.tokens import Role

log = logging.getLogger(__name__)

CLOSE_TOO_SLOW = 1013  # "try again later": the client did not read fast enough
CLOSE_REASON_TOO_SLOW = "client too slow: send queue full"


def encode_event(event: Event) -> bytes:
    """The UTF-8 JSON payload of an event; ``wire_json()`` is cached on the event,
    so events.jsonl and every client share one encoding."""
    return event.wire_json().encode()


def text_frame(payload: bytes) -> bytes:
    """A complete unmasked, uncompressed WebSocket text frame (what a server sends)."""
    return Frame(Opcode.TEXT, payload).serialize(mask=False)


class Subscriber:
    """One connected client as the hub sees it.

    Frames are written straight to the socket while it keeps up; otherwise
    they wait in a bounded backlog that the subscriber's sender task drains
    with ``connection.send`` (which honours the socket's flow control).

    Args:
        connection: the client's WebSocket connection.
        role: the role its token (or loopback access) granted.
        queue_size: frames that may wait for this client before it is dropped.
        write_high: transport buffer size (bytes) above which frames are queued
            instead of written directly; the server's ``write_limit``.
    """

    _ids = itertools.count(1)

    def __init__(self, connection: ServerConnection, role: Role, queue_size: int, write_high: int) -> None:
        self.id = next(self._ids)
        self.connection = connection
        self.role = role
        self.queue_size = queue_size
        self.connected_at = time.time()
        self.sent = 0
        self.dropped = 0
        self.evicted = False
        self._write_high = write_high
        self._transport: asyncio.WriteTransport = connection.transport
        # Raw frame writes need frames identical for every client: no
        # per-connection compression. With deflate, fall back to broadcast().
        self._raw_frames = not connection.protocol.extensions
        self._backlog: collections.deque[bytes] = collections.deque()
        self._wakeup: asyncio.Future[None] | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def read_only(self) -> bool:
        return self.role < Role.operator

    @property
    def queued(self) -> int:
        return len(self._backlog)

    def offer(self, payloads: list[bytes], frames: bytes) -> bool:
        """Send or queue a batch; False if the queue is full (the caller evicts).

        Args:
            payloads: JSON payloads, in order.
            frames: the same payloads as concatenated WebSocket text frames.
        """
        if self._backlog or self._transport.get_write_buffer_size() >= self._write_high:
            # Behind already: keep order by queueing behind what is waiting.
            if len(self._backlog) + len(payloads) > self.queue_size:
                return False
            self._backlog.extend(payloads)
            if self._wakeup is not None and not self._wakeup.done():
                self._wakeup.set_result(None)
            return True
        if self.connection.state is not State.OPEN or self._transport.is_closing():
            return True  # closing: its handler unsubscribes it shortly
        if self._raw_frames:
            # Whole frames, written between the library's own writes (pings,
            # close), are valid on the wire; the library keeps no per-frame
            # state for unfragmented data frames, and we never fragment.
            self._transport.write(frames)
        else:
            for payload in payloads:
                broadcast((self.connection,), payload, text=True)
        self.sent += len(payloads)
        return True

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._drain_backlog())

    def stop(self) -> None:
        """Forget what is queued and end the sender task."""
        self.dropped += len(self._backlog)
        self._backlog.clear()
        if self._task is not None and self._task is not asyncio.current_task():
            self._task.cancel()

    async def _drain_backlog(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while True:
                while not self._backlog:
                    self._wakeup = loop.create_future()
                    await self._wakeup
                # The frame is written before send() awaits the drain, so a
                # direct write in offer() can never overtake it.
                await self.connection.send(self._backlog.popleft(), text=True)
                self.sent += 1
        except ConnectionClosed:
            self.stop()  # the connection handler unsubscribes us

    def stats(self) -> dict[str, Any]:
        return {
            "id": self.id, "role": self.role.name, "sent": self.sent, "queued": self.queued,
            "dropped": self.dropped, "connected_at": self.connected_at,
        }


class EventHub:
    """Fan-out of encoded events to the connected subscribers.

    Args:
        queue_size: frames that may wait per client before it is closed with 1013.
        write_high: per-connection transport buffer (bytes) above which frames queue.
    """

    def __init__(self, queue_size: int = 1024, write_high: int = 64 * 1024) -> None:
        if queue_size < 2:
            raise ValueError(f"queue_size must be at least 2 (hello and initial_state), got {queue_size}")
        self.queue_size = queue_size
        self.write_high = write_high
        self._subs: dict[int, Subscriber] = {}
        self._fanout: tuple[Subscriber, ...] = ()  # rebuilt on (dis)connect, not per event
        self._pending: list[bytes] = []  # payloads published this loop turn
        self._pending_frames: list[bytes] = []
        self._flush_scheduled = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: int | None = None
        self._closing: set[asyncio.Task[None]] = set()
        self.published = 0
        self.evicted_slow = 0
        self._departed_sent = 0
        self._departed_dropped = 0

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        """Remember the loop that owns the connections (publish marshals onto it)."""
        self._loop = loop
        self._loop_thread = threading.get_ident()

    # --- subscribers --------------------------------------------------------

    def subscribe(self, connection: ServerConnection, role: Role) -> Subscriber:
        """Register a client. Synchronous, so the caller can snapshot the state
        in the same loop turn: events published before are in the snapshot
        (and are not sent), events published after are sent."""
        self.flush()
        sub = Subscriber(connection, role, self.queue_size, self.write_high)
        self._subs[sub.id] = sub
        self._fanout = tuple(self._subs.values())
        sub.start()
        return sub

    def unsubscribe(self, sub: Subscriber) -> None:
        if self._subs.pop(sub.id, None) is None:
            return
        self._fanout = tuple(self._subs.values())
        sub.stop()
        self._departed_sent += sub.sent
        self._departed_dropped += sub.dropped

    def send(self, sub: Subscriber, event: Event) -> None:
        """Send one event to one subscriber (command replies), after what was published."""
        self.flush()
        payload = encode_event(event)
        if sub.id in self._subs and not sub.offer([payload], text_frame(payload)):
            self._evict(sub)

    # --- fan-out ------------------------------------------------------------

    def publish(self, event: Event) -> None:
        """Send an event to every subscriber; never blocks (a RunDriver listener)."""
        if self._loop_thread is not None and threading.get_ident() != self._loop_thread:
            assert self._loop is not None
            self._loop.call_soon_threadsafe(self.publish, event)
            return
        self.published += 1
        if not self._fanout:
            return
        payload = encode_event(event)  # once per event, shared by every client
        self._pending.append(payload)
        self._pending_frames.append(text_frame(payload))
        if not self._flush_scheduled:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self.flush)

    def flush(self) -> None:
        """Write what was published this loop turn: one buffer per client."""
        self._flush_scheduled = False
        if not self._pending:
            return
        payloads, self._pending = self._pending, []
        frames = b"".join(self._pending_frames)
        self._pending_frames = []
        for sub in self._fanout:
            if not sub.offer(payloads, frames):
                self._evict(sub, len(payloads))

    def _evict(self, sub: Subscriber, refused: int = 1) -> None:
        """Drop a client that cannot keep up; the others are unaffected."""
        sub.dropped += refused
        sub.evicted = True
        self.evicted_slow += 1
        log.warning("closing client %s (%s): %d frames queued, queue full", sub.id, sub.role.name, sub.queued)
        self.unsubscribe(sub)
        task = asyncio.get_running_loop().create_task(
            sub.connection.close(CLOSE_TOO_SLOW, CLOSE_REASON_TOO_SLOW))
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    # --- metrics ------------------------------------------------------------

    @property
    def client_count(self) -> int:
        return len(self._subs)

    def client_stats(self) -> list[dict[str, Any]]:
        return [sub.stats() for sub in self._subs.values()]

    def totals(self) -> dict[str, int]:
        subs = self._subs.values()
        return {
            "clients": len(self._subs),
            "published": self.published,
            "delivered": self._departed_sent + sum(s.sent for s in subs),
            "dropped": self._departed_dropped + sum(s.dropped for s in subs),
            "evicted_slow": self.evicted_slow,
        }
