"""Fixtures for the sandbox tests: misbehaving skills, engines and helpers."""

from __future__ import annotations

import os
import socket
import sys
import threading
from typing import Callable, Iterator

import pytest

from backend.skills.spec import SkillSpec, load_skill
from backend.sandbox.isolation import Isolation

from sandbox_helpers import DOCKER_HOST_DEFAULT, DOCKER_IMAGE, SKILLS_DIR


@pytest.fixture
def skill() -> Callable[[str], SkillSpec]:
    return lambda name: load_skill(SKILLS_DIR / name)


@pytest.fixture(scope="session")
def bwrap_isolation() -> Isolation:
    """The machine's best isolation (bwrap if it works here)."""
    return Isolation()


@pytest.fixture
def listening_port() -> Iterator[int]:
    """A TCP port on the host's 127.0.0.1 that accepts connections."""
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
                conn.close()
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join(2)
    server.close()


@pytest.fixture(scope="session")
def docker_client():
    """A client for the test engine, or a skip (a failure when EVOTRADERS_REQUIRE_DOCKER=1)."""
    import docker

    host = os.environ.get("DOCKER_HOST") or DOCKER_HOST_DEFAULT
    try:
        client = docker.DockerClient(base_url=host, version="auto", timeout=15)
        client.ping()
        client.images.get(DOCKER_IMAGE)
    except Exception as exc:  # noqa: BLE001 - any failure means "no usable engine"
        reason = (f"no usable Docker engine at {host} with image {DOCKER_IMAGE} ({type(exc).__name__}: "
                  f"{str(exc).splitlines()[0] if str(exc) else ''}); run `sudo scripts/docker_sandbox_setup.sh` "
                  f"and export DOCKER_HOST")
        if os.environ.get("EVOTRADERS_REQUIRE_DOCKER") == "1":
            pytest.fail("EVOTRADERS_REQUIRE_DOCKER=1 but " + reason)
        print("SKIP docker sandbox tests: " + reason, file=sys.stderr)
        pytest.skip(reason)
    os.environ.setdefault("DOCKER_HOST", host)
    yield client
    client.close()
