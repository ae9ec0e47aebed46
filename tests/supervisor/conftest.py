"""Fixtures for the supervisor tests: a supervisor torn down after each test,
and a check that no test leaves a child process behind."""

from __future__ import annotations

import time

import psutil
import pytest

from backend.supervisor import ProcessSupervisor


@pytest.fixture
async def supervisor():
    sup = ProcessSupervisor()
    yield sup
    await sup.stop_all()


@pytest.fixture(autouse=True)
def no_leftover_children():
    """Fail a test that leaves a live child process; kill what it left."""
    yield
    me = psutil.Process()
    deadline = time.monotonic() + 5.0
    while True:
        alive = [p for p in me.children(recursive=True) if not _zombie(p)]
        if not alive or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    for proc in alive:
        proc.kill()
    assert not alive, f"test left child processes behind: {[p.pid for p in alive]}"


def _zombie(proc: psutil.Process) -> bool:
    try:
        return proc.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True
