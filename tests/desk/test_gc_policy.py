"""Only the GUI thread frees Qt objects: the in-process segfault of issue 16.

``gc_scenario.py`` leaves timers and pyqtgraph plots in reference cycles and
lets a worker thread allocate until the collector runs. Without the policy
the worker's collection destroys them off the GUI thread (Qt says "Timers
cannot be stopped from another thread", and the process usually segfaults in
the event loop right after). With the desk's policy, every collection and
every destruction happens on the main thread and the process exits cleanly.
"""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
import threading
import weakref
from pathlib import Path

import pytest

from tests.support.cyclic_garbage import allocate_in_thread

SCENARIO = Path(__file__).with_name("gc_scenario.py")
OFF_THREAD = "Timers cannot be stopped from another thread"


def run_scenario(*args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    return subprocess.run([sys.executable, "-X", "faulthandler", str(SCENARIO), *args],
                          capture_output=True, text=True, timeout=120, env=env)


def report(proc: subprocess.CompletedProcess[str]) -> dict:
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    assert lines, f"no report (rc {proc.returncode}): {proc.stderr[-2000:]}"
    return json.loads(lines[-1])


def test_without_the_policy_a_worker_thread_frees_qt_objects() -> None:
    """The scenario really reaches the hazard: this is what the desk used to do."""
    proc = run_scenario()
    assert OFF_THREAD in proc.stderr, proc.stderr[-2000:]  # Qt says so, then usually segfaults (rc 139)


@pytest.mark.parametrize("attempt", range(3))
def test_with_the_policy_only_the_gui_thread_collects_and_frees(attempt: int) -> None:
    proc = run_scenario("--policy")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert OFF_THREAD not in proc.stderr
    seen = report(proc)
    assert set(seen["collections"]) == {"MainThread"}, seen
    assert seen["destroyed_in"] == {"MainThread": 60}, seen  # every cycle was freed, on the GUI thread


def test_the_desk_and_this_test_session_run_under_the_policy(qapp) -> None:
    """The desk tests run under the policy ``app.main.run`` installs: automatic collection is
    off, and a thread allocating cyclic garbage starts no collection of its own."""
    from app.qt import gc_policy

    assert gc_policy.active() and not gc.isenabled()
    threads: set[str] = set()

    def note(phase: str, info: dict) -> None:
        if phase == "start":
            threads.add(threading.current_thread().name)

    gc.callbacks.append(note)
    try:
        allocate_in_thread("allocator", 100_000)
        gc_policy.collect_if_due()
    finally:
        gc.callbacks.remove(note)
    assert "allocator" not in threads
    assert threads <= {"MainThread"}



def test_startup_objects_are_frozen_out_of_collections_and_thawed_for_teardown() -> None:
    """freeze_startup_objects: what exists now is skipped by later collections, which still free new cycles."""
    from app.qt import gc_policy

    class Node:
        def __init__(self) -> None:
            self.me = self  # a reference cycle: only the collector frees it

    freed: list[str] = []
    assert gc.get_freeze_count() == 0
    try:
        frozen = gc_policy.freeze_startup_objects()
        assert frozen > 1000 and gc.get_freeze_count() == frozen  # modules, Qt wrappers, ...
        late = Node()
        weakref.finalize(late, freed.append, "late")
        del late
        gc.collect()
        assert freed == ["late"]  # a cycle made after the freeze is collected as before
    finally:
        gc.unfreeze()  # release_qt does this before its last collection
    assert gc.get_freeze_count() == 0
