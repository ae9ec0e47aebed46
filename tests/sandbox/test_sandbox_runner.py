"""runner.py on its own, and the outcome mapping every backend shares."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from backend.sandbox import runner
from backend.sandbox.outcome import RUNNER_PATH, RawOutcome, normalize_status, split_marker, to_result
from backend.sandbox.limits import SandboxLimits

from sandbox_helpers import SKILLS_DIR


def run_runner(request: dict, *, pass_fd: bool = False) -> tuple[subprocess.CompletedProcess, bytes]:
    read_fd = write_fd = None
    if pass_fd:
        read_fd, write_fd = os.pipe()
        request = {**request, "result_fd": write_fd}
    proc = subprocess.run([sys.executable, "-I", "-S", "-B", str(RUNNER_PATH)], input=json.dumps(request).encode(),
                          capture_output=True, timeout=30, pass_fds=(write_fd,) if pass_fd else ())
    result = b""
    if pass_fd:
        os.close(write_fd)
        with os.fdopen(read_fd, "rb") as handle:
            result = handle.read()
    return proc, result


def request_for(skill: str, payload: dict, **extra) -> dict:
    return {"entry_file": "main.py", "function": "run", "input": payload,
            "skill_dir": str(SKILLS_DIR / skill), **extra}


def test_marker_result_survives_forged_markers_in_skill_output() -> None:
    proc, _ = run_runner(request_for("echo", {"word": "hi"}, marker="abc123"))
    assert proc.returncode == runner.EXIT_OK
    stdout, envelope = split_marker(proc.stdout.decode(), "abc123")
    assert json.loads(envelope)["output"]["shout"] == "HI!"
    assert '{"forged": 1}' in stdout  # the skill's fake result stays in its own stdout


def test_result_fd_keeps_stdout_untouched() -> None:
    proc, result = run_runner(request_for("echo", {"word": "x"}), pass_fd=True)
    assert proc.returncode == runner.EXIT_OK
    assert json.loads(result) == {"ok": True, "output": {"echo": {"word": "x"}, "shout": "X!", "uid": os.getuid()}}
    assert "@@EVOTRADERS-RESULT-" not in proc.stdout.decode().split("forged")[-1]
    assert "a line on stderr" in proc.stderr.decode()


def test_crash_exit_code_and_traceback() -> None:
    proc, result = run_runner(request_for("crash", {"n": 1}), pass_fd=True)
    assert proc.returncode == runner.EXIT_CRASHED
    assert json.loads(result)["kind"] == "crashed"
    assert "ValueError: boom from the crash skill" in proc.stderr.decode()
    assert "in compute" in proc.stderr.decode()


@pytest.mark.parametrize("how", ["set", "list"])
def test_non_json_output_exit_code(how: str) -> None:
    proc, result = run_runner(request_for("bad_output", {"how": how}), pass_fd=True)
    assert proc.returncode == runner.EXIT_BAD_OUTPUT
    assert json.loads(result)["kind"] == "bad_output"


def test_capture_mode_puts_streams_in_the_result() -> None:
    proc, _ = run_runner(request_for("crash", {}, marker="m", capture_output=True))
    _, envelope = split_marker(proc.stdout.decode(), "m")
    data = json.loads(envelope)
    assert data["kind"] == "crashed"
    assert "about to fail" in data["stdout"]
    assert "Traceback" in data["stderr"] and "ValueError" in data["stderr"]
    assert proc.stderr == b""  # everything went into the result


def test_bad_request_exit_code() -> None:
    proc = subprocess.run([sys.executable, "-I", str(RUNNER_PATH)], input=b"[1, 2]", capture_output=True, timeout=30)
    assert proc.returncode == runner.EXIT_BAD_REQUEST
    assert "bad request" in proc.stderr.decode()


def test_memory_limit_from_request_gives_memory_exit() -> None:
    limits = {"memory_bytes": 256 * 1024 * 1024}
    proc, result = run_runner(request_for("memory_hog", {}, limits=limits), pass_fd=True)
    assert proc.returncode == runner.EXIT_MEMORY
    assert json.loads(result)["kind"] == "memory"


# -- outcome mapping ----------------------------------------------------------------
def _map(raw: RawOutcome, skill_spec) -> tuple[str | None, str]:
    result = to_result(skill_spec, "test", raw, SandboxLimits(timeout_s=2), 1.0)
    return (result.error.kind if result.error else None), (result.error.message if result.error else "")


@pytest.mark.parametrize("raw, kind", [
    (RawOutcome(exit_status=137, timed_out=True), "timeout"),
    (RawOutcome(exit_status=128 + 24), "timeout"),                                  # SIGXCPU
    (RawOutcome(exit_status=137, oom_killed=True), "memory"),
    (RawOutcome(exit_status=1, stderr="Fatal Python error: MemoryError"), "memory"),
    (RawOutcome(exit_status=3, stderr="Traceback ..."), "crashed"),
    (RawOutcome(exit_status=139), "crashed"),                                      # SIGSEGV
    (RawOutcome(exit_status=0), "bad_output"),                                     # left without a result
    (RawOutcome(exit_status=0, envelope=b"{not json"), "bad_output"),
    (RawOutcome(exit_status=0, envelope=b'{"ok": true, "output": {"a": 1}}'), None),
    (RawOutcome(exit_status=12, envelope=b'{"ok": false, "kind": "memory", "message": "x"}'), "memory"),
])
def test_outcome_kinds(raw: RawOutcome, kind: str | None, skill) -> None:
    assert _map(raw, skill("echo"))[0] == kind


def test_messages_name_the_skill_and_the_limit(skill) -> None:
    kind, message = _map(RawOutcome(exit_status=137, timed_out=True), skill("endless"))
    assert message == "skill endless: did not finish within 2 s and was stopped"
    _, message = _map(RawOutcome(exit_status=139), skill("crash"))
    assert "SIGSEGV" in message


def test_cpu_time_limit_ends_in_sigxcpu_and_maps_to_timeout(skill) -> None:
    proc, _ = run_runner(request_for("endless", {}, limits={"cpu_seconds": 1}), pass_fd=True)
    assert proc.returncode == -24  # SIGXCPU from RLIMIT_CPU
    raw = RawOutcome(exit_status=normalize_status(proc.returncode), stderr=proc.stderr.decode())
    assert _map(raw, skill("endless"))[0] == "timeout"
