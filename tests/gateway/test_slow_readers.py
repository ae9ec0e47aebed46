"""Clients that never read cannot make a real Gateway's memory grow without bound.

Each client below is a raw TCP socket with a tiny receive buffer that does the
WebSocket handshake and then only ever *sends*: ``get_state`` in a loop, the
way a stuck dashboard tab or a hostile viewer would. The Gateway is a real
``python -m gateway`` subprocess; its ``/metrics`` expose each client's
queued bytes and the byte bound, and psutil reads its resident memory.
"""

from __future__ import annotations

import asyncio
import json
import socket
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest
from websockets.client import ClientProtocol
from websockets.http11 import Response
from websockets.uri import parse_uri

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "e2e"))
from gateway_process import collect_until, connect, gateway_env, recv_json, start_gateway  # noqa: E402

from tests.support.waiting import until  # noqa: E402

pytestmark = pytest.mark.slow

VIEWER, ADMIN = "viewer-token-slow-readers", "admin-token-slow-readers"
QUEUE_BYTES = 1024 * 1024
CLIENTS = 4
REQUESTS = 400  # per client: ~70 MB of state replies each if they were all kept


class SilentClient:
    """A WebSocket client that completes the handshake and then never reads."""

    def __init__(self, url: str) -> None:
        self.protocol = ClientProtocol(parse_uri(url))
        self.sock = socket.socket()
        # Shrink the receive window so the Gateway's socket backs up after a few KB.
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        self.sock.settimeout(10.0)
        host, port = url.removeprefix("ws://").split("/")[0].split(":")
        self.sock.connect((host, int(port)))
        request = self.protocol.connect()
        request.headers["Authorization"] = f"Bearer {VIEWER}"
        self.protocol.send_request(request)
        self._flush()
        while not any(isinstance(e, Response) for e in self.protocol.events_received()):
            data = self.sock.recv(65536)
            assert data, "gateway closed the connection during the handshake"
            self.protocol.receive_data(data)
        assert self.protocol.handshake_exc is None, self.protocol.handshake_exc

    def _flush(self) -> None:
        for chunk in self.protocol.data_to_send():
            if chunk:
                self.sock.sendall(chunk)

    def ask_state(self, request_id: int) -> None:
        self.protocol.send_text(json.dumps({"type": "get_state", "request_id": request_id}).encode())
        self._flush()

    def close(self) -> None:
        self.sock.close()


def _health(http_url: str) -> dict[str, Any]:
    return httpx.get(f"{http_url}/health", headers={"Authorization": f"Bearer {ADMIN}"}, timeout=30).json()


def _metrics(http_url: str) -> dict[str, Any]:
    response = httpx.get(f"{http_url}/metrics", headers={"Authorization": f"Bearer {ADMIN}"}, timeout=30)
    response.raise_for_status()
    return response.json()


async def test_never_reading_viewers_asking_for_state_keep_the_gateway_bounded(tmp_path):
    env = gateway_env(tmp_path, EVOTRADERS_VIEWER_TOKEN=VIEWER, EVOTRADERS_ADMIN_TOKEN=ADMIN,
                      GATEWAY_CLIENT_QUEUE_BYTES=str(QUEUE_BYTES))
    proc, url = start_gateway(env, "--run-id", "r", "--create", "--pace", "0")
    http_url = url.replace("ws://", "http://").rstrip("/")
    clients: list[SilentClient] = []
    try:
        # Let the six-month run finish (watched over HTTP: a WebSocket reader
        # slower than the run would itself meet the byte bound); its state
        # (~180 KB) is what the clients ask for.
        await until(lambda: _health(http_url)["status"] == "completed", 120, "the run to complete")
        async with connect(f"{url}?token={ADMIN}", max_size=None) as ws:
            state = await collect_until(ws, lambda f: f["type"] == "initial_state")
        state_bytes = len(json.dumps(state[-1]))
        gateway = psutil.Process(proc.pid)
        rss_before = gateway.memory_info().rss

        clients = [SilentClient(url) for _ in range(CLIENTS)]
        for n in range(REQUESTS):
            for client in clients:
                client.ask_state(n)

        # Every request is answered one way or another: written, queued, or
        # answered by the state reply already waiting (hello + initial_state first).
        def all_handled() -> list[dict[str, Any]] | None:
            stats = [c for c in _metrics(http_url)["clients"] if c["role"] == "viewer"]
            done = len(stats) == CLIENTS and all(
                c["sent"] + c["queued"] + c["coalesced"] == REQUESTS + 2 for c in stats)
            return stats if done else None

        peak_rss = rss_before
        stats = None
        deadline = time.monotonic() + 60
        while stats is None:
            peak_rss = max(peak_rss, gateway.memory_info().rss)
            stats = all_handled()
            assert time.monotonic() < deadline, f"requests not all handled: {_metrics(http_url)['clients']}"
            await asyncio.sleep(0.05)
        peak_rss = max(peak_rss, gateway.memory_info().rss)

        # Kept, the replies would be 4 x 400 x ~180 KB (~290 MB); bounded, a few MB.
        assert peak_rss - rss_before < 40 * 1024 * 1024, (rss_before, peak_rss)
        for client in stats:
            # At most one state reply waits per client; the rest were answered by it.
            assert client["coalesced"] > REQUESTS // 2, client
            assert client["peak_queued_bytes"] <= QUEUE_BYTES + state_bytes, client
        totals = _metrics(http_url)["hub"]
        assert totals["client_queue_bytes"] == QUEUE_BYTES
        assert totals["peak_client_queued_bytes"] <= QUEUE_BYTES + state_bytes

        for client in clients:
            client.close()
        clients = []
        await until(lambda: _metrics(http_url)["hub"]["clients"] == 0, 30, "silent clients to go")
        # A client that reads is served as before.
        async with connect(f"{url}?token={VIEWER}", max_size=None) as ws:
            hello = await recv_json(ws)
            first = await recv_json(ws)
        assert hello["type"] == "hello" and first["type"] == "initial_state"
        assert first["state"]["status"] == "completed"
    finally:
        for client in clients:
            client.close()
        proc.kill()
        proc.wait(timeout=10)


async def test_a_client_that_stops_reading_during_a_run_is_closed_at_the_byte_bound(tmp_path):
    env = gateway_env(tmp_path, EVOTRADERS_VIEWER_TOKEN=VIEWER, EVOTRADERS_ADMIN_TOKEN=ADMIN,
                      GATEWAY_CLIENT_QUEUE_BYTES=str(256 * 1024))
    proc, url = start_gateway(env, "--run-id", "r", "--create", "--pace", "0", "--paused")
    http_url = url.replace("ws://", "http://").rstrip("/")
    silent = None
    try:
        silent = SilentClient(url)
        async with connect(f"{url}?token={ADMIN}", max_size=None) as ws:
            await ws.send(json.dumps({"type": "resume", "request_id": "go"}))
            await collect_until(ws, lambda f: f.get("request_id") == "go")
        await until(lambda: _health(http_url)["status"] == "completed", 120, "the run to complete")
        # The silent client was let go once its queue passed the byte bound,
        # long before 1,024 frames waited for it.
        totals = _metrics(http_url)["hub"]
        assert totals["published"] > 1024
        assert totals["evicted_slow"] == 1, totals
        assert totals["peak_client_queued_bytes"] <= 256 * 1024 + 64 * 1024, totals
    finally:
        if silent is not None:
            silent.close()
        proc.kill()
        proc.wait(timeout=10)
