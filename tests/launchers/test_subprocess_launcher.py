"""The subprocess launcher's ports and URLs, and runtime_service returning a URL a client can follow.

Real Gateways on real ports, a real runtime_service process over HTTP, real
WebSocket clients.
"""

from __future__ import annotations

import json
import socket
import string

import httpx
import pytest
from hypothesis import given, strategies as st
from websockets.asyncio.client import connect

from backend.config import SettingsError, load_settings
from backend.control_plane.controller import RuntimeController
from backend.control_plane.gateway_launchers.public_url import gateway_url
from backend.security.tokens import Role
from backend.storage.ids import RUN_ID_RE
from backend.storage.run_store import RunStore
from backend.supervisor.ports import free_port
from tests.launchers.conftest import make_run
from tests.support.service_process import ServiceProcess, service_env


async def _greeting(url: str, token: str) -> list[str]:
    async with connect(url, additional_headers={"Authorization": f"Bearer {token}"}, max_size=None) as ws:
        return [json.loads(await ws.recv())["type"] for _ in range(2)]


@pytest.fixture
async def local(tmp_path, registry):
    """A local stack's controller: GATEWAY_PORT is a port free right now (8765 may be another test's)."""
    preferred = free_port()
    settings = load_settings(runs_dir=tmp_path / "runs", workspaces_dir=tmp_path / "ws", gateway_port=preferred)
    controller = RuntimeController(settings, RunStore.from_settings(settings), registry=registry,
                                   preferred_port=settings.gateway_port)
    yield controller, preferred
    await controller.shutdown()


async def test_the_first_gateway_gets_gateway_port_and_later_concurrent_ones_free_ports(local, registry):
    controller, preferred = local
    first = await controller.start_run(make_run(controller.store, "first"), paused=True)
    second = await controller.start_run(make_run(controller.store, "second"), paused=True)
    assert first["port"] == preferred and first["url"] == f"ws://127.0.0.1:{preferred}/"
    assert second["port"] not in (None, preferred)
    viewer = registry.tokens[Role.viewer]
    for info in (first, second):  # each URL reaches its own run's Gateway
        assert await _greeting(info["url"], viewer) == ["hello", "initial_state"]
    # Once the first is stopped its port is free again: the next run gets it.
    await controller.stop_run("first")
    third = await controller.start_run(make_run(controller.store, "third"), paused=True)
    assert third["port"] == preferred


async def test_a_gateway_port_held_by_another_program_is_left_alone(local):
    controller, preferred = local
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", preferred))
        squatter.listen()
        info = await controller.start_run(make_run(controller.store), paused=True)
    assert info["status"] == "healthy" and info["port"] != preferred


@pytest.mark.parametrize("found_by", ["the supervisor's check", "the Gateway's bind"])
async def test_gateway_port_taken_after_the_check_moves_to_a_free_port(local, monkeypatch, found_by):
    """The race with another program: our check said free, then it took the port (fault injection)."""
    controller, preferred = local
    controller.launcher.pick_port = lambda: preferred  # the check ran before the squatter came
    if found_by == "the Gateway's bind":  # ... and the supervisor's own check too: the bind is what fails
        import backend.supervisor.managed_process as managed_process

        monkeypatch.setattr(managed_process, "check_port_free", lambda host, port: None)
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", preferred))
        squatter.listen()
        info = await controller.start_run(make_run(controller.store), paused=True)
    assert info["status"] == "healthy" and info["port"] != preferred and info["restarts"] == 0
    assert await _greeting(info["url"], controller.registry.tokens[Role.viewer]) == ["hello", "initial_state"]


async def test_the_public_url_template_is_what_clients_are_given(tmp_path, registry):
    settings = load_settings(runs_dir=tmp_path / "runs", workspaces_dir=tmp_path / "ws",
                             gateway_public_url="wss://desk.example.test/gateways/{run_id}/?port={port}")
    controller = RuntimeController(settings, RunStore.from_settings(settings), registry=registry)
    try:
        info = await controller.start_run(make_run(controller.store, "tmpl"), paused=True)
        assert info["url"] == f"wss://desk.example.test/gateways/tmpl/?port={info['port']}"
        # The controller still reaches its Gateway directly (commands are relayed).
        assert (await controller.pause("tmpl"))["command"] == "pause"
    finally:
        await controller.shutdown()


def test_runtime_service_over_http_returns_a_url_a_viewer_can_follow(tmp_path):
    admin, viewer = "admin-token-for-launcher-tests", "viewer-token-for-launcher-tests"
    gateway_port = free_port()
    env = service_env(tmp_path, EVOTRADERS_ADMIN_TOKEN=admin, EVOTRADERS_VIEWER_TOKEN=viewer,
                      GATEWAY_PORT=str(gateway_port))
    with ServiceProcess("runtime_service", env).start(timeout=60) as service:
        created = httpx.post(f"{service.url}/runs", headers={"Authorization": f"Bearer {admin}"}, json={
            "workspace": "default", "run_id": "remote", "start_date": "2025-03-03", "end_date": "2025-03-07",
            "tickers": ["AAPL"]})
        assert created.status_code == 201, created.text
        started = httpx.post(f"{service.url}/runs/remote/start", headers={"Authorization": f"Bearer {admin}"},
                             json={"paused": True}, timeout=90)
        assert started.status_code == 200, started.text
        # A viewer reads the URL from runtime_service and follows the run with nothing else typed.
        info = httpx.get(f"{service.url}/runs/remote/gateway", headers={"Authorization": f"Bearer {viewer}"},
                         timeout=10).json()
        assert info["url"] == f"ws://127.0.0.1:{gateway_port}/" and info["health"]["run_id"] == "remote"

        import asyncio

        assert asyncio.run(_greeting(info["url"], viewer)) == ["hello", "initial_state"]


RUN_IDS = st.from_regex(RUN_ID_RE, fullmatch=True)


@given(run_id=RUN_IDS, port=st.integers(1, 65535), host=st.sampled_from(["127.0.0.1", "0.0.0.0", "gw-a.ns.svc", "::1"]))
def test_a_template_gets_the_run_and_port_and_no_template_gets_the_natural_address(run_id, port, host):
    assert gateway_url("wss://gw.example.test/{run_id}/{port}", run_id, host, port) == \
        f"wss://gw.example.test/{run_id}/{port}"
    natural = gateway_url(None, run_id, host, port)
    assert natural.startswith("ws://") and natural.endswith(f":{port}/") and "0.0.0.0" not in natural


@given(st.text(string.ascii_letters + "{}:/_", min_size=1, max_size=30))
def test_a_bad_template_is_refused_naming_the_variable(text):
    template = f"ws://gw.example.test/{text}"
    try:
        fields = {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}
    except ValueError:
        fields = None
    try:
        load_settings(gateway_public_url=template)
    except SettingsError as err:
        assert str(err).startswith("invalid setting GATEWAY_PUBLIC_URL")
        assert fields is None or fields - {"run_id", "port", "host"}
    else:
        assert fields is not None and fields <= {"run_id", "port", "host"}
