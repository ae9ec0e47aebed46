"""A real HTTP server on a free 127.0.0.1 port, for tests that need a peer."""

from __future__ import annotations

import contextlib
import http.server
import threading
from collections.abc import Iterator


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
