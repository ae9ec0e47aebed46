"""Shared fixtures of the market tests."""

import pytest

from .finnhub_server import running_finnhub


@pytest.fixture
def finnhub():
    """A recorded-Finnhub HTTP server on a free 127.0.0.1 port, for one test."""
    with running_finnhub() as server:
        yield server
