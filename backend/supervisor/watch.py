"""Source watching for ``evotraders stack up --reload``: which saved file restarts what.

:class:`ReloadMap` maps changed source files to a :class:`ReloadPlan`:

- ``backend/apps/<name>_service/...`` restarts that service only;
- any other module under ``backend/`` restarts every service that imports it
  (the import graph of each service, built with grimp when it is installed,
  else every service: shared code restarts all);
- a module the Gateway imports (``gateway/``, ``backend/pipeline/``,
  ``backend/agents/``, the shared schema ...) restarts every running Gateway
  at its next day boundary (``restart_at_day_boundary``): the day under way
  finishes and checkpoints, and the new process resumes the same run;
- anything else (``app/``, ``tests/``, docs, ``runs/``, ``workspaces/``,
  ``__pycache__``, ``*.pyc``, ``.venv``) restarts nothing.

:class:`SourceWatcher` watches ``backend/`` and ``gateway/`` with watchfiles
(inotify through Rust's notify), debounced: an editor's burst of writes is one
batch, and one batch is one restart of each affected process.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

# Under these, a change restarts Gateways even without an import graph.
GATEWAY_TREES = ("gateway", "backend/pipeline", "backend/agents")
WATCHED_TREES = ("backend", "gateway")
DEBOUNCE_MS = 200  # a save's burst of events (write, chmod, rename) arrives within this


@dataclass(frozen=True)
class ReloadPlan:
    """What one batch of changes restarts.

    Args:
        services: the services to restart now (``agent``, ``trading``, ``news``, ``runtime``).
        gateways: restart every running Gateway at its next day boundary.
        paths: the changed source files that matter, relative to the root, sorted.
    """

    services: frozenset[str] = frozenset()
    gateways: bool = False
    paths: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.services) or self.gateways

    def describe(self) -> str:
        """One line: "agent restarted, Gateways at the day boundary (backend/apps/agent_service/app.py)"."""
        parts = [f"{', '.join(sorted(self.services))} restarted"] if self.services else []
        if self.gateways:
            parts.append("Gateways restart at the next day boundary")
        shown = ", ".join(self.paths[:3]) + (f" and {len(self.paths) - 3} more" if len(self.paths) > 3 else "")
        return f"{'; '.join(parts) or 'nothing to restart'} ({shown})"


def _module_of(rel: Path) -> str | None:
    """``backend/apps/x/app.py`` -> ``backend.apps.x.app``; ``pkg/__init__.py`` -> ``pkg``."""
    if rel.suffix != ".py" or rel.parts[0] not in WATCHED_TREES:
        return None
    parts = list(rel.with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _import_graph(root: Path, services: dict[str, str]) -> tuple[dict[str, frozenset[str]], frozenset[str]] | None:
    """Per service, every module of ours it imports (itself included), and the Gateway's; None without grimp."""
    try:
        import grimp
    except ImportError:
        return None
    import sys

    added = str(root) not in sys.path
    if added:
        sys.path.insert(0, str(root))
    try:
        graph = grimp.build_graph("backend", "gateway", cache_dir=None)
    except Exception as err:  # noqa: BLE001 - a broken tree must not stop the stack: restart everything
        log.warning("reload: no import graph (%s: %s); a change restarts every service", type(err).__name__, err)
        return None
    finally:
        if added:
            sys.path.remove(str(root))

    def closure(package: str) -> frozenset[str]:
        mods: set[str] = set()
        for module in graph.find_descendants(package) | {package}:
            mods.add(module)
            mods |= graph.find_upstream_modules(module)
        return frozenset(mods)

    return {name: closure(module) for name, module in services.items()}, closure("gateway")


@dataclass
class ReloadMap:
    """Maps changed files under ``root`` to a :class:`ReloadPlan` (see the module docstring).

    Args:
        root: the project root (the folder holding ``backend/`` and ``gateway/``).
        services: service name -> its package (``{"agent": "backend.apps.agent_service"}``).
        use_import_graph: False restarts every service on a shared change (no grimp).
    """

    root: Path
    services: dict[str, str]
    use_import_graph: bool = True
    _graph: tuple[dict[str, frozenset[str]], frozenset[str]] | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        self.root = Path(self.root).resolve()
        if self.use_import_graph:
            self._graph = _import_graph(self.root, self.services)

    def plan(self, changed: Iterable[str | Path]) -> ReloadPlan:
        services: set[str] = set()
        gateways = False
        paths: list[str] = []
        for path in changed:
            try:
                rel = Path(path).resolve().relative_to(self.root)
            except ValueError:
                continue
            if "__pycache__" in rel.parts:
                continue
            module = _module_of(rel)
            if module is None:
                continue
            paths.append(rel.as_posix())
            owner = next((name for name, pkg in self.services.items()
                          if module == pkg or module.startswith(pkg + ".")), None)
            if owner is not None:
                services.add(owner)  # a service's own code: that service only
                continue
            if module.startswith("gateway") or any(rel.as_posix().startswith(t + "/") for t in GATEWAY_TREES):
                gateways = True
            if self._graph is None:
                if module.startswith("backend."):
                    services.update(self.services)  # no graph: shared code restarts all
                    gateways = True
                continue
            per_service, gateway_mods = self._graph
            services.update(name for name, mods in per_service.items() if module in mods)
            # A module the graph does not know yet (a new file) is shared code: everything.
            known = module in gateway_mods or any(module in mods for mods in per_service.values())
            if not known and module.startswith("backend."):
                services.update(self.services)
            gateways = gateways or module in gateway_mods or not known
        return ReloadPlan(frozenset(services), gateways, tuple(sorted(set(paths))))


OnPlan = Callable[[ReloadPlan], Awaitable[None]]


class SourceWatcher:
    """Watches the source trees of ``reload_map.root`` and awaits ``on_plan`` for each batch that matters.

    Batches are handled one after another (a restart finishes before the next
    begins); changes made meanwhile make the next batch.

    Args:
        reload_map: decides what a batch restarts.
        on_plan: called with each non-empty plan; its errors are logged, watching goes on.
        debounce_ms: how long a burst of changes is gathered into one batch.
    """

    def __init__(self, reload_map: ReloadMap, on_plan: OnPlan, debounce_ms: int = DEBOUNCE_MS) -> None:
        self.map = reload_map
        self.on_plan = on_plan
        self.debounce_ms = debounce_ms
        self._task: asyncio.Task[None] | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.batches = 0  # batches that restarted something
        self.ticks = 0  # turns of the watch loop (changes or a quiet rust_timeout)

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def start(self) -> None:
        """Start watching; returns once the watches are set (a save after this is seen).

        Raises:
            OSError: the trees cannot be watched (no inotify left, a tree missing).
        """
        if self.running:
            return
        loop = asyncio.get_running_loop()
        self._stop = threading.Event()
        self._queue: asyncio.Queue[Any] = asyncio.Queue()
        self._thread = threading.Thread(target=self._watch_thread, args=(loop, self._queue, self._stop),
                                        name="source watcher", daemon=True)
        self._thread.start()
        first = await self._queue.get()  # the first quiet turn: the watches are set
        if isinstance(first, BaseException):
            raise first
        self._task = asyncio.create_task(self._handle(self._queue), name="source watcher")

    async def stop(self) -> None:
        """Stop watching (within one ``rust_timeout``); a batch being acted on finishes first."""
        self._stop.set()
        task, self._task = self._task, None
        if task is not None:
            self._queue.put_nowait(None)
            await asyncio.gather(task, return_exceptions=True)

    def _watch_thread(self, loop: asyncio.AbstractEventLoop, queue: asyncio.Queue[Any],
                      stop: threading.Event) -> None:
        # The blocking watch on its own thread, handing batches to the loop: watchfiles' awatch
        # runs each step through anyio's worker threads, which the desk's qasync loop starved.
        from watchfiles import Change, PythonFilter, watch

        root = self.map.root
        trees = [str(root / t) for t in WATCHED_TREES if (root / t).is_dir()]
        flt = PythonFilter(ignore_paths=[root / "runs", root / "workspaces", root / ".venv", root / ".stack"])

        def watch_filter(change: Change, path: str) -> bool:
            return flt(change, path)

        def hand(item: Any) -> None:
            try:
                loop.call_soon_threadsafe(queue.put_nowait, item)
            except RuntimeError:  # the loop is closed: nobody is listening any more
                stop.set()

        ready = False
        try:
            for changes in watch(*trees, watch_filter=watch_filter, debounce=self.debounce_ms, step=50,
                                 stop_event=stop, rust_timeout=100, yield_on_timeout=True, raise_interrupt=False):
                self.ticks += 1
                if not ready:
                    ready = True
                    hand(set())
                if changes:
                    hand(changes)
        except Exception as err:  # noqa: BLE001 - handed to start() (or logged by _handle)
            hand(err)

    async def _handle(self, queue: asyncio.Queue[Any]) -> None:
        while True:
            changes = await queue.get()
            if changes is None:
                return
            if isinstance(changes, BaseException):
                log.error("reload: the source watcher stopped: %s", changes)
                return
            plan = self.map.plan(path for _, path in changes)
            if not plan:
                continue
            self.batches += 1
            log.info("reload: %s", plan.describe())
            try:
                await self.on_plan(plan)
            except Exception:  # noqa: BLE001 - one failed restart must not stop the watching
                log.exception("reload: restarting after %s failed", plan.describe())
