"""One HTTP service as a real subprocess: ``python -m backend.apps.<name> --port <port>``."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

import httpx

from backend.clients.http import ServiceClient

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def service_env(root: Path, **extra: str) -> dict[str, str]:
    """An environment with runs/ and ws/ under ``root`` and no inherited tokens or agent overrides."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("EVOTRADERS_", "AGENT_", "SKILL_"))}
    env.update(RUNS_DIR=str(root / "runs"), WORKSPACES_DIR=str(root / "ws"), PYTHONUNBUFFERED="1", **extra)
    return env


class ServiceProcess:
    """A service subprocess in its own process group, on a fixed port (restartable on it).

    Args:
        name: ``agent_service``, ``trading_service``, ``news_service`` or ``runtime_service``.
        env: its whole environment (see :func:`service_env`).
        port: the port (default: a free one).
        log_path: where its output goes (default: a temporary file).
    """

    def __init__(self, name: str, env: dict[str, str], *, port: int | None = None,
                 log_path: Path | None = None) -> None:
        self.name = name
        self.env = env
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path or Path(tempfile.mkstemp(prefix=f"{name}-", suffix=".log")[1])
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 30.0) -> "ServiceProcess":
        """Spawn it and wait until ``/health`` answers 200."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen([sys.executable, "-m", f"backend.apps.{self.name}", "--port", str(self.port)],
                                         env=self.env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                                         start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"{self.name} exited with {self.proc.returncode}: {self.output()[-2000:]}")
            try:
                if httpx.get(f"{self.url}/health", timeout=1.0).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        self.stop()
        raise AssertionError(f"{self.name} not healthy after {timeout} s: {self.output()[-2000:]}")

    def output(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def _signal_group(self, signum: int) -> None:
        assert self.proc is not None
        try:
            os.killpg(self.proc.pid, signum)  # its children too (runtime_service's Gateways)
        except ProcessLookupError:
            pass

    def kill(self) -> None:
        """SIGKILL: no chance to flush or say goodbye."""
        if self.proc is not None and self.proc.poll() is None:
            self._signal_group(signal.SIGKILL)
            self.proc.wait(timeout=10)

    def stop(self) -> None:
        """SIGTERM (a clean shutdown), SIGKILL if it does not end within 10 s."""
        if self.proc is not None and self.proc.poll() is None:
            self._signal_group(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()

    def __enter__(self) -> "ServiceProcess":
        return self if self.proc is not None else self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@contextlib.asynccontextmanager
async def clients_of(processes: Mapping[str, Any], *names: str) -> AsyncIterator[tuple[ServiceClient, ...]]:
    """A :class:`ServiceClient` for each named service of ``processes`` (name -> a started
    :class:`ServiceProcess`), in the order named; all closed on exit."""
    clients = tuple(ServiceClient(name, processes[name].url) for name in names)
    try:
        yield clients
    finally:
        for client in clients:
            await client.aclose()
