"""Fan-out under pressure: slow clients, reconnect storms, foreign threads."""

from __future__ import annotations

import asyncio
import json
import random
import socket
import threading

import httpx
from gateway_fakes import wait_for
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

import gateway.hub
from gateway.hub import CLOSE_TOO_SLOW


class Collector:
    """A client that reads every frame as it comes and keeps the event seqs."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.seqs: list[int] = []
        self.task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        try:
            async for message in self.ws:
                frame = json.loads(message)
                if "seq" in frame:
                    self.seqs.append(frame["seq"])
        except ConnectionClosed:
            pass


async def test_every_client_gets_each_event_encoded_once(start_gateway, driver, monkeypatch):
    encoded = []
    real = gateway.hub.encode_event
    monkeypatch.setattr(gateway.hub, "encode_event", lambda e: encoded.append(e.type) or real(e))
    server = await start_gateway()
    collectors = [Collector(await connect(server.url)) for _ in range(5)]
    await wait_for(lambda: server.hub.client_count == 5, what="5 clients")
    encoded.clear()  # hello/initial_state are per client by nature
    for seq in range(20):
        driver.emit_seq(seq)
    await wait_for(lambda: all(len(c.seqs) == 20 for c in collectors), what="20 events at 5 clients")
    assert all(c.seqs == list(range(20)) for c in collectors)
    assert encoded == ["system"] * 20
    for c in collectors:
        await c.ws.close()


def _tiny_receive_buffer_socket(port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", port))
    sock.setblocking(False)
    return sock


async def test_slow_client_is_closed_with_1013_and_others_get_everything(start_gateway, driver):
    server = await start_gateway(queue_size=16, write_limit=16 * 1024)
    # Never reads until the end; the library stops reading after one frame.
    slow = await connect(server.url, sock=_tiny_receive_buffer_socket(server.port), max_queue=1)
    fast = Collector(await connect(server.url))
    await wait_for(lambda: server.hub.client_count == 2, what="2 clients")

    published = 0
    extra_after_eviction = 200
    while published < 20_000 and extra_after_eviction > 0:
        for _ in range(8):
            driver.emit_seq(published, size=16_000)
            published += 1
        if server.hub.evicted_slow:
            extra_after_eviction -= 8
        # Pace by the fast reader only: the slow one must not hold us back.
        await wait_for(lambda n=published: len(fast.seqs) == n, what=f"fast client at {published}")

    assert server.hub.evicted_slow == 1, f"slow client not evicted after {published} events"
    assert fast.seqs == list(range(published))
    with_code = None
    try:
        while True:
            await asyncio.wait_for(slow.recv(), 10)
    except ConnectionClosed as closed:
        with_code = closed.rcvd.code if closed.rcvd else None
    assert with_code == CLOSE_TOO_SLOW
    assert server.hub.client_count == 1
    assert server.hub.totals()["dropped"] > 0
    await fast.ws.close()


async def _churn(url: str, port: int, rounds: int, rng: random.Random) -> None:
    """Connect and drop in every way a flaky dashboard or network can."""
    for _ in range(rounds):
        how = rng.choice(["close", "read-close", "abort", "half-handshake", "abort-before-hello"])
        if how == "half-handshake":
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n")
            writer.close()
            continue
        ws = await connect(url, open_timeout=20)
        if how == "abort-before-hello":
            ws.transport.abort()
            continue
        if how == "read-close":
            for _ in range(rng.randint(1, 5)):
                await ws.recv()
        if how == "abort":
            ws.transport.abort()
        else:
            await ws.close()


async def test_reconnect_storm_leaves_steady_client_whole(start_gateway, driver):
    server = await start_gateway()
    steady = Collector(await connect(server.url))
    stop = asyncio.Event()

    async def emitter() -> int:
        seq = 0
        while not stop.is_set():
            driver.emit_seq(seq, size=200)
            seq += 1
            await asyncio.sleep(0.0005)
        return seq

    emitting = asyncio.create_task(emitter())
    rng = random.Random(1234)
    churners = [_churn(server.url, server.port, 6, random.Random(rng.random())) for _ in range(50)]
    results = await asyncio.gather(*churners, return_exceptions=True)
    stop.set()
    total = await emitting

    assert [r for r in results if isinstance(r, BaseException)] == []
    await wait_for(lambda: len(steady.seqs) == total, what=f"steady client at {total} events")
    assert steady.seqs == list(range(total))
    await wait_for(lambda: server.hub.client_count == 1, what="churned clients gone")
    async with httpx.AsyncClient() as http:
        assert (await http.get(f"http://127.0.0.1:{server.port}/health")).status_code == 200
    await steady.ws.close()


async def test_events_emitted_from_another_thread_arrive_in_order(start_gateway, driver):
    server = await start_gateway()
    client = Collector(await connect(server.url))
    await wait_for(lambda: server.hub.client_count == 1, what="client registered")
    worker = threading.Thread(target=lambda: [driver.emit_seq(i) for i in range(500)])
    worker.start()
    await asyncio.to_thread(worker.join)
    await wait_for(lambda: len(client.seqs) == 500, what="500 events")
    assert client.seqs == list(range(500))
    await client.ws.close()


async def test_keepalive_pings_interleave_with_coalesced_frames(start_gateway, driver):
    """Raw frame writes and the library's own control frames share one socket."""
    server = await start_gateway(ping_interval=0.01, ping_timeout=5)
    client = Collector(await connect(server.url))
    await wait_for(lambda: server.hub.client_count == 1, what="client registered")
    for burst in range(100):
        for i in range(20):
            driver.emit_seq(burst * 20 + i, size=300)
        await asyncio.sleep(0.001)
    await wait_for(lambda: len(client.seqs) == 2000, what="2000 events")
    assert client.seqs == list(range(2000))
    assert client.ws.state.name == "OPEN"
    await client.ws.close()


async def test_deflate_clients_get_the_same_stream(start_gateway, driver):
    server = await start_gateway(compression="deflate")
    plain = Collector(await connect(server.url, compression=None))
    deflated = Collector(await connect(server.url, compression="deflate"))
    await wait_for(lambda: server.hub.client_count == 2, what="2 clients")
    for seq in range(300):
        driver.emit_seq(seq, size=500)
        if seq % 50 == 0:
            await asyncio.sleep(0)
    await wait_for(lambda: len(plain.seqs) == len(deflated.seqs) == 300, what="300 events at both")
    assert plain.seqs == deflated.seqs == list(range(300))
    assert deflated.ws.protocol.extensions  # deflate really was negotiated
    await plain.ws.close()
    await deflated.ws.close()
