"""Shared fixtures of the market tests."""

import threading

import pytest

from .finnhub_server import FinnhubRecorder


@pytest.fixture
def finnhub():
    """A recorded-Finnhub HTTP server on a free 127.0.0.1 port, for one test."""
    server = FinnhubRecorder()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)
