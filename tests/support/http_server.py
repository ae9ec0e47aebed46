"""A real HTTP server on a free 127.0.0.1 port, for tests that need a peer."""

from __future__ import annotations

import contextlib
import http.server
import json
import threading
from collections.abc import Iterator
from typing import Any


@contextlib.contextmanager
def serving(handler: type[http.server.BaseHTTPRequestHandler]) -> Iterator[tuple[str, http.server.ThreadingHTTPServer]]:
    """Serve ``handler`` in a thread; yields ``(base_url, server)`` and always shuts it down."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", server
    finally:
        server.shutdown()
        server.server_close()


class JsonHandler(http.server.BaseHTTPRequestHandler):
    """A quiet request handler whose subclasses answer with :meth:`reply`."""

    def reply(self, status: int, body: Any) -> None:
        """Answer ``status`` with ``body`` as JSON (bytes are sent as they are)."""
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:  # keep test output quiet
        pass


class HealthHandler(JsonHandler):
    """A service that is up and has nothing else: ``GET /health`` answers ``{"status": "ok"}``, the rest 404."""

    def do_GET(self) -> None:  # noqa: N802 - http.server API
        self.reply(200 if self.path == "/health" else 404, {"status": "ok"})
