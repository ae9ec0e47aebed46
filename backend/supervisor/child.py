"""Spawning one child process and receiving its output line by line.

asyncio's ``Process.wait()`` only returns once the child's stdout pipe is
closed, so a grandchild that inherited the pipe would hide the child's exit.
A :class:`SubprocessProtocol` hears about the exit itself; that is why this
module talks to the event loop's transport API directly.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable

from backend.supervisor.procgroup import pdeathsig_preexec
from backend.supervisor.process_spec import ProcessSpec

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


async def spawn_child(spec: ProcessSpec, on_line: Callable[[str], None]) -> Child:
    """Start ``spec.argv`` in a new session, stdout and stderr merged into ``on_line``.

    Raises OSError (or ValueError) if it cannot be spawned.
    """
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
