"""Fixtures of the desktop app tests: offscreen Qt, a qasync loop, real Gateway subprocesses.

pytest-qt gives ``qapp``/``qtbot`` but does not drive asyncio; ``qloop`` is a
``qasync.QEventLoop`` on that app and ``arun(coro)`` runs a coroutine on it
(Qt events are processed meanwhile). Inside coroutines, wait on asyncio
(never ``qtbot.wait*``, which would block the loop).

pytest-qt never deletes its session ``qapp``; left alone, PySide6 deletes it,
and every QObject Python still owns, from an atexit hook in random order --
the segfault that ended whole runs with "Fatal Python error" and no summary
line (issue 16). :func:`pytest_unconfigure` releases Qt first, in the desk's
own exit order (``app/qt/teardown.py``). From the first Qt test on, only the
GUI thread collects garbage (``app/qt/gc_policy.py``; the root conftest collects
after every test): a widget freed by a server thread's collection was the
in-process segfault.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
LISTEN_RE = re.compile(r"gateway listening on (ws://\S+) ")


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    """Release Qt (windows, stray QObjects, the QApplication) while the interpreter is whole."""
    if "PySide6.QtWidgets" not in sys.modules:
        return  # no Qt test ran in this process
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance()
    if app is None:
        return
    from app.qt.teardown import release_qt

    release_qt(app, delete_app=True)


@pytest.fixture(autouse=True)
def _gc_on_gui_thread(request: pytest.FixtureRequest) -> None:
    """A Qt test runs with the desk's garbage-collection policy (``app/qt/gc_policy.py``):
    only the GUI thread collects, so no server or executor thread of a test frees a widget."""
    if "qapp" in request.fixturenames or "qtbot" in request.fixturenames:
        request.getfixturevalue("qapp")
        from app.qt.gc_policy import collect_on_gui_thread

        collect_on_gui_thread()


@pytest.fixture
def qloop(qapp: Any) -> Iterator[asyncio.AbstractEventLoop]:
    import qasync

    qapp.setQuitOnLastWindowClosed(False)  # as the app does: closing a window must not stop the loop
    loop = qasync.QEventLoop(qapp)
    asyncio.set_event_loop(loop)
    try:
        yield loop
    finally:
        pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
        for task in pending:
            task.cancel()
        if pending:
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        asyncio.set_event_loop(None)
        loop.close()  # now, while the QApplication still exists


@pytest.fixture
def arun(qloop: asyncio.AbstractEventLoop) -> Callable[..., Any]:
    """``arun(coro, timeout=30)``: run a coroutine on the qasync loop and return its result."""

    def run(coro: Any, timeout: float = 30.0) -> Any:
        return qloop.run_until_complete(asyncio.wait_for(coro, timeout))

    return run


@pytest.fixture(autouse=True)
def _no_leaked_windows(request: pytest.FixtureRequest) -> Iterator[None]:
    """Fail a Qt test that leaves a visible top-level widget behind (after qtbot's own cleanup)."""
    yield
    if "qtbot" not in request.fixturenames:
        return
    from PySide6.QtCore import QCoreApplication, QEvent
    from PySide6.QtWidgets import QApplication

    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    QApplication.processEvents()
    leaked = [w for w in QApplication.topLevelWidgets() if w.isVisible()]
    for widget in leaked:
        widget.close()
        widget.deleteLater()
    assert not leaked, f"visible top-level widgets left behind: {[type(w).__name__ for w in leaked]}"




class GatewayProcess:
    """A real ``python -m gateway`` subprocess on a free port.

    Args:
        tmp_path: where its runs/ and workspaces/ go.
    """

    def __init__(self, tmp_path: Path) -> None:
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("EVOTRADERS_", "AGENT_"))}
        self.env.update(RUNS_DIR=str(tmp_path / "runs"), WORKSPACES_DIR=str(tmp_path / "ws"), PYTHONUNBUFFERED="1")
        self.runs_dir = tmp_path / "runs"
        self.proc: subprocess.Popen[str] | None = None
        self.url = ""
        self.port = 0

    def start(self, *args: str, port: int = 0) -> str:
        """Start it (``--port``; 0 = any) with extra CLI args; returns its ws:// URL."""
        self.proc = subprocess.Popen([sys.executable, "-m", "gateway", "--port", str(port), *args], env=self.env,
                                     cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                                     start_new_session=True)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        match = LISTEN_RE.search(line)
        if not match:
            self.kill()
            raise AssertionError(f"gateway did not start: {line!r}")
        self.url = match.group(1)
        self.port = int(self.url.rsplit(":", 1)[1].strip("/"))
        return self.url

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait(10)
        self.proc = None


@pytest.fixture
def gateway_process(tmp_path: Path) -> Iterator[GatewayProcess]:
    gateway = GatewayProcess(tmp_path)
    try:
        yield gateway
    finally:
        gateway.kill()


@pytest.fixture(scope="session")
def finished_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real finished run (six trading days) made by a Gateway subprocess; returns its folder."""
    base = tmp_path_factory.mktemp("finished")
    gateway = GatewayProcess(base)
    gateway.start("--run-id", "finished", "--create", "--end", "2025-01-10", "--pace", "0", "--exit-when-done")
    assert gateway.proc is not None
    assert gateway.proc.wait(120) == 0
    gateway.proc = None
    return gateway.runs_dir / "finished"


CHILDREN = Path(__file__).resolve().parents[1] / "supervisor" / "children"


class ChildStack:
    """A LocalStack look-alike whose "services" are real /health servers on free ports.

    Same surface the app uses: ``state_dir``, ``supervisor``, ``urls``, ``tokens``,
    ``await up(progress)``, ``await down()``, and a ``stack.json`` lock like LocalStack's.
    """

    def __init__(self, state_dir: Path) -> None:
        from backend.supervisor import ProcessSupervisor, free_port
        from backend.security.tokens import TokenRegistry

        self.state_dir = state_dir
        self.supervisor = ProcessSupervisor()
        self.ports = {name: free_port() for name in ("agent", "trading", "news", "runtime")}
        self.urls = {name: f"http://127.0.0.1:{port}" for name, port in self.ports.items()}
        self.tokens = TokenRegistry()

    async def up(self, progress: Any = None) -> dict[str, str]:
        import psutil

        from backend.supervisor import ProcessSpec, check_port_free
        from backend.storage.atomic import atomic_write_json

        for port in self.ports.values():  # like LocalStack.check_ports: nothing spawned if one is taken
            check_port_free("127.0.0.1", port)

        for name, port in self.ports.items():
            self.supervisor.add(ProcessSpec(name, [sys.executable, str(CHILDREN / "health_server.py"), str(port)],
                                            health_url=f"{self.urls[name]}/health", port=port, ready_timeout=15,
                                            check_interval=None, grace_seconds=2))
        if progress is not None:
            self.supervisor.event.connect(progress)
        self.state_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_json(self.state_dir / "stack.json", {
            "pid": os.getpid(), "pid_started": psutil.Process().create_time(), "urls": self.urls,
            "ports": self.ports, "tokens_file": None})
        statuses = await self.supervisor.start_all(wait_ready=True)
        return {name: status.value for name, status in statuses.items()}

    async def down(self) -> None:
        await self.supervisor.stop_all()
        (self.state_dir / "stack.json").unlink(missing_ok=True)
