"""Fixtures for Gateway transport tests: a fake run and real servers on free ports."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any, AsyncIterator, Awaitable, Callable

import pytest

from backend.security.tokens import TokenRegistry, generate_registry
from gateway.server import GatewayServer

# Test directories are not packages, so a bare `import fakes` could pick up
# another area's fakes.py; load ours under a name no one else uses.
_spec = importlib.util.spec_from_file_location("gateway_fakes", Path(__file__).with_name("fakes.py"))
assert _spec is not None and _spec.loader is not None
gateway_fakes = importlib.util.module_from_spec(_spec)
sys.modules["gateway_fakes"] = gateway_fakes
_spec.loader.exec_module(gateway_fakes)

FakeDriver = gateway_fakes.FakeDriver


@pytest.fixture
def driver() -> Any:
    return FakeDriver()


@pytest.fixture
def tokens() -> TokenRegistry:
    return generate_registry()


StartGateway = Callable[..., Awaitable[GatewayServer]]


@pytest.fixture
async def start_gateway(driver: Any) -> AsyncIterator[StartGateway]:
    """Start a GatewayServer on 127.0.0.1 and a free port; stopped after the test."""
    servers: list[GatewayServer] = []

    async def start(**options: Any) -> GatewayServer:
        run = options.pop("driver", driver)
        server = GatewayServer(run, "127.0.0.1", 0, **options)
        await server.start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        await server.stop()
