"""Spawning one child process and receiving its output line by line.

asyncio's ``Process.wait()`` only returns once the child's stdout pipe is
closed, so a grandchild that inherited the pipe would hide the child's exit.
A :class:`SubprocessProtocol` hears about the exit itself; that is why this
module talks to the event loop's transport API directly.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path

from backend.supervisor.procgroup import pdeathsig_preexec
from backend.supervisor.process_spec import ProcessSpec

log = logging.getLogger(__name__)

_MAX_LINE = 65536  # bytes; a longer line is split so one runaway line cannot grow memory


class _ChildProtocol(asyncio.SubprocessProtocol):
    """Splits the merged stdout/stderr into lines and notes the exit and the end of output."""

    def __init__(self, on_line: Callable[[str], None]) -> None:
        loop = asyncio.get_running_loop()
        self._on_line = on_line
        self._pending = b""
        self.exited: asyncio.Future[None] = loop.create_future()
        self.output_closed: asyncio.Future[None] = loop.create_future()

    def pipe_data_received(self, fd: int, data: bytes) -> None:
        self._pending += data
        *complete, self._pending = self._pending.split(b"\n")
        for raw in complete:
            self._emit(raw)
        while len(self._pending) > _MAX_LINE:
            self._emit(self._pending[:_MAX_LINE])
            self._pending = self._pending[_MAX_LINE:]

    def pipe_connection_lost(self, fd: int, exc: Exception | None) -> None:
        if self._pending:
            self._emit(self._pending)
            self._pending = b""
        if not self.output_closed.done():
            self.output_closed.set_result(None)

    def process_exited(self) -> None:
        if not self.exited.done():
            self.exited.set_result(None)

    def _emit(self, raw: bytes) -> None:
        self._on_line(raw.decode("utf-8", "replace").rstrip("\r"))


class Child:
    """A spawned child: its pid, exit status and output stream.

    Args:
        transport, protocol: what ``loop.subprocess_exec`` returned.
    """

    def __init__(self, transport: asyncio.SubprocessTransport, protocol: _ChildProtocol) -> None:
        self._transport = transport
        self._protocol = protocol
        self.pid: int = transport.get_pid()

    @property
    def returncode(self) -> int | None:
        return self._transport.get_returncode()

    async def wait(self) -> int:
        """Wait for the exit (not for the output pipe to close); returns the exit status."""
        # Shielded: a caller timing out must not cancel the future other callers share.
        await asyncio.shield(self._protocol.exited)
        code = self.returncode
        assert code is not None
        return code

    async def output_done(self, timeout: float) -> bool:
        """Wait for the output pipe to close (all its writers gone); False on timeout."""
        done, _ = await asyncio.wait({self._protocol.output_closed}, timeout=timeout)
        return bool(done)

    def close(self) -> None:
        """Release the pipe (a leftover writer then gets EPIPE) and the transport."""
        self._transport.close()


class ForkedChild:
    """A child forked by a fork server (:mod:`backend.supervisor.forkserver`), with :class:`Child`'s surface.

    Its output comes through a pipe this process made; its exit status comes
    from the fork server, its parent.
    """

    def __init__(self, on_line: Callable[[str], None]) -> None:
        self.pid: int = 0
        self._returncode: int | None = None
        self._protocol = _ChildProtocol(on_line)
        self._transport: asyncio.BaseTransport | None = None

    @property
    def returncode(self) -> int | None:
        return self._returncode

    def _exited(self, code: int) -> None:
        if self._returncode is None:
            self._returncode = code
        self._protocol.process_exited()

    async def wait(self) -> int:
        await asyncio.shield(self._protocol.exited)
        assert self._returncode is not None
        return self._returncode

    async def output_done(self, timeout: float) -> bool:
        done, _ = await asyncio.wait({self._protocol.output_closed}, timeout=timeout)
        return bool(done)

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()


class _PipeReader(asyncio.Protocol):
    """Feeds a read pipe into a :class:`_ChildProtocol` as its fd 1."""

    def __init__(self, target: _ChildProtocol) -> None:
        self._target = target

    def data_received(self, data: bytes) -> None:
        self._target.pipe_data_received(1, data)

    def eof_received(self) -> bool:
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self._target.pipe_connection_lost(1, exc)


def forkable(spec: ProcessSpec) -> bool:
    """A ``python -m MODULE`` of this very interpreter: a fork server can start it."""
    argv = spec.argv
    return len(argv) >= 3 and argv[0] == sys.executable and argv[1] == "-m"


async def fork_child(spec: ProcessSpec, on_line: Callable[[str], None], address: str) -> ForkedChild:
    """Have the fork server at ``address`` start ``spec`` (raises ForkServerError if it cannot)."""
    from backend.supervisor.forkserver import client_for

    loop = asyncio.get_running_loop()
    env = {**os.environ, "PYTHONUNBUFFERED": "1", **spec.env}
    if spec.cwd is not None and not Path(spec.cwd).is_dir():
        raise FileNotFoundError(f"no such directory: {spec.cwd}")
    child = ForkedChild(on_line)
    read_fd, write_fd = os.pipe()
    try:
        child.pid = await client_for(address).fork(spec.argv, env, str(spec.cwd) if spec.cwd else None,
                                                   write_fd, child._exited)
    except BaseException:
        os.close(read_fd)
        raise
    finally:
        os.close(write_fd)
    reader = os.fdopen(read_fd, "rb", buffering=0)
    child._transport, _ = await loop.connect_read_pipe(lambda: _PipeReader(child._protocol), reader)
    return child


async def spawn_child(spec: ProcessSpec, on_line: Callable[[str], None],
                      forkserver: str | None = None) -> Child | ForkedChild:
    """Start ``spec.argv`` in a new session, stdout and stderr merged into ``on_line``.

    With ``forkserver`` (an address, :mod:`backend.supervisor.forkserver`) a
    ``python -m`` child is forked by that server from its preloaded modules;
    if the server cannot (gone, another interpreter), it is spawned as usual.
    Raises OSError (or ValueError) if it cannot be spawned.
    """
    if forkserver and forkable(spec):
        from backend.supervisor.forkserver import ForkServerError

        try:
            return await fork_child(spec, on_line, forkserver)
        except ForkServerError as err:
            log.info("%s: spawning a fresh interpreter (%s)", spec.name, err)
    loop = asyncio.get_running_loop()
    # Python children would otherwise block-buffer their output into the pipe.
    env = {**os.environ, "PYTHONUNBUFFERED": "1", **spec.env}
    # Spawned from the event-loop thread (asyncio forks in the calling thread):
    # the parent-death signal is tied to the forking thread, which must outlive the child.
    transport, protocol = await loop.subprocess_exec(
        lambda: _ChildProtocol(on_line),
        *spec.argv,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        cwd=spec.cwd,
        env=env,
        start_new_session=True,
        preexec_fn=pdeathsig_preexec(),
    )
    return Child(transport, protocol)  # type: ignore[arg-type]
