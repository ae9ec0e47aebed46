"""Fan-out of run events to WebSocket clients that a slow client cannot stall.

``EventHub.publish`` is synchronous and never waits for a client. Each event
is encoded once -- JSON and WebSocket frame both -- and the events published
in one event-loop turn are written to each client as one buffer, so a burst
of N events costs one socket write per client instead of N. A client whose
socket is backed up gets its frames queued for its own sender task; one whose
queue is full -- in frames or in bytes -- is closed with 1013 (try again
later), and the others never notice. A client that keeps asking for the state
while it does not read holds at most one queued copy of it (see
``CommandDispatcher``).

Curves: a subscriber that asked for incremental curves gets each event as
the engine made it (an incremental ``team_summary`` carries the day's points);
every other one gets ``event.for_replacing_clients()`` (the same event, but a
``team_summary`` with each curve bounded), encoded once for all of them and
only while such a client is connected (docs/protocol.md, "Curves").
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

from backend.schema.events import Event, InitialState
from backend.security.tokens import Role

log = logging.getLogger(__name__)

CLOSE_TOO_SLOW = 1013  # "try again later": the client did not read fast enough
CLOSE_REASON_TOO_SLOW = "client too slow: send queue full"
# Bytes that may wait for one client. A frame count alone let four viewers
# that never read, each asking for a multi-megabyte state in a loop, pile up
# 1,024 copies each (~180 MB in the Gateway).
DEFAULT_QUEUE_BYTES = 8 * 1024 * 1024


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
        queue_bytes: payload bytes that may wait before it is dropped; one
            batch larger than that is still accepted into an empty queue (so a
            big state snapshot never evicts a client on its own), which bounds
            what a client holds to ``queue_bytes`` plus one batch.
    """

    _ids = itertools.count(1)

    def __init__(self, connection: ServerConnection, role: Role, queue_size: int, write_high: int,
                 queue_bytes: int = DEFAULT_QUEUE_BYTES, incremental: bool = False) -> None:
        self.id = next(self._ids)
        self.connection = connection
        self.role = role
        self.incremental = incremental  # asked for incremental curves (?curves=incremental)
        self.queue_size = queue_size
        self.queue_bytes = queue_bytes
        self.queued_bytes = 0
        self.peak_queued_bytes = 0
        self.coalesced = 0  # get_state requests answered by a state reply already queued
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
        self._queued_state: bytes | None = None  # the one state reply waiting in the backlog
        self._wakeup: asyncio.Future[None] | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def read_only(self) -> bool:
        return self.role < Role.operator

    @property
    def queued(self) -> int:
        return len(self._backlog)

    def offer(self, payloads: list[bytes], frames: bytes, *, state: bool = False) -> bool:
        """Send or queue a batch; False if the queue is full (the caller evicts).

        Args:
            payloads: JSON payloads, in order.
            frames: the same payloads as concatenated WebSocket text frames.
            state: the batch is one state reply (``initial_state``); while it
                waits in the queue, :attr:`state_queued` is true.
        """
        if self._backlog or self._transport.get_write_buffer_size() >= self._write_high:
            # Behind already: keep order by queueing behind what is waiting.
            size = sum(map(len, payloads))
            if len(self._backlog) + len(payloads) > self.queue_size:
                return False
            if self._backlog and self.queued_bytes + size > self.queue_bytes:
                return False
            self._backlog.extend(payloads)
            self.queued_bytes += size
            self.peak_queued_bytes = max(self.peak_queued_bytes, self.queued_bytes)
            if state:
                self._queued_state = payloads[-1]
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

    @property
    def state_queued(self) -> bool:
        """A state reply is waiting in this client's queue (not yet written)."""
        return self._queued_state is not None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._drain_backlog())

    def stop(self) -> None:
        """Forget what is queued and end the sender task."""
        self.dropped += len(self._backlog)
        self._backlog.clear()
        self.queued_bytes = 0
        self._queued_state = None
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
                payload = self._backlog.popleft()
                self.queued_bytes -= len(payload)
                if payload is self._queued_state:
                    self._queued_state = None
                self.sent += 1  # counted as handed to the socket, like a direct write
                await self.connection.send(payload, text=True)
        except ConnectionClosed:
            self.stop()  # the connection handler unsubscribes us

    def stats(self) -> dict[str, Any]:
        return {
            "id": self.id, "role": self.role.name, "sent": self.sent, "queued": self.queued,
            "curves": "incremental" if self.incremental else "bounded",
            "queued_bytes": self.queued_bytes, "peak_queued_bytes": self.peak_queued_bytes,
            "queue_bytes": self.queue_bytes, "coalesced": self.coalesced,
            "dropped": self.dropped, "connected_at": self.connected_at,
        }


class EventHub:
    """Fan-out of encoded events to the connected subscribers.

    Args:
        queue_size: frames that may wait per client before it is closed with 1013.
        write_high: per-connection transport buffer (bytes) above which frames queue.
        queue_bytes: payload bytes that may wait per client (see :class:`Subscriber`).
    """

    def __init__(self, queue_size: int = 1024, write_high: int = 64 * 1024,
                 queue_bytes: int = DEFAULT_QUEUE_BYTES) -> None:
        if queue_size < 2:
            raise ValueError(f"queue_size must be at least 2 (hello and initial_state), got {queue_size}")
        if queue_bytes < 1:
            raise ValueError(f"queue_bytes must be positive, got {queue_bytes}")
        self.queue_size = queue_size
        self.queue_bytes = queue_bytes
        self.write_high = write_high
        self._subs: dict[int, Subscriber] = {}
        self._fanout: tuple[Subscriber, ...] = ()  # rebuilt on (dis)connect, not per event
        self._pending: list[bytes] = []  # payloads published this loop turn
        self._pending_frames: list[bytes] = []
        # The same for the subscribers without incremental curves (kept while there are any).
        self._replacing_subs = 0
        self._pending_r: list[bytes] = []
        self._pending_r_frames: list[bytes] = []
        self._flush_scheduled = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: int | None = None
        self._closing: set[asyncio.Task[None]] = set()
        self.published = 0
        self.evicted_slow = 0
        self._departed_sent = 0
        self._departed_dropped = 0
        self._departed_peak_bytes = 0

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        """Remember the loop that owns the connections (publish marshals onto it)."""
        self._loop = loop
        self._loop_thread = threading.get_ident()

    # --- subscribers --------------------------------------------------------

    def subscribe(self, connection: ServerConnection, role: Role, incremental: bool = False) -> Subscriber:
        """Register a client. Synchronous, so the caller can snapshot the state
        in the same loop turn: events published before are in the snapshot
        (and are not sent), events published after are sent.

        Args:
            incremental: the client asked for incremental curves.
        """
        self.flush()
        sub = Subscriber(connection, role, self.queue_size, self.write_high, self.queue_bytes, incremental)
        self._subs[sub.id] = sub
        self._fanout_changed()
        sub.start()
        return sub

    def _fanout_changed(self) -> None:
        self._fanout = tuple(self._subs.values())
        self._replacing_subs = sum(1 for sub in self._fanout if not sub.incremental)

    def unsubscribe(self, sub: Subscriber) -> None:
        if self._subs.pop(sub.id, None) is None:
            return
        self._fanout_changed()
        sub.stop()
        self._departed_sent += sub.sent
        self._departed_dropped += sub.dropped
        self._departed_peak_bytes = max(self._departed_peak_bytes, sub.peak_queued_bytes)

    def send(self, sub: Subscriber, event: Event) -> None:
        """Send one event to one subscriber (command replies), after what was published."""
        self.flush()
        payload = encode_event(event if sub.incremental else event.for_replacing_clients())
        state = isinstance(event, InitialState)
        if sub.id in self._subs and not sub.offer([payload], text_frame(payload), state=state):
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
        frame = text_frame(payload)
        self._pending.append(payload)
        self._pending_frames.append(frame)
        if self._replacing_subs:
            other = event.for_replacing_clients()
            if other is not event:
                payload = encode_event(other)
                frame = text_frame(payload)
            self._pending_r.append(payload)
            self._pending_r_frames.append(frame)
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
        r_payloads, self._pending_r = self._pending_r, []
        r_frames = b"".join(self._pending_r_frames) if r_payloads else b""
        self._pending_r_frames = []
        # A subscriber joins after a flush, so a replacing one has every event of this turn in r_payloads.
        for sub in self._fanout:
            if not (sub.offer(payloads, frames) if sub.incremental else sub.offer(r_payloads, r_frames)):
                self._evict(sub, len(payloads))

    def _evict(self, sub: Subscriber, refused: int = 1) -> None:
        """Drop a client that cannot keep up; the others are unaffected."""
        sub.dropped += refused
        sub.evicted = True
        self.evicted_slow += 1
        log.warning("closing client %s (%s): %d frames (%d bytes) queued, queue full",
                    sub.id, sub.role.name, sub.queued, sub.queued_bytes)
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
            # The most bytes any client (present or gone) ever had waiting.
            "peak_client_queued_bytes": max([self._departed_peak_bytes, *(s.peak_queued_bytes for s in subs)]),
            "client_queue_bytes": self.queue_bytes,
        }
