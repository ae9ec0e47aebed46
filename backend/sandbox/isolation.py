"""Confining one Python subprocess: bubblewrap where it works, rlimits always.

:class:`Isolation` starts ``python -I -S -B <args>`` with an empty environment,
its own process group, a temporary working directory and resource limits
(``RLIMIT_AS``, ``RLIMIT_CPU``, ``RLIMIT_NOFILE``, ``RLIMIT_NPROC``,
``RLIMIT_FSIZE``, no core files). Where ``bwrap`` works it also gets a private
read-only filesystem view holding only the interpreter, the shared libraries,
the given binds and a small ``/tmp``, plus new user/pid/ipc/uts/net namespaces
(no network unless the limits ask for it). Without bwrap, paths are mapped back
to the host and the process runs with rlimits only; a note says so once.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import resource
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from backend.sandbox.outcome import MAX_RESULT_BYTES, RUNNER_ARGS, RawOutcome, normalize_status
from backend.sandbox.limits import SandboxLimits

log = logging.getLogger(__name__)

SANDBOX_UID = 65534  # "nobody": the uid the skill sees inside bwrap
CHUNK = 65536
# Whether bwrap works is a property of the machine: tried once per interpreter.
_BWRAP_FOUND: dict[str, tuple[str | None, list[str], str]] = {}


@dataclass(frozen=True)
class Bind:
    """A host path visible inside the sandbox at ``target``."""

    source: Path
    target: str
    writable: bool = False


@lru_cache(maxsize=8)
def python_paths(python: str) -> tuple[str, ...]:
    """Host paths the interpreter needs: its binary, stdlib, lib-dynload, libpython."""
    probe = (
        "import json, os, sys, sysconfig\n"
        "v = sysconfig.get_config_var\n"
        "libdir = v('LIBDIR') or ''\n"
        "lib = os.path.join(libdir, v('LDLIBRARY') or '')\n"
        "print(json.dumps([os.path.realpath(sys.executable), sysconfig.get_paths()['stdlib'],\n"
        "                  v('DESTSHARED') or '', lib if v('Py_ENABLE_SHARED') and os.path.exists(lib) else '']))\n"
    )
    out = subprocess.run([python, "-I", "-S", "-c", probe], capture_output=True, text=True, timeout=30, check=True)
    return tuple(os.path.realpath(p) for p in json.loads(out.stdout) if p)


def _covered(path: str, taken: list[str]) -> bool:
    return any(path == t or path.startswith(t.rstrip("/") + "/") for t in taken)


class Isolation:
    """Starts confined Python subprocesses (see the module docstring).

    Args:
        python: the interpreter; default: this one's base interpreter (not a
            venv wrapper, so no third-party packages are reachable).
        use_bwrap: True requires bwrap, False never uses it, None uses it
            when a trial run succeeds.
        nproc, nofile: RLIMIT_NPROC and RLIMIT_NOFILE. RLIMIT_NPROC counts every
            process of the real uid and is not enforced for root.
        file_size: RLIMIT_FSIZE, the largest file the skill may write.
        tmp_size: size of the sandbox's private /tmp (bwrap only).
    """

    def __init__(self, python: str | None = None, use_bwrap: bool | None = None, *, nproc: int = 256,
                 nofile: int = 256, file_size: int = 64 * 1024**2, tmp_size: int = 64 * 1024**2) -> None:
        base = getattr(sys, "_base_executable", None) or sys.executable
        self.python = os.path.realpath(python or base)
        self.nproc, self.nofile, self.file_size, self.tmp_size = nproc, nofile, file_size, tmp_size
        self.bwrap: str | None = None
        self._bwrap_flags: list[str] = []
        self.note = ""
        if use_bwrap is not False:
            known = _BWRAP_FOUND.get(self.python)
            if known is None:
                self.note = self._detect_bwrap()
                known = _BWRAP_FOUND[self.python] = (self.bwrap, self._bwrap_flags, self.note)
                if self.bwrap is None and not use_bwrap:  # logged once per process
                    log.warning("process sandbox without bwrap (%s): skills run with rlimits and an empty "
                                "environment only, with the host's filesystem and network", self.note)
            self.bwrap, self._bwrap_flags, self.note = known[0], list(known[1]), known[2]
            if self.bwrap is None and use_bwrap:
                raise RuntimeError(f"bwrap was required but does not work here: {self.note}")
        else:
            self.note = "bwrap disabled by configuration"

    @property
    def confined(self) -> bool:
        """True when calls get the private filesystem view and namespaces."""
        return self.bwrap is not None

    # -- bwrap ------------------------------------------------------------
    def _detect_bwrap(self) -> str:
        path = shutil.which("bwrap")
        if path is None:
            return "bwrap is not installed (apt-get install bubblewrap)"
        last = ""
        # Newest flags first; older bwrap releases lack --disable-userns / --size.
        for flags in (["--disable-userns"], []):
            self.bwrap, self._bwrap_flags = path, flags
            argv = self._argv(["-c", "pass"], [], SandboxLimits(network="none"), workdir=None)
            try:
                done = subprocess.run(argv, capture_output=True, text=True, timeout=30, env={})
            except (OSError, subprocess.TimeoutExpired) as exc:
                last = str(exc)
                continue
            if done.returncode == 0:
                log.info("process sandbox uses %s %s", path, " ".join(flags))
                return f"bwrap at {path}"
            last = (done.stderr or f"exit status {done.returncode}").strip().splitlines()[-1]
        self.bwrap, self._bwrap_flags = None, []
        return f"bwrap does not work here: {last}"

    def _bwrap_prefix(self, binds: list[Bind], limits: SandboxLimits, workdir: Path | None) -> list[str]:
        assert self.bwrap is not None
        argv = [self.bwrap, "--unshare-all", "--unshare-user", "--uid", str(SANDBOX_UID),
                "--gid", str(SANDBOX_UID), *self._bwrap_flags, "--die-with-parent", "--new-session",
                "--hostname", "sandbox", "--clearenv", "--setenv", "LANG", "C.UTF-8",
                "--setenv", "HOME", "/work", "--proc", "/proc", "--dev", "/dev"]
        if limits.network != "none":
            argv.append("--share-net")
        taken: list[str] = []
        # Shared libraries: mirror merged-/usr symlinks, bind real library dirs.
        for lib in ("/lib", "/lib32", "/lib64", "/libx32", "/usr/lib", "/usr/lib32", "/usr/lib64"):
            if os.path.islink(lib):
                argv += ["--symlink", os.readlink(lib), lib]
            elif os.path.isdir(lib) and not _covered(lib, taken):
                argv += ["--ro-bind", lib, lib]
                taken.append(lib)
        for path in python_paths(self.python):
            if not _covered(path, taken):
                argv += ["--ro-bind", path, path]
                taken.append(path)
        if limits.network != "none":
            for name in ("/etc/resolv.conf", "/etc/hosts", "/etc/nsswitch.conf"):
                if os.path.exists(name):
                    argv += ["--ro-bind", name, name]
        for bind in binds:
            argv += ["--bind" if bind.writable else "--ro-bind", str(bind.source), bind.target]
        if workdir is not None:
            argv += ["--bind", str(workdir), "/work"]
        else:
            argv += ["--dir", "/work"]
        if "--disable-userns" in self._bwrap_flags:  # same bwrap generation added --size
            argv += ["--size", str(self.tmp_size)]
        argv += ["--tmpfs", "/tmp", "--remount-ro", "/", "--chdir", "/work"]
        return argv

    # -- commands ---------------------------------------------------------
    def inner_path(self, path: str, binds: list[Bind], workdir: Path | None) -> str:
        """``path`` as the subprocess sees it: unchanged under bwrap, else the host path."""
        if self.confined:
            return path
        mounts = [(b.target, str(b.source)) for b in binds]
        if workdir is not None:
            mounts.append(("/work", str(workdir)))
        for target, source in mounts:
            if path == target or path.startswith(target.rstrip("/") + "/"):
                return source + path[len(target):]
        return path

    def _argv(self, args: list[str], binds: list[Bind], limits: SandboxLimits, workdir: Path | None) -> list[str]:
        args = [self.inner_path(a, binds, workdir) for a in args]
        command = [self.python, *RUNNER_ARGS, *args]
        if self.confined:
            return [*self._bwrap_prefix(binds, limits, workdir), "--", *command]
        return command

    def _preexec(self, limits: SandboxLimits | None):
        nofile, nproc, fsize = self.nofile, self.nproc, self.file_size

        def apply() -> None:  # runs in the child between fork and exec
            resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
            resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))
            resource.setrlimit(resource.RLIMIT_NPROC, (nproc, nproc))
            resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))
            if limits is not None:
                resource.setrlimit(resource.RLIMIT_AS, (limits.memory_bytes, limits.memory_bytes))
                cpu = int(limits.timeout_s) + 2
                resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))

        return apply

    def _env(self, workdir: Path) -> dict[str, str]:
        """The whole environment of the subprocess (bwrap clears and sets its own inside)."""
        env = {"LANG": "C.UTF-8", "HOME": str(workdir)}
        if not self.confined:
            env["TMPDIR"] = str(workdir)  # no private /tmp without bwrap: keep temp files per call
        return env

    async def spawn(self, args: list[str], binds: list[Bind], workdir: Path,
                    limits: SandboxLimits, *, apply_limits: bool = True) -> "Child":
        """Start ``python -I -S -B args`` confined; it waits for its stdin.

        ``apply_limits=False`` leaves out RLIMIT_AS/RLIMIT_CPU (warm workers:
        the runner applies the call's limits itself before loading the skill).
        """
        read_fd, write_fd = os.pipe()
        try:
            proc = await asyncio.create_subprocess_exec(
                *self._argv(args, binds, limits, workdir), stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
                env=self._env(workdir), cwd=str(workdir),
                start_new_session=True, pass_fds=(write_fd,),
                preexec_fn=self._preexec(limits if apply_limits else None),
            )
        except BaseException:
            os.close(read_fd)
            raise
        finally:
            os.close(write_fd)
        return Child(proc, read_fd, write_fd)


class Child:
    """One started sandboxed process; :meth:`communicate` runs it to the end once."""

    def __init__(self, proc: asyncio.subprocess.Process, result_read_fd: int, result_fd: int) -> None:
        self.proc = proc
        self.result_fd = result_fd  # the fd number the child writes its result to
        self._result_read_fd: int | None = result_read_fd

    def kill(self) -> None:
        """SIGKILL the whole process group (bwrap's --die-with-parent takes the namespace down)."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self._close_result()

    def _close_result(self) -> None:
        if self._result_read_fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._result_read_fd)
            self._result_read_fd = None

    async def communicate(self, stdin: bytes, timeout_s: float, output_cap: int) -> RawOutcome:
        """Feed the request, wait at most ``timeout_s`` and collect everything."""
        loop = asyncio.get_running_loop()
        assert self._result_read_fd is not None, "communicate() runs once"
        result_reader = asyncio.StreamReader(limit=CHUNK)
        result_file = os.fdopen(self._result_read_fd, "rb", buffering=0)
        self._result_read_fd = None
        transport, _ = await loop.connect_read_pipe(
            lambda: asyncio.StreamReaderProtocol(result_reader), result_file)
        proc = self.proc
        assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
        drains = [asyncio.ensure_future(_drain(proc.stdout, output_cap)),
                  asyncio.ensure_future(_drain(proc.stderr, output_cap)),
                  asyncio.ensure_future(_drain(result_reader, MAX_RESULT_BYTES + 1))]
        timed_out = False

        async def feed_then_wait() -> None:
            # Inside the deadline: a child that never reads its stdin must not hang us.
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                proc.stdin.write(stdin)
                await proc.stdin.drain()
                proc.stdin.close()
            await proc.wait()

        try:
            try:
                await asyncio.wait_for(feed_then_wait(), timeout_s)
            except asyncio.TimeoutError:
                timed_out = True
                self.kill()
                await proc.wait()
            # Leftover members of the group must not hold the pipes open.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
            _, pending = await asyncio.wait(drains, timeout=2.0)
            for task in pending:
                task.cancel()
        except BaseException:  # cancelled: leave nothing running
            self.kill()
            for task in drains:
                task.cancel()
            with contextlib.suppress(BaseException):
                await asyncio.wait_for(proc.wait(), 2.0)
            raise
        finally:
            transport.close()
        out, err, result = (t.result() if t.done() and not t.cancelled() else b"" for t in drains)
        too_large = len(result) > MAX_RESULT_BYTES
        return RawOutcome(
            exit_status=normalize_status(proc.returncode), timed_out=timed_out,
            stdout=out.decode("utf-8", "replace"), stderr=err.decode("utf-8", "replace"),
            envelope=result.strip() or None, result_too_large=too_large,
        )


async def _drain(stream: asyncio.StreamReader, cap: int) -> bytes:
    """Read to EOF, keeping the first ``cap`` bytes (the rest is discarded, so the child never blocks)."""
    kept = bytearray()
    while True:
        chunk = await stream.read(CHUNK)
        if not chunk:
            return bytes(kept)
        if len(kept) < cap:
            kept += chunk[: cap - len(kept)]
