"""A headless backtest killed at random moments, then resumed, ends as if never stopped.

A headless backtest buffers its trade journal and the agents' memories
(issue 13) and flushes them before every snapshot: a snapshot's resume point
must never name a day whose trades or memories are not in their files, and
whatever was written after it is forgotten on resume. The child snapshots
after every day (tests/core/headless_child.py), and each of a chain of
children is SIGKILLed a random moment (0-20 ms) after a random number of its
days (1-10), mid-day, mid-write or mid-snapshot, however fast the machine;
the last one runs to the end. The run's trades, memories,
checkpoint and metrics must equal those of a run that was never stopped.
The seed is printed (set HEADLESS_KILL_SEED to replay one).
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.core.test_resume_anywhere import RUN_ID, make_store, outcome

CHILD = Path(__file__).with_name("headless_child.py")
ROOT = Path(__file__).resolve().parents[2]
SEED = int(os.environ.get("HEADLESS_KILL_SEED") or random.SystemRandom().randrange(2**32))
OVERRIDES = {"end_date": "2025-04-30"}  # the default workspace from 2025-01-02: 81 trading days
KILLS = 6


def child(root: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, str(CHILD), str(root), RUN_ID], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)


def test_a_headless_backtest_killed_at_random_moments_resumes_to_the_same_run(tmp_path) -> None:
    rng = random.Random(SEED)
    print(f"HEADLESS_KILL_SEED={SEED}")
    _, reference = make_store(tmp_path / "reference")
    reference.create_run("default", run_id=RUN_ID, overrides=OVERRIDES)
    proc = child(tmp_path / "reference")
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0 and out.splitlines()[-1] == "completed", out
    expected = outcome(reference)

    _, chain = make_store(tmp_path / "chain")
    chain.create_run("default", run_id=RUN_ID, overrides=OVERRIDES)
    resumed_from = []
    for _ in range(KILLS):
        proc = child(tmp_path / "chain")
        resumed_from.append(proc.stdout.readline().strip())  # its engine is built: the run starts now
        for _ in range(rng.randint(1, 10)):
            if not proc.stdout.readline().startswith("day "):
                break  # it ended (the run is complete)
        time.sleep(rng.uniform(0.0, 0.02))  # the kill's moment within the next day
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        proc.stdout.close()
    proc = child(tmp_path / "chain")
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0 and out.splitlines()[-1] == "completed", out
    print("the children resumed after:", resumed_from)
    # The kills landed mid-run: every child after the first resumed after a completed day.
    assert all(line.startswith("resumed after 2025-") for line in resumed_from[1:]), resumed_from
    got = outcome(chain)
    assert [key for key in expected if got[key] != expected[key]] == [], f"HEADLESS_KILL_SEED={SEED}"
