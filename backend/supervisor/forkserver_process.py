"""The fork server as a child of the supervising process: start it, know when it listens, stop it.

See :mod:`backend.supervisor.forkserver`. The server prints ``forkserver
listening`` once its socket is bound (requests queue there while it imports
its modules) and ``forkserver ready`` once they are imported; its output
goes to ``log_path``. If it cannot start, :attr:`address` stays None and
every child is spawned as a fresh interpreter.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from backend.supervisor.child import Child, spawn_child
from backend.supervisor.forkserver import forget, new_address
from backend.supervisor.procgroup import signal_group
from backend.supervisor.process_spec import ProcessSpec

log = logging.getLogger(__name__)


class ForkServerProcess:
    """One preloading fork server.

    Args:
        log_path: where its output (and a preloading failure) is appended.
        cwd: its working directory (the children's ``sys.path`` starts from theirs).
        start_timeout: seconds to wait for it to listen before going on without it.
    """

    def __init__(self, log_path: Path | None = None, cwd: Path | None = None, start_timeout: float = 10.0) -> None:
        self.log_path = log_path
        self.cwd = cwd
        self.start_timeout = start_timeout
        self.address: str | None = None
        self._child: Child | None = None
        self._log: TextIO | None = None
        self._listening: asyncio.Future[None] | None = None
        self.ready = asyncio.Event()

    async def start(self, modules: Sequence[str], later: Sequence[str] = (), *, own: Sequence[str] = (),
                    sibling_serves: Sequence[str] = (), sibling_preloads: Sequence[str] = ()) -> str | None:
        """Spawn it; returns its address once it listens (None if it could not start).

        ``modules`` (then ``own``) are imported before the first fork, ``later`` ones between
        requests. With ``sibling_serves`` a sibling server imports ``modules`` and
        ``sibling_preloads`` on another core meanwhile and forks those modules' children
        (see :func:`backend.supervisor.forkserver.main`).
        """
        address = new_address()
        loop = asyncio.get_running_loop()
        self._listening = loop.create_future()
        if self.log_path is not None:
            try:
                self.log_path.parent.mkdir(parents=True, exist_ok=True)
                self._log = open(self.log_path, "a", encoding="utf-8", buffering=1)  # noqa: SIM115
            except OSError as err:
                log.warning("fork server: cannot open log %s: %s", self.log_path, err)
        argv = [sys.executable, "-m", "backend.supervisor.forkserver", address, *modules]
        for option, names in (("--own", own), ("--later", later), ("--sibling-serves", sibling_serves),
                              ("--sibling-preloads", sibling_preloads)):
            if names:
                argv += [option, *names]
        spec = ProcessSpec(name="forkserver", argv=argv, cwd=self.cwd)
        try:
            self._child = await spawn_child(spec, self._on_line)  # type: ignore[assignment]
            await asyncio.wait_for(asyncio.shield(self._listening), self.start_timeout)
        except (OSError, ValueError, TimeoutError) as err:
            log.warning("fork server did not start (%s): the services start as fresh interpreters", err)
            await self.stop()
            return None
        self.address = address
        return address

    def _on_line(self, line: str) -> None:
        if self._log is not None:
            try:
                self._log.write(line + "\n")
            except OSError:
                pass
        if line.startswith("forkserver listening") and self._listening is not None and not self._listening.done():
            self._listening.set_result(None)
        elif line.startswith("forkserver ready"):
            self.ready.set()

    async def stop(self) -> None:
        """SIGTERM, SIGKILL after 2 s; children it forked that still run are killed with it."""
        if self.address is not None:
            forget(self.address)
        self.address = None
        child, self._child = self._child, None
        if child is not None:
            if child.returncode is None:
                signal_group(child.pid, signal.SIGTERM)
                try:
                    await asyncio.wait_for(child.wait(), 2.0)
                except TimeoutError:
                    signal_group(child.pid, signal.SIGKILL)
                    await child.wait()
            await child.output_done(timeout=1.0)
            child.close()
        if self._log is not None:
            self._log.close()
            self._log = None
