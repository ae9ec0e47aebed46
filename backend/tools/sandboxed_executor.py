"""Run skills through one executor, whatever the sandbox.

``SkillExecutor.run(spec, payload)`` validates the input against the skill's
input schema, hands it to a :class:`SandboxBackend`, validates the output
against the output schema and returns a :class:`SkillResult`. Failures never
raise: they come back as a typed :class:`SkillError` a user can act on.

Backends:

- ``none`` -- :class:`NoSandboxBackend`: imports and calls the entry point in
  this process. Development only; warns once per process.
- ``process``, ``docker``, ``kubernetes`` -- see ``backend/tools/sandbox/``.

:func:`make_executor` builds a run's executor: the run's requested mode
raised to the operator's floor (``backend/tools/sandbox_floor.py``).
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import importlib.util
import io
import collections
import logging
import os
import re
import threading
import time
from dataclasses import dataclass
from types import ModuleType
from typing import Any, Callable, Literal

import jsonschema_rs
from pydantic import BaseModel

from backend.schema.sandbox import EffectiveSandbox
from backend.skills.spec import SkillSpec

log = logging.getLogger(__name__)

OUTPUT_LIMIT = 16_384  # characters of stdout/stderr kept in a result
SandboxMode = Literal["none", "process", "docker", "kubernetes"]
ErrorKind = Literal["timeout", "memory", "crashed", "bad_output", "bad_input", "backend_unavailable"]

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


class SkillError(BaseModel):
    """Why a skill call failed, with a message a user can act on."""

    kind: ErrorKind
    message: str


class SkillResult(BaseModel):
    """The outcome of one skill call, the same for every backend."""

    skill: str
    backend: str
    ok: bool
    output: dict[str, Any] | None = None
    stdout: str = ""
    stderr: str = ""
    exit_status: int | None = None
    duration_ms: float = 0.0
    error: SkillError | None = None


@dataclass(frozen=True)
class SandboxLimits:
    """Resource limits a backend applies to one call."""

    timeout_s: float = 60.0
    memory_bytes: int = 512 * 1024 * 1024
    cpu_limit: float = 1.0
    network: str = "none"
    max_output_chars: int = OUTPUT_LIMIT


def parse_memory(text: str) -> int:
    """``512m`` -> bytes (k/m/g suffixes, binary units, as Docker reads them)."""
    text = text.strip().lower()
    units = {"k": 1024, "m": 1024**2, "g": 1024**3}
    if text and text[-1] in units:
        return int(float(text[:-1]) * units[text[-1]])
    return int(float(text))


def truncate(text: str, limit: int = OUTPUT_LIMIT) -> str:
    if len(text) <= limit:
        return text
    return text[:limit] + f"\n... [truncated {len(text) - limit} characters]"


class SandboxBackend(abc.ABC):
    """Runs one skill call in some isolation and reports a :class:`SkillResult`."""

    name: str = "abstract"

    @abc.abstractmethod
    async def run(self, spec: SkillSpec, payload: dict[str, Any], limits: SandboxLimits) -> SkillResult:
        """Run ``spec`` on ``payload``; never raise for skill failures."""

    async def close(self) -> None:
        """Release pools, clients and the like."""


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
        self._modules: dict[str, ModuleType] = {}
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
        key = str(spec.code_path)
        module = self._modules.get(key)
        if module is None:
            mod_name = f"evotraders_skill_{spec.name}_{abs(hash(key)):x}"
            loader_spec = importlib.util.spec_from_file_location(mod_name, spec.code_path)
            assert loader_spec is not None and loader_spec.loader is not None
            module = importlib.util.module_from_spec(loader_spec)
            loader_spec.loader.exec_module(module)
            self._modules[key] = module
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




class SkillExecutor:
    """The one way the pipeline calls skills.

    Args:
        backend: the sandbox that runs each call.
        limits: resource limits applied to every call.
        validate: check input and output against the skill's JSON schemas.
    """

    def __init__(self, backend: SandboxBackend, limits: SandboxLimits | None = None,
                 validate: bool = True, sandbox: EffectiveSandbox | None = None) -> None:
        self.backend = backend
        self.limits = limits or SandboxLimits()
        self.validate = validate
        self.sandbox = sandbox  # how the mode was chosen (make_executor); None when built by hand
        # Calls by the backend that actually ran them (SkillResult.backend).
        self.calls: collections.Counter[str] = collections.Counter()
        self._validators: dict[tuple[str, str], Any] = {}

    @property
    def mode(self) -> str:
        return self.backend.name

    def _check(self, spec: SkillSpec, which: str, value: Any) -> str | None:
        if not self.validate:
            return None
        key = (str(spec.path), which)
        validator = self._validators.get(key)
        if validator is None:
            # jsonschema-rs: compiled validators, ~50x faster than pure-Python
            # validation on the per-day payloads of a backtest.
            schema = spec.input_schema if which == "input" else spec.output_schema
            validator = jsonschema_rs.validator_for(schema)
            self._validators[key] = validator
        if validator.is_valid(value):
            return None
        error = next(iter(validator.iter_errors(value)))
        where = "/".join(str(p) for p in error.instance_path) or "(root)"
        return f"at {where}: {error.message}"

    def _finish(self, spec: SkillSpec, result: SkillResult) -> SkillResult:
        self.calls[result.backend] += 1
        if result.ok:
            problem = self._check(spec, "output", result.output)
            if problem is not None:
                result.ok = False
                result.error = SkillError(
                    kind="bad_output",
                    message=f"skill {spec.name} returned output that does not match its output_schema {problem}",
                )
        return result

    def _bad_input(self, spec: SkillSpec, problem: str) -> SkillResult:
        return SkillResult(
            skill=spec.name, backend=self.backend.name, ok=False,
            error=SkillError(kind="bad_input", message=f"input for skill {spec.name} does not match its input_schema {problem}"),
        )

    def run_sync(self, spec: SkillSpec, payload: dict[str, Any]) -> SkillResult:
        """Synchronous call, only for the in-process backend (fast backtests)."""
        if not isinstance(self.backend, NoSandboxBackend):
            raise RuntimeError("run_sync is only available with the in-process backend")
        problem = self._check(spec, "input", payload)
        if problem is not None:
            return self._bad_input(spec, problem)
        return self._finish(spec, self.backend.call_sync(spec, payload, self.limits))

    async def run(self, spec: SkillSpec, payload: dict[str, Any]) -> SkillResult:
        problem = self._check(spec, "input", payload)
        if problem is not None:
            return self._bad_input(spec, problem)
        result = await self.backend.run(spec, payload, self.limits)
        return self._finish(spec, result)

    async def run_batch(self, calls: list[tuple[SkillSpec, dict[str, Any]]]) -> list[SkillResult]:
        """Run several calls concurrently (slow backends overlap their start-up)."""
        if isinstance(self.backend, NoSandboxBackend):
            return [self.run_sync(spec, payload) for spec, payload in calls]
        return list(await asyncio.gather(*(self.run(spec, payload) for spec, payload in calls)))

    async def close(self) -> None:
        await self.backend.close()


def make_backend(mode: str, *, on_first_use: Callable[[str], None] | None = None,
                 settings: Any | None = None, scrub_environ: bool = False) -> SandboxBackend:
    """The backend for a sandbox mode name."""
    if mode == "none":
        return NoSandboxBackend(on_first_use=on_first_use, scrub_environ=scrub_environ)
    # The isolating backends live in backend/tools/sandbox/ (imported lazily:
    # they pull in the docker and kubernetes clients).
    from backend.tools import sandbox

    return sandbox.make_isolating_backend(mode, settings=settings)


def limits_from_settings(settings: Any) -> SandboxLimits:
    return SandboxLimits(
        timeout_s=float(settings.skill_sandbox_timeout),
        memory_bytes=parse_memory(settings.skill_sandbox_memory_limit),
        cpu_limit=float(settings.skill_sandbox_cpu_limit),
        network=settings.skill_sandbox_network,
    )


def make_executor(requested: str | None = None, settings: Any | None = None,
                  on_first_use: Callable[[str], None] | None = None) -> SkillExecutor:
    """The executor of a run: ``requested`` (its BOOTSTRAP's ``sandbox_mode``) raised to the floor.

    The floor is the mode of the saved sandbox settings (``PUT /sandbox/settings``),
    else ``SKILL_SANDBOX_MODE``; the saved limits and image apply as well. A
    request for less isolation runs at the floor: ``executor.sandbox`` says
    so (``reason == "raised_to_floor"``). With the effective mode ``none``,
    secrets are removed from this process's environment first.
    """
    from backend.runtime.sandbox_settings import SandboxSettingsStore, operator_floor
    from backend.tools.sandbox_floor import choose_sandbox

    if settings is None:
        from backend.config import get_settings

        settings = get_settings()
    floor, source = operator_floor(settings)
    if source == "sandbox_settings":
        settings = SandboxSettingsStore(settings).apply(settings)
    sandbox = choose_sandbox(requested, floor, source)  # type: ignore[arg-type]
    backend = make_backend(sandbox.mode, on_first_use=on_first_use, settings=settings, scrub_environ=True)
    return SkillExecutor(backend, limits_from_settings(settings), sandbox=sandbox)


__all__ = [
    "NONE_BACKEND_WARNING", "NoSandboxBackend", "SandboxBackend", "SandboxLimits", "SkillError",
    "SkillExecutor", "SkillResult", "make_backend", "make_executor", "parse_memory", "scrub_secret_environ",
    "truncate",
]
