"""``process`` mode: a fresh confined Python subprocess per skill call.

Each call gets its own interpreter (see :class:`~.isolation.Isolation`): no
environment, ``-I -S -B``, a temporary working directory, rlimits and, where
bubblewrap works, a read-only private filesystem with the skill folder at
``/skill`` and no network.

A small warm pool hides interpreter start-up: workers are started ahead of
time (already confined, the runner waiting on stdin), each serves exactly one
call and is then replaced, so calls never share a process. A worker's
``/skill`` is an empty folder bound read-only; the skill's files are copied
into it on the host side just before the request is written.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from backend.skills.spec import SkillSpec
from backend.sandbox.isolation import Bind, Child, Isolation
from backend.sandbox.outcome import RUNNER_PATH, build_request, to_result
from backend.sandbox.staging import IGNORED
from backend.sandbox.base import SandboxBackend
from backend.sandbox.limits import SandboxLimits
from backend.schema.sandbox import SkillResult

MAX_WARM_SKILL_BYTES = 4 * 1024 * 1024  # bigger skill folders take the cold path


class _Worker:
    """A pre-started runner waiting for one request, with its private folders."""

    def __init__(self, child: Child, root: Path) -> None:
        self.child, self.root = child, root

    @property
    def skill_dir(self) -> Path:
        return self.root / "skill"

    def discard(self) -> None:
        self.child.kill()
        shutil.rmtree(self.root, ignore_errors=True)

    async def reap(self) -> None:
        """Wait for the killed process and close its pipes on this loop.

        An idle worker's pipes are never read, so its subprocess transport would
        otherwise stay open until garbage collection -- when the loop that owns
        it may already be closed.
        """
        with contextlib.suppress(BaseException):
            await asyncio.wait_for(self.child.proc.wait(), 5)
        transport = getattr(self.child.proc, "_transport", None)  # asyncio keeps no public handle
        if transport is not None:
            transport.close()


def _call_folders() -> tuple[Path, Path, Path]:
    root = Path(tempfile.mkdtemp(prefix="evotraders-skill-"))
    work, skill = root / "work", root / "skill"
    work.mkdir()
    skill.mkdir()
    return root, work, skill


def _folder_size(folder: Path) -> int:
    total = 0
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = [d for d in dirnames if d not in ("__pycache__", ".git")]
        total += sum(os.path.getsize(os.path.join(dirpath, f)) for f in filenames)
        if total > MAX_WARM_SKILL_BYTES:
            break
    return total


class ProcessSandboxBackend(SandboxBackend):
    """Runs each skill call in a fresh confined Python subprocess.

    Args:
        python: interpreter for skills (default: this interpreter's base).
        use_bwrap: True requires bubblewrap, False never uses it, None (default)
            uses it when it works on this machine (logged once otherwise).
        warm_pool: how many pre-started workers to keep (0 disables the pool).
        isolation: a ready :class:`Isolation` (overrides python/use_bwrap).
    """

    name = "process"

    def __init__(self, *, python: str | None = None, use_bwrap: bool | None = None,
                 warm_pool: int = 2, isolation: Isolation | None = None) -> None:
        self.isolation = isolation or Isolation(python, use_bwrap)
        self.warm_pool = max(0, warm_pool)
        self._idle: list[_Worker] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._refills: set[asyncio.Task[None]] = set()
        self._closed = False

    @property
    def confined(self) -> bool:
        return self.isolation.confined

    async def run(self, spec: SkillSpec, payload: dict[str, Any], limits: SandboxLimits) -> SkillResult:
        started = time.perf_counter()
        worker = self._take_worker(spec)
        child: Child | None = None
        root: Path | None = None
        try:
            if worker is not None:
                root, child, skill_host = worker.root, worker.child, worker.skill_dir
                shutil.copytree(spec.path, skill_host, ignore=IGNORED, dirs_exist_ok=True)
            else:
                root, work, _ = _call_folders()
                skill_host = spec.path
                child = await self.isolation.spawn(self._args(), self._binds(skill_host), work, limits)
            skill_dir = self.isolation.inner_path("/skill", self._binds(skill_host), None)
            request = build_request(spec, payload, limits, skill_dir=skill_dir, result_fd=child.result_fd)
            raw = await child.communicate(json.dumps(request).encode("utf-8"), limits.timeout_s,
                                          limits.max_output_chars * 4)
        except BaseException:
            if child is not None:
                child.kill()
            raise
        finally:
            if root is not None:
                shutil.rmtree(root, ignore_errors=True)
            # Refill after the call, so that forking a new worker never delays this one.
            if self.warm_pool and not self._closed:
                self._schedule_refill(asyncio.get_running_loop())
        return to_result(spec, self.name, raw, limits, (time.perf_counter() - started) * 1000)

    # -- layout -------------------------------------------------------------
    @staticmethod
    def _binds(skill_dir: Path) -> list[Bind]:
        return [Bind(skill_dir, "/skill"), Bind(RUNNER_PATH, "/sandbox/runner.py")]

    @staticmethod
    def _args() -> list[str]:
        return ["/sandbox/runner.py"]

    # -- warm pool ------------------------------------------------------------
    def _take_worker(self, spec: SkillSpec) -> _Worker | None:
        if self.warm_pool == 0 or self._closed:
            return None
        loop = asyncio.get_running_loop()
        if self._loop is not loop:  # workers belong to the loop that started them
            self._discard_idle()
            self._loop = loop
        worker = None
        while self._idle and worker is None:
            candidate = self._idle.pop()
            if candidate.child.proc.returncode is None:
                worker = candidate
            else:
                candidate.discard()
        if worker is not None and _folder_size(spec.path) > MAX_WARM_SKILL_BYTES:
            self._idle.append(worker)
            return None
        return worker

    def _schedule_refill(self, loop: asyncio.AbstractEventLoop) -> None:
        if len(self._idle) + len(self._refills) >= self.warm_pool:
            return
        task = loop.create_task(self._refill())
        self._refills.add(task)
        task.add_done_callback(self._refills.discard)

    async def _refill(self) -> None:
        while not self._closed and len(self._idle) < self.warm_pool:
            root, work, skill = _call_folders()
            # No RLIMIT_AS/CPU yet: the runner applies the call's limits itself.
            limits = SandboxLimits()
            try:
                child = await self.isolation.spawn(self._args(), self._binds(skill), work, limits,
                                                   apply_limits=False)
            except BaseException:
                shutil.rmtree(root, ignore_errors=True)
                raise
            worker = _Worker(child, root)
            if self._closed or asyncio.get_running_loop() is not self._loop:
                worker.discard()
                await worker.reap()
                return
            self._idle.append(worker)

    def _discard_idle(self) -> None:
        idle, self._idle = self._idle, []
        for worker in idle:
            worker.discard()

    async def warm_up(self) -> None:
        """Fill the pool now (otherwise the first call fills it)."""
        if self.warm_pool:
            self._loop = asyncio.get_running_loop()
            await self._refill()

    async def close(self) -> None:
        self._closed = True
        # Let refills in flight finish: each sees the pool closed and reaps the
        # worker it just spawned (cancelling one mid-spawn would orphan it).
        refills = list(self._refills)
        if refills:
            with contextlib.suppress(BaseException):
                await asyncio.wait_for(asyncio.gather(*refills, return_exceptions=True), 10)
        idle = list(self._idle) if self._loop is asyncio.get_running_loop() else []
        self._discard_idle()
        # Reap the killed workers on this loop, so that no subprocess transport
        # outlives it (it would complain from its finaliser once the loop closed).
        for worker in idle:
            await worker.reap()
