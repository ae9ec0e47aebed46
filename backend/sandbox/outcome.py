"""What every isolating backend shares: the runner request and reading its outcome.

A backend starts ``runner.py`` somewhere (a subprocess, a container, a pod),
collects what came back into a :class:`RawOutcome` and lets
:func:`to_result` turn it into a :class:`SkillResult` with the same error
kinds everywhere.
"""

from __future__ import annotations

import json
import math
import secrets
import signal
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from backend.skills.spec import SkillSpec
from backend.sandbox import runner
from backend.sandbox.limits import SandboxLimits, truncate
from backend.schema.process import signal_name
from backend.schema.sandbox import SkillError, SkillResult

RUNNER_PATH = Path(runner.__file__).resolve()
RUNNER_ARGS = ["-I", "-S", "-B"]  # isolated mode, no site-packages, no bytecode files
MAX_RESULT_BYTES = 8 * 1024 * 1024
_MEMORY_HINTS = ("MemoryError", "Cannot allocate memory", "out of memory")


@dataclass
class RawOutcome:
    """What came back from one sandboxed runner, before interpretation.

    Args:
        exit_status: the exit code; death by signal N is reported as 128 + N
            (as shells and container engines do); None if unknown.
        stdout, stderr: the skill's output (already capped by the backend).
        envelope: the runner's result line, or None if none arrived.
        timed_out: the backend stopped the call at its wall-clock deadline.
        oom_killed: the engine reported an out-of-memory kill.
        result_too_large: the envelope exceeded :data:`MAX_RESULT_BYTES`.
    """

    exit_status: int | None
    stdout: str = ""
    stderr: str = ""
    envelope: bytes | None = None
    timed_out: bool = False
    oom_killed: bool = False
    result_too_large: bool = False


def new_marker() -> str:
    return secrets.token_hex(16)


def build_request(spec: SkillSpec, payload: dict[str, Any], limits: SandboxLimits, *,
                  skill_dir: str, result_fd: int | None = None, marker: str | None = None,
                  capture_output: bool = False, apply_limits: bool = True) -> dict[str, Any]:
    """The JSON object ``runner.py`` reads."""
    request: dict[str, Any] = {
        "entry_file": spec.entry_file, "function": spec.entry_function, "input": payload,
        "skill_dir": skill_dir, "capture_output": capture_output,
        "limits": {"max_output_chars": limits.max_output_chars},
    }
    if apply_limits:
        request["limits"].update(memory_bytes=limits.memory_bytes, cpu_seconds=cpu_seconds(limits))
    if result_fd is not None:
        request["result_fd"] = result_fd
    else:
        request["marker"] = marker or new_marker()
    return request


def cpu_seconds(limits: SandboxLimits) -> int:
    """CPU-time budget: the wall timeout, rounded up, plus one second of slack."""
    return int(math.ceil(limits.timeout_s)) + 1


def split_marker(text: str, marker: str) -> tuple[str, bytes | None]:
    """(the skill's own stdout, the envelope line) from marker-style output."""
    line = runner.marker_line(marker)
    head, sep, tail = text.rpartition("\n" + line + "\n")
    if not sep:
        return text, None
    return head, tail.strip().encode("utf-8")


def decode(data: bytes, limit: int) -> str:
    return truncate(data.decode("utf-8", "replace"), limit)


def normalize_status(returncode: int | None) -> int | None:
    """Subprocess reports death by signal N as -N; shells and engines use 128 + N."""
    if returncode is not None and returncode < 0:
        return 128 - returncode
    return returncode


def to_result(spec: SkillSpec, backend: str, raw: RawOutcome, limits: SandboxLimits,
              duration_ms: float) -> SkillResult:
    """Map a runner outcome to a :class:`SkillResult` with a typed error."""
    stdout = truncate(raw.stdout, limits.max_output_chars)
    stderr = truncate(raw.stderr, limits.max_output_chars)
    envelope: dict[str, Any] | None = None
    unreadable = ""
    if raw.envelope is not None and not raw.result_too_large:
        try:
            envelope = json.loads(raw.envelope)
            if not isinstance(envelope, dict):
                raise ValueError("not a JSON object")
        except ValueError as exc:
            envelope, unreadable = None, str(exc)
    if envelope is not None and "stdout" in envelope and not stdout:
        stdout = truncate(str(envelope.get("stdout", "")), limits.max_output_chars)
        stderr = truncate(str(envelope.get("stderr", "")), limits.max_output_chars)

    def done(ok: bool, output: dict[str, Any] | None = None, error: SkillError | None = None) -> SkillResult:
        return SkillResult(skill=spec.name, backend=backend, ok=ok, output=output, stdout=stdout,
                           stderr=stderr, exit_status=raw.exit_status, duration_ms=duration_ms, error=error)

    def fail(kind: str, message: str) -> SkillResult:
        return done(False, error=SkillError(kind=kind, message=f"skill {spec.name}: {message}"))  # type: ignore[arg-type]

    mib = limits.memory_bytes / 1024**2
    status = raw.exit_status
    if raw.timed_out:
        return fail("timeout", f"did not finish within {limits.timeout_s:g} s and was stopped")
    if raw.oom_killed:
        return fail("memory", f"exceeded its memory limit of {mib:g} MiB and was killed")
    if envelope is not None:
        if envelope.get("ok") is True:
            output = envelope.get("output")
            if isinstance(output, dict):
                return done(True, output=output)
            return fail("bad_output", "the runner returned a result without an output object")
        kind = envelope.get("kind")
        if kind not in ("crashed", "bad_output", "memory"):
            kind = "crashed"
        message = str(envelope.get("message") or "failed")
        if kind == "memory":
            message = f"ran out of memory (limit {mib:g} MiB)"
        return fail(kind, message)
    if raw.result_too_large:
        return fail("bad_output", f"returned a result larger than {MAX_RESULT_BYTES // 1024**2} MiB")
    if unreadable:
        return fail("bad_output", f"produced an unreadable result ({unreadable})")
    if status == 128 + signal.SIGXCPU:
        return fail("timeout", f"used more than {cpu_seconds(limits)} s of CPU time and was stopped (SIGXCPU)")
    if status is not None and any(hint in raw.stderr for hint in _MEMORY_HINTS):
        return fail("memory", f"ran out of memory (limit {mib:g} MiB)")
    if status == runner.EXIT_BAD_REQUEST:
        return fail("crashed", "the sandbox runner could not read its request (see stderr)")
    if status is None:
        return fail("crashed", "ended without an exit status or result")
    if status > 128:
        return fail("crashed", f"was killed by {signal_name(status - 128)} before returning a result")
    if status != 0:
        return fail("crashed", f"exited with status {status} before returning a result")
    return fail("bad_output", "exited without returning a result")
