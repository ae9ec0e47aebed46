"""Crash anywhere equals never crashed: a real Gateway SIGKILLed dozens of times over one run.

The run is the embedded default (six months, six tickers, synthetic market
seed 7, ``rules`` agents) at a small pace. Kills land at random moments (the
seed is printed; EVOTRADERS_CRASH_SEED replays it) and, through failpoints,
in the middle of an events.jsonl line, a trades.jsonl line, a memory.jsonl
line and a state snapshot (half-written temp file; written but not renamed).
After every kill every JSON file parses and every JSONL has no corrupt line;
at the end the run equals an uninterrupted one.
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
    ARGS, RUN, assert_same_final_state, check_files_whole, crash_seed, finish, gateway, reference_run, temp_files,
)

pytestmark = pytest.mark.slow

KILLS = 30  # random-moment kills, on top of the failpoint kills
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
    env = gateway_env(tmp_path / "crashed")
    run = tmp_path / "crashed/runs" / RUN
    kills, fired, extra = 0, [], ("--create",)
    plan = [FAILPOINTS[i // 2 % len(FAILPOINTS)] if i % 2 else None for i in range(2 * len(FAILPOINTS))]
    for attempt in range(KILLS + len(plan) + 5):
        point = plan[attempt] if attempt < len(plan) else None
        if point is None and kills >= KILLS:
            break
        before = temp_files(run)
        spec = failpoint_for(point, rng) if point else None
        proc = gateway_to_die({**env, "EVOTRADERS_FAILPOINT": spec}, *extra) if spec else gateway(env, *extra)
        extra = ()
        if spec:
            code = finish(proc, 60)
            assert code == -signal.SIGKILL, f"{spec} never fired (exit {code})"
            fired.append(spec)
            torn = check_torn(run, point, before)
            assert torn, f"{spec}: the kill left no trace of a half-done write"
        else:
            time.sleep(rng.uniform(0.05, 0.45))  # the random moment of the kill is what is tested
            if proc.poll() is not None:
                assert proc.returncode == 0
                break  # the run completed before this kill
            proc.send_signal(signal.SIGKILL)
            assert finish(proc, 30) == -signal.SIGKILL
            kills += 1
        check_files_whole(run)
    else:
        pytest.fail("the kill loop did not end")
    print(f"{kills} random kills, failpoints fired: {', '.join(fired)}")
    assert kills >= 24 and len(fired) == len(plan) // 2
    state = json.loads((run / "state/runtime_state.json").read_text())
    if state["status"] != "completed":
        assert finish(gateway(env), 120) == 0  # the last start runs the rest, unkilled
    check_files_whole(run)
    assert_same_final_state(run, reference)


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

