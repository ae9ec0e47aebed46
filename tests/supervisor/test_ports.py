"""Port checks before spawning: a busy port is reported with the holder's pid."""

from __future__ import annotations

import os
import socket
import subprocess

import httpx
import pytest

from backend.supervisor import PortError, PortInUseError, check_port_free, free_port

from .support import child


def test_free_port_is_bindable_and_passes_the_check():
    port = free_port()
    check_port_free("127.0.0.1", port)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))


def test_port_zero_is_always_free():
    check_port_free("127.0.0.1", 0)


def test_listener_in_this_process_is_named():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        with pytest.raises(PortInUseError) as info:
            check_port_free("127.0.0.1", port)
    err = info.value
    assert err.port == port
    assert err.pid == os.getpid()
    assert f"port {port} on 127.0.0.1 is already in use by pid {os.getpid()}" in str(err)


def test_listener_in_another_process_is_named():
    port = free_port()
    holder = subprocess.Popen(child("health_server.py", port), stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().startswith("listening on")
        with pytest.raises(PortInUseError) as info:
            check_port_free("127.0.0.1", port)
        assert info.value.pid == holder.pid
        assert f"pid {holder.pid} (python" in str(info.value)
        assert "health_server.py" in str(info.value)  # the short command line
        # The holder really serves: the check did not disturb it.
        assert httpx.get(f"http://127.0.0.1:{port}/health", trust_env=False).status_code == 200
    finally:
        holder.terminate()
        holder.wait(10)
        holder.stdout.close()


def test_listener_on_wildcard_conflicts_with_loopback():
    with socket.socket() as sock:
        sock.bind(("0.0.0.0", 0))
        sock.listen()
        port = sock.getsockname()[1]
        with pytest.raises(PortInUseError):
            check_port_free("127.0.0.1", port)


def test_unresolvable_host_is_one_clear_error():
    with pytest.raises(PortError, match="cannot resolve host 'no-such-host.invalid'"):
        check_port_free("no-such-host.invalid", 8080)
