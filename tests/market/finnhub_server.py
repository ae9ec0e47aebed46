"""A real HTTP server on 127.0.0.1 replaying recorded Finnhub /quote answers.

Tokens: ``good`` is accepted, ``revoked`` answers 401, ``forbidden`` 403.
Symbols: AAPL/MSFT/NVDA replay recorded quotes; NOPE the unknown-symbol
answer (c == 0); BROKEN a non-JSON page; NOC a quote without ``c``; LIMIT
always 429; FLAKY 429 twice, then the AAPL quote; PAIRA/PAIRB only answer
once both requests are in flight together (proves polling is concurrent).
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

FIXTURES = Path(__file__).parent / "fixtures" / "finnhub"


class FinnhubRecorder(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.requests: list[dict[str, str]] = []
        self.flaky_left = 2
        self.pair = threading.Barrier(2, timeout=5)
        self.lock = threading.Lock()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/api/v1"


@contextlib.contextmanager
def running_finnhub() -> Iterator[FinnhubRecorder]:
    """A :class:`FinnhubRecorder` serving on a free 127.0.0.1 port until the block ends."""
    server = FinnhubRecorder()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


class _Handler(BaseHTTPRequestHandler):
    server: FinnhubRecorder

    def log_message(self, *args: object) -> None:  # keep test output quiet
        pass

    def _send(self, status: int, body: bytes, content_type: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        if status == 429:
            self.send_header("Retry-After", "0")
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:  # noqa: N802 - http.server API
        url = urlparse(self.path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        with self.server.lock:
            self.server.requests.append(query)
        if url.path != "/api/v1/quote":
            return self._send(404, b'{"error":"not found"}')
        token, symbol = query.get("token"), query.get("symbol", "")
        if token == "revoked":
            return self._send(401, (FIXTURES / "error_401.json").read_bytes())
        if token == "forbidden":
            return self._send(403, b'{"error":"You don\'t have access to this resource."}')
        if token != "good":
            return self._send(401, (FIXTURES / "error_401.json").read_bytes())
        if symbol in ("AAPL", "MSFT", "NVDA"):
            return self._send(200, (FIXTURES / f"quote_{symbol}.json").read_bytes())
        if symbol == "NOPE":
            return self._send(200, (FIXTURES / "quote_unknown_symbol.json").read_bytes())
        if symbol == "BROKEN":
            return self._send(200, (FIXTURES / "quote_malformed.txt").read_bytes(), "text/html")
        if symbol == "NOC":
            return self._send(200, (FIXTURES / "quote_missing_c.json").read_bytes())
        if symbol == "LIMIT":
            return self._send(429, (FIXTURES / "error_429.json").read_bytes())
        if symbol == "FLAKY":
            with self.server.lock:
                limited = self.server.flaky_left > 0
                self.server.flaky_left -= 1
            if limited:
                return self._send(429, (FIXTURES / "error_429.json").read_bytes())
            return self._send(200, (FIXTURES / "quote_AAPL.json").read_bytes())
        if symbol in ("PAIRA", "PAIRB"):
            try:
                self.server.pair.wait()
            except threading.BrokenBarrierError:
                return self._send(500, b'{"error":"requests were not concurrent"}')
            return self._send(200, json.dumps({"c": 10.0, "o": 9.5, "pc": 9.0, "t": 1735851600}).encode())
        return self._send(200, (FIXTURES / "quote_unknown_symbol.json").read_bytes())
