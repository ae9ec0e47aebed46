"""WebSocket client of one Gateway: connect, reconnect with back-off, ping, commands.

Qt-free: it runs on whatever asyncio loop is current (qasync in the app, plain
asyncio in tests) and reports through psygnal signals.

    client = GatewayClient("ws://127.0.0.1:8765/", token=None)
    client.event_received.connect(lambda event: print(event.type))  # every event, typed
    client.frame_refused.connect(lambda err: print(err))            # frames that are no valid event
    client.state_changed.connect(lambda state: print(state.status)) # connection changes
    client.start()
    await client.wait_connected(5)
    await client.pause()            # System(content="pause accepted", command="pause", ...)
    await client.close()

Every frame is parsed by :func:`backend.schema.events.parse_frame` (strict:
the schema's discriminated union, no unknown field, no coerced type) and
delivered as its event model. A frame that does not parse is never dropped
silently: it is counted (:attr:`refused`, :attr:`last_refusal`), logged with
its type and first problem, and announced on ``frame_refused``. Commands are
the models of :mod:`backend.schema.commands`.
After every (re)connect the Gateway sends ``hello`` then ``initial_state``:
listeners see both, so a model that resets on ``initial_state`` stays right
across reconnects. ``hello`` and the latest ``initial_state`` are also kept
on the client (:attr:`hello`, :attr:`initial_state`).

The desk asks for incremental curves (``?curves=incremental`` on the URL,
see docs/protocol.md "Curves"): each ``team_summary`` then carries only the
day's points, which :class:`app.models.live_model.LiveModel` appends.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import time
from dataclasses import dataclass
from typing import Literal
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from psygnal import Signal
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus, InvalidURI

from backend.backoff import backoff_delay
from backend.schema.commands import Command, GetState, Pause, Ping, Resume, SetPace
from backend.schema.events import CURVES_QUERY, Error, Event, FrameRefused, Hello, InitialState, parse_frame

log = logging.getLogger(__name__)

Status = Literal["idle", "connecting", "connected", "reconnecting", "closed"]
PING_FRAME = Ping().wire_json()
# Distinct refusals (type, problem) logged at WARNING; repeats go to DEBUG (a drifted
# producer can send thousands a second). The count is always exact.
_LOGGED_REFUSALS_LIMIT = 200


class GatewayUnavailable(ConnectionError):
    """A command could not be sent: the Gateway is not connected (the message says why)."""


class GatewayCommandError(RuntimeError):
    """The Gateway answered a command with ``error {message}``."""


@dataclass(frozen=True)
class ConnectionState:
    """Where the connection stands.

    Args:
        status: idle (not started), connecting, connected, reconnecting (waiting
            ``retry_in`` seconds before the next attempt), closed (by :meth:`GatewayClient.close`).
        detail: one line on why ("connection refused", "HTTP 401: invalid token", ...).
        retry_in: seconds until the next attempt while reconnecting.
        attempt: failed attempts in a row.
        since: ``time.monotonic()`` of the change.
    """

    status: Status
    detail: str = ""
    retry_in: float | None = None
    attempt: int = 0
    since: float = 0.0

    @property
    def connected(self) -> bool:
        return self.status == "connected"


def backoff(attempt: int, base: float = 1.0, factor: float = 1.5, cap: float = 30.0) -> float:
    """Delay before reconnect attempt ``attempt`` (1, 2, ...): the shared rule with the desk's defaults."""
    return backoff_delay(attempt, base, cap, factor)


class GatewayClient:
    """A self-healing connection to one Gateway.

    Signals: ``event_received(Event)`` for every parsed frame (psygnal's ``emit_fast``: no
    lock, so connect and disconnect outside its callbacks),
    ``frame_refused(FrameRefused)`` for every frame that is no valid event,
    ``state_changed(ConnectionState)`` on every connection change.

    Args:
        url: ``ws://`` or ``wss://`` URL of the Gateway.
        token: bearer token, or None for an open loopback Gateway.
        ping_interval: seconds between ``ping`` commands (the dashboard's 5 s).
        ping_timeout: seconds without any frame after a ping before the link counts as dead.
        backoff_base, backoff_factor, backoff_cap: reconnect delays (1 s x1.5 up to 30 s).
        open_timeout: seconds allowed for the WebSocket handshake.
        yield_every: seconds of event processing after which the reader yields
            to the loop, so a burst of events never stalls the UI.
    """

    event_received = Signal(object)
    frame_refused = Signal(object)
    state_changed = Signal(object)

    def __init__(self, url: str, token: str | None = None, *, ping_interval: float = 5.0,
                 ping_timeout: float = 15.0, backoff_base: float = 1.0, backoff_factor: float = 1.5,
                 backoff_cap: float = 30.0, open_timeout: float = 5.0, yield_every: float = 0.002,
                 curves: Literal["incremental", "bounded"] = "incremental") -> None:
        self.url = url
        self.curves = curves
        self.token = token
        self.ping_interval = ping_interval
        self.ping_timeout = ping_timeout
        self.backoff_base, self.backoff_factor, self.backoff_cap = backoff_base, backoff_factor, backoff_cap
        self.open_timeout = open_timeout
        self.yield_every = yield_every
        self.hello: Hello | None = None
        self.initial_state: InitialState | None = None
        self.received = 0  # frames received since creation
        self.refused = 0  # of those, frames that were no valid event
        self.last_refusal: FrameRefused | None = None
        self.connects = 0  # successful connections (a reconnect increments it)
        self._state = ConnectionState("idle", since=time.monotonic())
        self._ws: ClientConnection | None = None
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._ready = asyncio.Event()  # connected, and this connection's initial_state arrived
        self._closing = False
        self._last_frame = 0.0
        self._ids = itertools.count(1)
        self._pending: dict[str, asyncio.Future[Event]] = {}
        self._logged_refusals: set[tuple[str, str]] = set()

    # -- observers ------------------------------------------------------------

    @property
    def state(self) -> ConnectionState:
        return self._state

    @property
    def connected(self) -> bool:
        return self._state.connected

    @property
    def role(self) -> str | None:
        """The role the Gateway granted (from ``hello``), or None before the first hello."""
        return self.hello.role if self.hello else None

    @property
    def read_only(self) -> bool | None:
        return self.hello.read_only if self.hello else None

    # -- life cycle -----------------------------------------------------------

    def start(self) -> None:
        """Start connecting (and reconnecting) in the background; idempotent."""
        if self._task is None or self._task.done():
            self._closing = False
            self._task = asyncio.get_running_loop().create_task(self._run(), name=f"gateway {self.url}")

    def reconnect_now(self) -> None:
        """Skip the remaining back-off delay (a "Retry now" button)."""
        self._wake.set()

    async def wait_connected(self, timeout: float | None = None) -> None:
        """Return once connected and this connection's ``initial_state`` arrived (TimeoutError otherwise)."""
        try:
            await asyncio.wait_for(self._ready.wait(), timeout)
        except TimeoutError:
            raise TimeoutError(f"gateway {self.url} not connected after {timeout}s: "
                               f"{self._state.status} {self._state.detail}".rstrip()) from None

    async def close(self) -> None:
        """Disconnect for good (no reconnect)."""
        self._closing = True
        self._wake.set()
        ws = self._ws
        if ws is not None:
            await ws.close()
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        self._fail_pending("gateway client closed")
        self._set_state("closed", "closed by the app")

    # -- commands -------------------------------------------------------------

    async def send(self, command: Command) -> None:
        """Send a command (a :mod:`backend.schema.commands` model) without waiting."""
        ws = self._ws
        if ws is None or not self.connected:
            raise GatewayUnavailable(f"gateway {self.url} is not connected ({self._state.status}"
                                     f"{': ' + self._state.detail if self._state.detail else ''})")
        try:
            await ws.send(command.wire_json())
        except ConnectionClosed as err:
            raise GatewayUnavailable(f"gateway {self.url} connection lost while sending: {err}") from None

    async def request(self, command: Command, timeout: float = 10.0) -> Event:
        """Send a command and return its reply event (matched by ``request_id``).

        Raises:
            GatewayUnavailable: not connected, or the link dropped before the reply.
            GatewayCommandError: the Gateway answered ``error`` (e.g. a viewer sent ``pause``),
                or its reply was refused by the parser (the message says why).
            TimeoutError: no reply within ``timeout`` seconds.
        """
        rid = f"desk-{next(self._ids)}"
        fut: asyncio.Future[Event] = asyncio.get_running_loop().create_future()
        self._pending[rid] = fut
        try:
            await self.send(command.model_copy(update={"request_id": rid}))
            reply = await asyncio.wait_for(fut, timeout)
        except TimeoutError:
            raise TimeoutError(f"gateway {self.url}: no reply to {command.type} within {timeout}s") from None
        finally:
            self._pending.pop(rid, None)
        if isinstance(reply, Error):
            raise GatewayCommandError(reply.message)
        return reply

    async def pause(self) -> Event:
        return await self.request(Pause())

    async def resume(self) -> Event:
        return await self.request(Resume())

    async def set_pace(self, seconds: float) -> Event:
        return await self.request(SetPace(seconds=seconds))

    async def get_state(self) -> Event:
        """Ask for a fresh ``initial_state`` (listeners see it too)."""
        return await self.request(GetState())

    # -- internals ------------------------------------------------------------

    def _set_state(self, status: Status, detail: str = "", retry_in: float | None = None, attempt: int = 0) -> None:
        self._state = ConnectionState(status, detail, retry_in, attempt, time.monotonic())
        if status != "connected":
            self._ready.clear()
        try:
            self.state_changed.emit(self._state)
        except Exception:  # an observer's bug must not break the connection
            log.exception("gateway state listener failed")

    async def _run(self) -> None:
        attempt = 0
        while not self._closing:
            self._set_state("connecting" if attempt == 0 else "reconnecting", self._state.detail, attempt=attempt)
            try:
                detail = await self._connect_once()
                attempt = 0 if self.hello is not None and self._ready.is_set() else attempt
            except asyncio.CancelledError:
                raise
            except Exception as err:  # noqa: BLE001 - any failure means: retry later
                detail = _describe(err)
            if self._closing:
                break
            attempt += 1
            delay = backoff(attempt, self.backoff_base, self.backoff_factor, self.backoff_cap)
            self._set_state("reconnecting", detail, retry_in=delay, attempt=attempt)
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), delay)
            except TimeoutError:
                pass

    async def _connect_once(self) -> str:
        """One connection, until it drops; returns why it ended."""
        self._ready.clear()
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else None
        # No compression: the Gateway does not offer it (deflate costs ~35 % CPU at event rates),
        # and proxy=None: a proxy from the environment must never see the event stream.
        # max_queue: frames received but not read yet before reading pauses; websockets' 16 made
        # the transport pause and resume reading hundreds of times a second under a flood, and
        # each resume builds a new socket notifier on the Qt loop (qasync).
        async with connect(with_curves(self.url, self.curves), additional_headers=headers, open_timeout=self.open_timeout,
                           ping_interval=None, max_size=16 * 1024 * 1024, max_queue=1024, compression=None,
                           proxy=None) as ws:
            self._ws = ws
            self._last_frame = time.monotonic()
            self.connects += 1
            self._set_state("connected")
            pinger = asyncio.get_running_loop().create_task(self._ping_loop(ws))
            try:
                await self._read(ws)
            finally:
                pinger.cancel()
                self._ws = None
                self._fail_pending("gateway connection lost")
            code = ws.close_code
            return f"connection closed ({code} {ws.close_reason})".strip() if code else "connection lost"

    async def _read(self, ws: ClientConnection) -> None:
        loop = asyncio.get_running_loop()
        budget_start = loop.time()
        try:
            async for message in ws:
                self._last_frame = time.monotonic()
                self._dispatch(message)
                # Frames already buffered are returned without suspending: yield
                # now and then so a burst cannot hold the (UI) loop.
                if loop.time() - budget_start > self.yield_every:
                    await asyncio.sleep(0)
                    budget_start = loop.time()
        except ConnectionClosed:
            pass

    def _dispatch(self, message: str | bytes) -> None:
        self.received += 1
        try:
            event = parse_frame(message)
        except FrameRefused as refusal:
            self._refuse(refusal)
            return
        if isinstance(event, Hello):
            self.hello = event
        elif isinstance(event, InitialState):
            self.initial_state = event
            if self.connected:
                self._ready.set()
        if event.request_id is not None:
            fut = self._pending.get(str(event.request_id))
            if fut is not None and not fut.done():
                fut.set_result(event)
        try:
            self.event_received.emit_fast(event)  # no lock: emitter and listeners are all on the loop's thread
        except Exception:  # a listener's bug must not break the connection
            log.exception("gateway listener failed on %s", event.type)

    def _refuse(self, refusal: FrameRefused) -> None:
        """Count, log and announce a frame that is no valid event (never dropped silently)."""
        self.refused += 1
        self.last_refusal = refusal
        key = (refusal.event_type, refusal.problem)
        if key not in self._logged_refusals and len(self._logged_refusals) < _LOGGED_REFUSALS_LIMIT:
            self._logged_refusals.add(key)
            log.warning("gateway %s: %s (%d refused so far)", self.url, refusal, self.refused)
        else:
            log.debug("gateway %s: %s (%d refused so far)", self.url, refusal, self.refused)
        if refusal.request_id is not None:
            fut = self._pending.get(str(refusal.request_id))
            if fut is not None and not fut.done():
                fut.set_exception(GatewayCommandError(f"the Gateway's reply could not be read: {refusal}"))
        try:
            self.frame_refused.emit(refusal)
        except Exception:
            log.exception("gateway refusal listener failed on %s", refusal.event_type)

    async def _ping_loop(self, ws: ClientConnection) -> None:
        while True:
            await asyncio.sleep(self.ping_interval)
            if time.monotonic() - self._last_frame > self.ping_timeout:
                log.warning("gateway %s silent for %.0fs: reconnecting", self.url, self.ping_timeout)
                await ws.close(1001, "ping timeout")
                return
            try:
                await ws.send(PING_FRAME)
            except ConnectionClosed:
                return

    def _fail_pending(self, why: str) -> None:
        for fut in self._pending.values():
            if not fut.done():
                fut.set_exception(GatewayUnavailable(f"gateway {self.url}: {why}"))
        self._pending.clear()


def _describe(err: BaseException) -> str:
    if isinstance(err, InvalidStatus):
        body = err.response.body.decode("utf-8", "replace") if err.response.body else ""
        try:
            message = json.loads(body).get("message", body)
        except (ValueError, AttributeError):
            message = body
        return f"HTTP {err.response.status_code}: {message}".strip().rstrip(":")
    if isinstance(err, InvalidURI):
        return f"invalid URL: {err}"
    if isinstance(err, ConnectionRefusedError):
        return "connection refused"
    if isinstance(err, TimeoutError):
        return "handshake timed out"
    if isinstance(err, OSError):
        return err.strerror or type(err).__name__
    return f"{type(err).__name__}: {err}"


def with_curves(url: str, curves: str) -> str:
    """``url`` asking for ``curves`` (``incremental`` or ``bounded``) in its query, other parameters kept."""
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != CURVES_QUERY]
    return urlunsplit(parts._replace(query=urlencode([*query, (CURVES_QUERY, curves)])))
