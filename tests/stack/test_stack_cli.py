"""`evotraders stack up|status|down` as a user runs them (real subprocesses)."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from pathlib import Path

import psutil
import pytest

from tests.conftest import VENV_BIN

pytestmark = pytest.mark.slow
EVOTRADERS = str(VENV_BIN / "evotraders")
ALL_FREE = "agent=0,trading=0,news=0,runtime=0"


def env_for(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EVOTRADERS_")}
    env.update(RUNS_DIR=str(tmp_path / "runs"), WORKSPACES_DIR=str(tmp_path / "ws"), PYTHONUNBUFFERED="1")
    return env


def read_until(proc: subprocess.Popen, needle: str, timeout: float = 60) -> list[str]:
    lines, deadline = [], time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line.rstrip())
        if needle in line:
            return lines
    raise AssertionError(f"{needle!r} not seen in: {lines}")


def test_up_status_down(tmp_path):
    env = env_for(tmp_path)
    up = subprocess.Popen([EVOTRADERS, "stack", "up", "--ports", ALL_FREE, "--end", "2025-01-10"], env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        lines = read_until(up, "Press Ctrl-C")
        text = "\n".join(lines)
        for name in ("agent", "trading", "news", "runtime"):
            assert f"{name:<8} healthy" in text
        assert "run      " in text and "Gateway ws://127.0.0.1:" in text
        children = [c.pid for c in psutil.Process(up.pid).children(recursive=True)]
        assert len(children) >= 5  # four services and the Gateway runtime_service spawned
        status = subprocess.run([EVOTRADERS, "stack", "status"], env=env, capture_output=True, text=True, timeout=30)
        assert status.returncode == 0 and status.stdout.count(" ok (uptime") == 4, status.stdout
        down = subprocess.run([EVOTRADERS, "stack", "down"], env=env, capture_output=True, text=True, timeout=30)
        assert down.returncode == 0 and "Stopped the stack" in down.stdout
        assert up.wait(timeout=20) == 0
        assert not [pid for pid in children if psutil.pid_exists(pid)
                    and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE]
        assert "No stack is running" in subprocess.run([EVOTRADERS, "stack", "status"], env=env,
                                                       capture_output=True, text=True, timeout=30).stdout
    finally:
        if up.poll() is None:
            up.kill()


def test_a_taken_port_is_named_with_its_holder(tmp_path):
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    port = holder.getsockname()[1]
    try:
        proc = subprocess.run([EVOTRADERS, "stack", "up", "--ports", f"agent={port},trading=0,news=0,runtime=0"],
                              env=env_for(tmp_path), capture_output=True, text=True, timeout=60)
    finally:
        holder.close()
    assert proc.returncode == 2
    errors = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(errors) == 1, proc.stderr  # one line, no traceback
    assert str(port) in errors[0] and str(os.getpid()) in errors[0], errors[0]
    assert "Starting" not in proc.stdout or "Stopped." in proc.stdout  # nothing left half-started
