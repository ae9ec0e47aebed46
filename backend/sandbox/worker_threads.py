"""What the container backends (Docker, Kubernetes) share: each call runs in a worker thread.

A backend makes one call object per skill call (``_ContainerCall``, ``_PodCall``)
whose blocking ``run()`` goes from creating the container or Pod to removing it;
:class:`WorkerThreadBackend` runs it on a bounded thread pool, tells it when the
caller is cancelled, and maps its outcome to a :class:`SkillResult`.
"""

from __future__ import annotations

import abc
import asyncio
import concurrent.futures
import contextlib
import threading
import time
from typing import Any, Protocol

from backend.sandbox.base import SandboxBackend
from backend.sandbox.limits import SandboxLimits
from backend.sandbox.outcome import RawOutcome, to_result
from backend.schema.sandbox import SkillError, SkillResult
from backend.skills.spec import SkillSpec


class BackendUnavailable(Exception):
    """The engine, the cluster or the image cannot serve calls; the message says how to fix it."""


class WorkerCall(Protocol):
    """One skill call's blocking life in a worker thread."""

    cancelled: threading.Event

    def run(self) -> RawOutcome: ...

    def kill(self) -> None:
        """Stop what runs now, on cancellation (the end of ``run`` removes it)."""


def short_error(exc: BaseException) -> str:
    """The first line of an SDK error, at most 300 characters (its type when it says nothing)."""
    text = str(exc).strip()
    return (text.splitlines()[0] if text else type(exc).__name__)[:300]


class WorkerThreadBackend(SandboxBackend):
    """A backend whose calls block: at most ``concurrency`` in flight, one thread each."""

    def __init__(self, concurrency: int, thread_name_prefix: str) -> None:
        self._executor = concurrent.futures.ThreadPoolExecutor(concurrency, thread_name_prefix=thread_name_prefix)

    @abc.abstractmethod
    def _call(self, spec: SkillSpec, payload: dict[str, Any], limits: SandboxLimits) -> WorkerCall:
        """The call object for one skill call."""

    async def run(self, spec: SkillSpec, payload: dict[str, Any], limits: SandboxLimits) -> SkillResult:
        started = time.perf_counter()
        call = self._call(spec, payload, limits)
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(self._executor, call.run)
        try:
            raw = await asyncio.shield(future)
        except asyncio.CancelledError:
            call.cancelled.set()
            with contextlib.suppress(Exception):
                await loop.run_in_executor(None, call.kill)
            with contextlib.suppress(Exception):
                await future  # its end removes what it made
            raise
        except BackendUnavailable as exc:
            return SkillResult(skill=spec.name, backend=self.name, ok=False,
                               duration_ms=(time.perf_counter() - started) * 1000,
                               error=SkillError(kind="backend_unavailable", message=str(exc)))
        return to_result(spec, self.name, raw, limits, (time.perf_counter() - started) * 1000)

    async def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)


__all__ = ["BackendUnavailable", "WorkerCall", "WorkerThreadBackend", "short_error"]
