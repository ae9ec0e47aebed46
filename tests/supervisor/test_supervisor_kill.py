"""Stopping: SIGTERM->SIGKILL escalation, whole process groups, and no orphans on parent death."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys

from backend.supervisor import ProcessIdentity, ProcessSpec, ProcessStatus, terminate_stale

from .support import CHILDREN, child, is_gone, wait_gone, wait_line


async def test_stop_escalates_to_sigkill_for_a_sigterm_ignorer(supervisor):
    proc = supervisor.add(ProcessSpec("stubborn", child("ignore_term.py"), grace_seconds=0.3))
    await proc.start()
    await wait_line(proc, "ignoring SIGTERM")
    pid = proc.pid
    await proc.stop()
    assert proc.status is ProcessStatus.stopped
    out = proc.last_exit
    assert (out.signal, out.exit_code, out.requested) == ("SIGKILL", None, True)
    assert out.reason == "stopped: killed by SIGKILL after ignoring SIGTERM for 0.3s"
    assert is_gone(pid)


async def test_stop_kills_the_whole_process_group(supervisor):
    proc = supervisor.add(ProcessSpec("family", child("spawn_grandchild.py"), grace_seconds=0.3))
    await proc.start()
    grandchild = int((await wait_line(proc, "grandchild pid")).split()[-1])
    assert not is_gone(grandchild)
    await proc.stop()
    # The child died of SIGTERM at once; its SIGTERM-ignoring grandchild needed the SIGKILL.
    assert proc.last_exit.reason == "stopped: killed by SIGTERM"
    assert await wait_gone(grandchild, timeout=10), f"grandchild {grandchild} outlived the stop"


async def test_killed_supervisor_leaves_no_orphan(tmp_path):
    parent = subprocess.Popen([sys.executable, str(CHILDREN / "parent.py")], stdout=subprocess.PIPE, text=True)
    try:
        assert parent.stdout is not None
        line = await asyncio.wait_for(asyncio.to_thread(parent.stdout.readline), 30)
        assert line.startswith("child pid"), line
        orphan_candidate = int(line.split()[-1])
        assert not is_gone(orphan_candidate)
        # The child ignores SIGTERM and has its own session: only the parent-death signal can end it.
        parent.send_signal(signal.SIGKILL)
        parent.wait(10)
        assert await wait_gone(orphan_candidate, timeout=10), f"child {orphan_candidate} outlived its supervisor"
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()
        parent.stdout.close()


async def test_identity_guards_against_pid_reuse_and_terminates_stale_groups():
    stale = subprocess.Popen(child("spawn_grandchild.py"), stdout=subprocess.PIPE, text=True, start_new_session=True)
    try:
        grandchild = int(stale.stdout.readline().split()[-1])
        identity = ProcessIdentity.of(stale.pid)
        assert identity is not None and identity.is_alive()
        assert ProcessIdentity.from_dict(identity.as_dict()) == identity
        impostor = ProcessIdentity(stale.pid, identity.create_time - 100)  # same pid, another process
        assert not impostor.is_alive()
        assert not await terminate_stale(impostor, grace=0.2)
        assert stale.poll() is None  # an impostor record never kills anything
        assert await terminate_stale(identity, grace=0.3)
        assert stale.wait(10) == -signal.SIGTERM
        assert await wait_gone(grandchild, timeout=10)
    finally:
        if stale.poll() is None:
            os.killpg(stale.pid, signal.SIGKILL)
            stale.wait()
        stale.stdout.close()
