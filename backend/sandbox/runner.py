"""The script every isolating backend runs inside its sandbox (standard library only).

Usage::

    python -I -S -B runner.py [REQUEST_FILE [SKILL_DIR]]

The request is a JSON object, read from ``REQUEST_FILE`` or from stdin::

    {"entry_file": "main.py", "function": "run", "input": {...},
     "skill_dir": "/skill",          # where the skill's folder is (argv[2] wins)
     "result_fd": 3,                 # write the result to this fd ...
     "marker": "0f3c...",            # ... or after "@@EVOTRADERS-RESULT-<marker>@@" on stdout
     "capture_output": false,        # put the skill's stdout/stderr into the result
     "limits": {"memory_bytes": ..., "cpu_seconds": ..., "max_output_chars": ...}}

The result ("envelope") is one JSON line: ``{"ok": true, "output": {...}}`` or
``{"ok": false, "kind": "crashed" | "bad_output" | "memory", "message": "..."}``,
plus ``stdout``/``stderr`` when ``capture_output`` is set. It goes to a private
fd or after a marker line that only the host knows, written with ``os.write`` on
a copy of the original stdout taken before the skill runs, so whatever the
skill prints (or however it rebinds ``sys.stdout``) cannot corrupt it.

Exit codes tell the host what happened even when no envelope arrives:
0 ok, 10 the skill raised, 11 bad output, 12 out of memory, 13 bad request.
"""

import importlib.machinery
import json
import os
import sys

try:
    import resource
except ImportError:  # not on Linux; the outer sandbox still applies its own limits
    resource = None

EXIT_OK = 0
EXIT_CRASHED = 10
EXIT_BAD_OUTPUT = 11
EXIT_MEMORY = 12
EXIT_BAD_REQUEST = 13
MARKER_PREFIX = "@@EVOTRADERS-RESULT-"
MAX_CAPTURE = 16_384


def marker_line(marker):
    return MARKER_PREFIX + marker + "@@"


def _apply_limits(limits):
    """Tighten resource limits before any skill code runs (lowering is always allowed)."""
    if resource is None:
        return
    memory = limits.get("memory_bytes")
    if memory:
        _lower(resource.RLIMIT_AS, int(memory))
    cpu = limits.get("cpu_seconds")
    if cpu:
        used = resource.getrusage(resource.RUSAGE_SELF)
        spent = int(used.ru_utime + used.ru_stime)
        # SIGXCPU at the soft limit, SIGKILL one second later.
        _lower(resource.RLIMIT_CPU, spent + int(cpu), spent + int(cpu) + 1)


def _lower(which, soft, hard=None):
    old_soft, old_hard = resource.getrlimit(which)
    hard = soft if hard is None else hard
    if old_hard != resource.RLIM_INFINITY:
        hard = min(hard, old_hard)
        soft = min(soft, hard)
    try:
        resource.setrlimit(which, (soft, hard))
    except (ValueError, OSError):
        pass


def _load(skill_dir, entry_file):
    # importlib.machinery is already in memory; importlib.util would cost
    # milliseconds of imports on every call.
    path = os.path.join(skill_dir, entry_file)
    sys.path.insert(0, skill_dir)  # let the skill import its sibling modules
    loader = importlib.machinery.SourceFileLoader("skill_main", path)
    spec = importlib.machinery.ModuleSpec("skill_main", loader, origin=path)
    spec.has_location = True
    module = type(sys)("skill_main")
    module.__spec__, module.__loader__, module.__file__ = spec, loader, path
    sys.modules["skill_main"] = module
    loader.exec_module(module)
    return module


def _redirect(fd, path):
    """Point ``fd`` at a fresh file; return a copy of the old fd to restore."""
    saved = os.dup(fd)
    target = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.dup2(target, fd)
    os.close(target)
    return saved


def _read_capped(path, limit):
    try:
        with open(path, "rb") as handle:
            data = handle.read(limit + 1)
    except OSError:
        return ""
    text = data[:limit].decode("utf-8", "replace")
    return text + ("\n... [truncated]" if len(data) > limit else "")


def _emit(request, result_fd, envelope, code):
    sys.stdout.flush()
    sys.stderr.flush()
    line = json.dumps(envelope, separators=(",", ":")).encode("utf-8")
    if request.get("result_fd") is not None:
        payload = line
    else:
        payload = b"\n" + marker_line(request.get("marker", "")).encode("ascii") + b"\n" + line + b"\n"
    view = memoryview(payload)
    while view:
        written = os.write(result_fd, view)
        view = view[written:]
    # Skip atexit handlers and non-daemon threads the skill may have left behind.
    os._exit(code)


def main(argv):
    try:
        if len(argv) > 1:
            with open(argv[1], "rb") as handle:
                request = json.loads(handle.read())
        else:
            request = json.loads(sys.stdin.buffer.read())
        if not isinstance(request, dict):
            raise ValueError("the request must be a JSON object")
        entry_file, function, payload = request["entry_file"], request["function"], request["input"]
        skill_dir = argv[2] if len(argv) > 2 else request.get("skill_dir", "/skill")
    except Exception as exc:
        sys.stderr.write("runner: bad request: %s: %s\n" % (type(exc).__name__, exc))
        return EXIT_BAD_REQUEST

    fd = request.get("result_fd")
    result_fd = os.dup(int(fd)) if fd is not None else os.dup(1)
    if fd is not None:
        os.close(int(fd))  # the skill never sees the result channel under its known number
    limits = request.get("limits") or {}
    _apply_limits(limits)
    capture = bool(request.get("capture_output"))
    if capture:
        import tempfile

        capture_dir = tempfile.mkdtemp(prefix="runner-")
        out_path, err_path = os.path.join(capture_dir, "out"), os.path.join(capture_dir, "err")
        sys.stdout.flush()
        sys.stderr.flush()
        saved = (_redirect(1, out_path), _redirect(2, err_path))

    kind, message, output = None, "", None
    try:
        func = getattr(_load(skill_dir, entry_file), function)
        output = func(payload)
    except MemoryError:
        # Handled after this block so that the skill's frames (and the memory
        # they hold) are released before anything else is allocated.
        kind = "memory"
    except BaseException as exc:  # SystemExit and KeyboardInterrupt count as crashes too
        kind = "crashed"
        message = "the skill raised %s: %s" % (type(exc).__name__, exc)
        import traceback  # only on failure: it costs imports on every call otherwise

        traceback.print_exc()
    if kind == "memory":
        message = "the skill ran out of memory (MemoryError)"
        sys.stderr.write("MemoryError: the skill exceeded its memory limit\n")

    envelope = {"ok": kind is None}
    if kind is None:
        if not isinstance(output, dict):
            kind, message = "bad_output", "the skill returned %s, not a JSON object" % type(output).__name__
        else:
            try:
                json.dumps(output, allow_nan=False)
            except (TypeError, ValueError, RecursionError) as exc:
                kind, message = "bad_output", "the skill returned output that is not JSON: %s" % exc
    if kind is None:
        envelope["output"] = output
        code = EXIT_OK
    else:
        envelope = {"ok": False, "kind": kind, "message": message}
        code = {"crashed": EXIT_CRASHED, "bad_output": EXIT_BAD_OUTPUT, "memory": EXIT_MEMORY}[kind]
    if capture:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        limit = int(limits.get("max_output_chars") or MAX_CAPTURE)
        envelope["stdout"] = _read_capped(out_path, limit)
        envelope["stderr"] = _read_capped(err_path, limit)
    _emit(request, result_fd, envelope, code)
    return code  # not reached


if __name__ == "__main__":
    sys.exit(main(sys.argv))
