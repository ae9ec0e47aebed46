"""The ``none`` sandbox: skills imported and called in this process (development only).

Warns once per process; with ``scrub_environ`` it first removes secret-looking
variables from this process's environment (an in-process skill shares it).
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import logging
import os
import re
import threading
import time
from pathlib import Path
from types import ModuleType
from typing import Any, Callable

from backend.sandbox.base import SandboxBackend
from backend.sandbox.limits import SandboxLimits, truncate
from backend.schema.sandbox import ErrorKind, SkillError, SkillResult
from backend.skills.spec import SkillSpec

log = logging.getLogger(__name__)

NONE_BACKEND_WARNING = (
    "SECURITY WARNING: skills run with SKILL_SANDBOX_MODE=none, in-process and without "
    "isolation (development only). Use SKILL_SANDBOX_MODE=process or docker in production."
)
# Variables an in-process skill must not find in os.environ (tokens, API keys,
# the tokens file): the process backends start children with an environment of
# their own, but ``none`` shares this process's.
SECRET_ENV_RE = re.compile(r"(TOKEN|TOKENS_FILE|API_KEY|SECRET|PASSWORD|CREDENTIALS?)$", re.IGNORECASE)


def scrub_secret_environ(environ: "os._Environ[str] | dict[str, str]" = os.environ) -> list[str]:
    """Remove secret-looking variables from ``environ``; returns the names removed."""
    names = [name for name in list(environ) if SECRET_ENV_RE.search(name)]
    for name in names:
        environ.pop(name, None)
    return names


class NoSandboxBackend(SandboxBackend):
    """Imports the entry point and calls it in this process (development only).

    Warns once per process (``on_first_use`` is called with the warning text,
    so the Gateway can also show it as a ``system`` event).
    """

    name = "none"
    _warned = False
    _lock = threading.Lock()

    def __init__(self, on_first_use: Callable[[str], None] | None = None, scrub_environ: bool = False) -> None:
        self._on_first_use = on_first_use
        self._modules: dict[tuple[Path, str], ModuleType] = {}
        if scrub_environ:
            # What this process already read (its settings) stays in memory: an
            # in-process skill is not isolated, which is why a floor exists.
            removed = scrub_secret_environ()
            if removed:
                log.info("in-process skills: removed %s from this process's environment", ", ".join(removed))

    def _warn_once(self) -> None:
        with NoSandboxBackend._lock:
            first = not NoSandboxBackend._warned
            NoSandboxBackend._warned = True
        if first:
            log.warning(NONE_BACKEND_WARNING)
            if self._on_first_use is not None:
                self._on_first_use(NONE_BACKEND_WARNING)

    def _load(self, spec: SkillSpec) -> Callable[[dict[str, Any]], Any]:
        # Keyed without building the code path: a backtest calls skills ~5 times a day.
        module = self._modules.get((spec.path, spec.entry))
        if module is None:
            key = str(spec.code_path)
            mod_name = f"evotraders_skill_{spec.name}_{abs(hash(key)):x}"
            loader_spec = importlib.util.spec_from_file_location(mod_name, spec.code_path)
            assert loader_spec is not None and loader_spec.loader is not None
            module = importlib.util.module_from_spec(loader_spec)
            loader_spec.loader.exec_module(module)
            self._modules[(spec.path, spec.entry)] = module
        return getattr(module, spec.entry_function)

    def call_sync(self, spec: SkillSpec, payload: dict[str, Any], limits: SandboxLimits) -> SkillResult:
        """The in-process call itself; synchronous, for the hot path of backtests."""
        self._warn_once()
        started = time.perf_counter()
        out, err = io.StringIO(), io.StringIO()
        try:
            func = self._load(spec)
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                output = func(payload)
        except MemoryError:
            return self._fail(spec, "memory", "the skill ran out of memory", started, out, err, limits)
        except Exception as exc:  # the skill's own bug: report, never propagate
            err.write(f"{type(exc).__name__}: {exc}\n")
            return self._fail(spec, "crashed", f"the skill raised {type(exc).__name__}: {exc}", started, out, err, limits)
        return SkillResult(
            skill=spec.name, backend=self.name, ok=True, output=output, exit_status=0,
            stdout=truncate(out.getvalue(), limits.max_output_chars),
            stderr=truncate(err.getvalue(), limits.max_output_chars),
            duration_ms=(time.perf_counter() - started) * 1000,
        )

    def _fail(self, spec: SkillSpec, kind: ErrorKind, message: str, started: float,
              out: io.StringIO, err: io.StringIO, limits: SandboxLimits) -> SkillResult:
        return SkillResult(
            skill=spec.name, backend=self.name, ok=False, exit_status=1,
            stdout=truncate(out.getvalue(), limits.max_output_chars),
            stderr=truncate(err.getvalue(), limits.max_output_chars),
            duration_ms=(time.perf_counter() - started) * 1000,
            error=SkillError(kind=kind, message=message),
        )

    async def run(self, spec: SkillSpec, payload: dict[str, Any], limits: SandboxLimits) -> SkillResult:
        return self.call_sync(spec, payload, limits)


__all__ = ["NONE_BACKEND_WARNING", "NoSandboxBackend", "SECRET_ENV_RE", "scrub_secret_environ"]
