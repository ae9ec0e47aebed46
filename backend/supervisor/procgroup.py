"""Process-group plumbing: parent-death signal, group signalling, process identity.

Every supervised child leads its own session (and so its own process group,
whose id is the child's pid); signalling the group reaches the grandchildren
a service may have spawned. POSIX only.
"""

from __future__ import annotations

import asyncio
import ctypes
import os
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import psutil

_PR_SET_PDEATHSIG = 1

if sys.platform.startswith("linux"):
    try:
        # Resolved in the parent: after fork only async-signal-safe work should run.
        _prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):  # pragma: no cover - exotic libc
        _prctl = None
else:  # pragma: no cover - macOS has no parent-death signal
    _prctl = None


def pdeathsig_preexec() -> Callable[[], None] | None:
    """A ``preexec_fn`` asking Linux to SIGKILL the child when its parent dies.

    The kernel sends the signal when the *thread* that forked the child exits,
    so spawn from a thread that lives as long as the supervisor (the event-loop
    thread: asyncio forks there). Returns None where the feature does not exist.
    """
    if _prctl is None:
        return None
    parent = os.getpid()
    prctl = _prctl

    def _preexec() -> None:
        prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
        # The parent may have died between fork() and prctl(): then no signal
        # will ever come, so act on it now.
        if os.getppid() != parent:
            os.kill(os.getpid(), signal.SIGKILL)

    return _preexec


def set_parent_death_signal(parent: int) -> None:
    """In a freshly forked child: SIGKILL me when my parent (pid ``parent``) dies (Linux only)."""
    if _prctl is None:
        return
    _prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
    if os.getppid() != parent:
        os.kill(os.getpid(), signal.SIGKILL)


def signal_group(pgid: int, sig: int) -> bool:
    """Send ``sig`` to a process group; False if the group no longer exists."""
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        return False
    except PermissionError:
        # Not ours (cannot happen for a group we created and still hold); leave it alone.
        return False
    return True


def group_members(pgid: int) -> list[int]:
    """Live (non-zombie) pids in a process group.

    Zombies are skipped: an orphaned grandchild reparented to an init that
    does not reap would otherwise look alive forever.
    """
    try:
        os.killpg(pgid, 0)
    except (ProcessLookupError, PermissionError):
        return []
    proc_root = Path("/proc")
    if not proc_root.is_dir():  # pragma: no cover - non-Linux: trust killpg
        return [pgid]
    members: list[int] = []
    for entry in proc_root.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # Fields after the parenthesised command: state, ppid, pgrp, ...
        fields = stat[stat.rfind(")") + 2:].split()
        if len(fields) >= 3 and int(fields[2]) == pgid and fields[0] not in ("Z", "X"):
            members.append(int(entry.name))
    return members


async def wait_group_gone(pgid: int, timeout: float, poll: float = 0.05) -> bool:
    """Wait until no live process is left in the group; False on timeout."""
    deadline = time.monotonic() + timeout
    while group_members(pgid):
        if time.monotonic() >= deadline:
            return False
        await asyncio.sleep(poll)
    return True


@dataclass(frozen=True)
class ProcessIdentity:
    """A pid together with its start time, so a recorded pid is never trusted blindly.

    Pids are reused; a pid read back from a state file is only "our process"
    if a process with that pid exists *and* started at the recorded time.
    """

    pid: int
    create_time: float

    @classmethod
    def of(cls, pid: int) -> "ProcessIdentity | None":
        try:
            return cls(pid, psutil.Process(pid).create_time())
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            return None

    def is_alive(self) -> bool:
        """True if the very same process still runs (not a zombie, not a reused pid)."""
        try:
            proc = psutil.Process(self.pid)
            return proc.create_time() == self.create_time and proc.status() != psutil.STATUS_ZOMBIE
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            return False

    def as_dict(self) -> dict[str, float | int]:
        return {"pid": self.pid, "create_time": self.create_time}

    @classmethod
    def from_dict(cls, data: dict) -> "ProcessIdentity":
        return cls(int(data["pid"]), float(data["create_time"]))


async def terminate_stale(identity: ProcessIdentity, grace: float = 5.0) -> bool:
    """Stop a process left over from an earlier supervisor (e.g. a Gateway whose
    runtime_service died), with its group: SIGTERM, then SIGKILL after ``grace``.

    Does nothing unless the identity still matches. Returns True if it was running.
    """
    if not identity.is_alive():
        return False
    try:
        pgid = os.getpgid(identity.pid)
    except ProcessLookupError:
        return False
    # Only signal the whole group if the process leads it (as our children do).
    if pgid == identity.pid:
        signal_group(pgid, signal.SIGTERM)
        if not await wait_group_gone(pgid, grace):
            signal_group(pgid, signal.SIGKILL)
            await wait_group_gone(pgid, 1.0)
        return True
    proc = psutil.Process(identity.pid)
    proc.terminate()
    try:
        await asyncio.to_thread(proc.wait, grace)
    except psutil.TimeoutExpired:
        proc.kill()
    return True
