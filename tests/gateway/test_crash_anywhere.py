"""Crash anywhere equals never crashed: a real Gateway SIGKILLed dozens of times over one run.

The run is the embedded default (six months, six tickers, synthetic market
seed 7, ``rules`` agents) at a small pace. The kills are spread over the
whole run: after each of 30 random days (the seed is printed;
EVOTRADERS_CRASH_SEED replays it) plus a random delay, and, through
failpoints, once in the middle of an events.jsonl line, a trades.jsonl line,
a memory.jsonl line and a state snapshot (a half-written temp file; one
written but not renamed). After every kill every JSON file parses and every
JSONL has no corrupt line; at the end the run equals an uninterrupted one.
Run against the old two-call event log writer it fails on a corrupt
events.jsonl line after a kill.
"""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from backend.storage.jsonl import JsonlStats, iter_jsonl
from tests.e2e.gateway_process import ROOT, gateway_env
from tests.gateway.crash_support import (
    ARGS, assert_same_final_state, check_files_whole, crash_seed, create_run, days_done, finish, gateway,
    kill_days, reference_run, run_status, temp_files,
)

pytestmark = pytest.mark.slow

KILLS = 30  # random-moment kills, on top of one kill at each failpoint
FAILPOINTS = ("event_log.mid_line", "atomic.mid_write", "trades.mid_line", "atomic.before_rename",
              "memory.mid_line")


def gateway_to_die(env: dict[str, str], *extra: str) -> subprocess.Popen:
    """A Gateway whose failpoint may kill it before it listens."""
    return subprocess.Popen([sys.executable, "-m", "gateway", "--port", "0", *ARGS, *extra], env=env, cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)


def failpoint_for(point: str, rng: random.Random) -> str:
    # Hit numbers small enough that the point is reached long before the run ends.
    top = {"event_log.mid_line": 400, "atomic.mid_write": 12, "atomic.before_rename": 12,
           "trades.mid_line": 3, "memory.mid_line": 8}[point]
    return f"{point}:{rng.randint(1, top)}"


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    return reference_run(tmp_path_factory.mktemp("reference"))


def test_a_gateway_killed_dozens_of_times_by_hand_ends_as_if_never_killed(tmp_path, reference):
    rng = random.Random(crash_seed())
    env = gateway_env(tmp_path)
    run = create_run(tmp_path)
    targets = kill_days(rng, KILLS)
    # Before a few of the kills (in the first two thirds of the run, so that
    # each point is reached) a Gateway runs with a failpoint and dies at it.
    failpoint_before = dict(zip(sorted(rng.sample(range(KILLS * 2 // 3), len(FAILPOINTS))), FAILPOINTS))
    kills, fired, killed_at = 0, [], []
    for i, target in enumerate(targets):
        if i in failpoint_before:
            fired.append(die_at_failpoint(env, run, failpoint_before[i], rng))
            check_files_whole(run)
        proc = gateway(env)
        if not reach_day(run, proc, target):
            assert finish(proc, 60) == 0
            break  # the run completed
        time.sleep(rng.uniform(0.0, 0.1))  # a random moment in the stretch after the target day
        if proc.poll() is not None:
            assert finish(proc, 60) == 0
            break
        proc.send_signal(signal.SIGKILL)
        assert finish(proc, 30) == -signal.SIGKILL
        kills += 1
        killed_at.append(days_done(run))
        check_files_whole(run)
    print(f"{kills} random kills after day {killed_at}; failpoints fired: {', '.join(fired)}")
    assert kills >= 24 and len(fired) == len(FAILPOINTS)
    if run_status(run) != "completed":
        assert finish(gateway(env), 120) == 0  # the last start runs the rest, unkilled
    check_files_whole(run)
    assert_same_final_state(run, reference)


def reach_day(run: Path, proc: subprocess.Popen, target: int, timeout: float = 60.0) -> bool:
    """Wait until the run's snapshot has completed ``target`` days (False if the Gateway ended first)."""
    deadline = time.monotonic() + timeout
    while days_done(run) < target:
        if proc.poll() is not None:
            return False
        assert time.monotonic() < deadline, f"day {target} not reached within {timeout} s"
        time.sleep(0.01)
    return True


def die_at_failpoint(env: dict[str, str], run: Path, point: str, rng: random.Random) -> str:
    """Run a Gateway with ``point`` armed; it must die there, leaving a half-done write."""
    before = temp_files(run)
    spec = failpoint_for(point, rng)
    code = finish(gateway_to_die({**env, "EVOTRADERS_FAILPOINT": spec}), 60)
    assert code == -signal.SIGKILL, f"{spec} never fired (exit {code})"
    assert check_torn(run, point, before), f"{spec}: the kill left no trace of a half-done write"
    return spec


def check_torn(run: Path, point: str, temps_before: set[Path]) -> bool:
    """Did the failpoint really stop a write half-way (a torn line, a half or unrenamed temp file)?"""
    if point.endswith(".mid_line"):
        name = {"event_log": "logs/events.jsonl", "trades": "state/trades.jsonl"}.get(point.split(".")[0])
        paths = [run / name] if name else list((run / "agents").glob("*/memory.jsonl"))
        for path in paths:
            stats = JsonlStats()
            for _ in iter_jsonl(path, stats):
                pass
            if stats.torn_tail:
                return True
        return False
    new = temp_files(run) - temps_before
    if point == "atomic.mid_write":  # half a file: a JSON one cannot parse (half a JSONL may end on a line)
        return bool(new) and all(not _whole(p) for p in new if ".jsonl." not in p.name)
    return bool(new) and all(_whole(p) for p in new)  # written in full, never renamed


def _whole(path: Path) -> bool:
    """The temp file of a JSON or JSONL target holds a whole one."""
    data = path.read_bytes()
    try:
        if ".jsonl." in path.name:
            return data.endswith(b"\n") and all(isinstance(json.loads(x), dict) for x in data.splitlines())
        json.loads(data)
    except ValueError:
        return False
    return True

