"""What "crash anywhere equals never crashed" checks: a run folder's files, whole and equal.

Shared by the by-hand and the supervised variants of tests/gateway/test_crash_anywhere.py.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
from pathlib import Path
from typing import Any

from backend.storage.jsonl import JsonlStats, iter_jsonl
from backend.storage.run_store import RunStore
from backend.storage.workspaces import WorkspaceStore
from tests.e2e.gateway_process import gateway_env, start_gateway

SEED_ENV = "EVOTRADERS_CRASH_SEED"
# The default workspace (six months, six tickers, seed 7) at a pace that leaves room for dozens of kills.
PACE = "0.03"
RUN = "crash"
DAYS = 122  # trading days of the default run
ARGS = ("--run-id", RUN, "--pace", PACE, "--exit-when-done")


def gateway(env: dict[str, str], *extra: str) -> subprocess.Popen:
    """A Gateway of the run that is listening (its run restored, its files opened)."""
    proc, _url = start_gateway(env, *ARGS, *extra)
    return proc


def finish(proc: subprocess.Popen, timeout: float) -> int:
    """Its exit code, once it has ended by itself (its pipes drained)."""
    try:
        proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise AssertionError(f"the Gateway did not end within {timeout} s") from None
    return proc.returncode


def create_run(root: Path) -> Path:
    """The run, created from the default workspace under ``root``; returns its folder."""
    RunStore(root / "runs", WorkspaceStore(root / "ws")).create_run("default", run_id=RUN)
    return root / "runs" / RUN


def reference_run(root: Path) -> Path:
    """The run under ``root``, never interrupted; returns its folder."""
    run = create_run(root)
    assert finish(gateway(gateway_env(root)), 120) == 0
    return run


def kill_days(rng: random.Random, count: int) -> list[int]:
    """``count`` distinct days of the run, in order: a kill follows each (spread over the whole run)."""
    return sorted(rng.sample(range(1, DAYS - 1), count))


def days_done(run: Path) -> int:
    """Days the run has completed, as its last state snapshot says."""
    try:
        return int(json.loads((run / "state/runtime_state.json").read_bytes()).get("days_completed") or 0)
    except FileNotFoundError:
        return 0


def run_status(run: Path) -> str | None:
    try:
        return json.loads((run / "state/runtime_state.json").read_bytes()).get("status")
    except FileNotFoundError:
        return None


def crash_seed() -> int:
    """The seed of the kill timings: from EVOTRADERS_CRASH_SEED (to reproduce a failure) or fresh."""
    text = os.environ.get(SEED_ENV)
    seed = int(text) if text else random.SystemRandom().randrange(1 << 32)
    print(f"crash test seed: {seed} (rerun with {SEED_ENV}={seed})")
    return seed


def check_files_whole(run: Path) -> dict[str, JsonlStats]:
    """Every JSON file under ``run`` parses; every JSONL has no corrupt line (a torn tail allowed).

    Returns the JSONL files' reading stats, by path relative to ``run``.
    """
    for path in run.rglob("*.json"):
        try:
            json.loads(path.read_bytes())
        except ValueError as exc:
            raise AssertionError(f"{path.relative_to(run)} does not parse after a kill: {exc}") from None
    stats = {}
    for path in run.rglob("*.jsonl"):
        stats[str(path.relative_to(run))] = seen = JsonlStats()
        for _ in iter_jsonl(path, seen):
            pass
        assert seen.bad_lines == 0, f"{path.relative_to(run)}: corrupt line(s) {seen.bad_numbers} after a kill"
    return stats


def temp_files(run: Path) -> set[Path]:
    """Temporary files of atomic writes (left behind by a writer killed before its rename)."""
    return {p for p in run.rglob(".*.tmp")}


def final_state(run: Path) -> dict[str, Any]:
    """What must not depend on how often the run was killed: portfolio, trades, leaderboard, memories."""
    server = json.loads((run / "state/server_state.json").read_text())
    memories = {p.parent.name: p.read_bytes() for p in sorted((run / "agents").glob("*/memory.jsonl"))}
    return {
        "status": server["status"],
        "resume": server["resume"],  # the checkpoint: portfolio, baselines, leaderboard, curves, agents' state
        "portfolio": server["portfolio"], "holdings": server["holdings"], "stats": server["stats"],
        "leaderboard": server["leaderboard"], "metrics": server["metrics"],
        "trades.jsonl": (run / "state/trades.jsonl").read_bytes(),
        "dashboard leaderboard": json.loads((run / "team_dashboard/leaderboard.json").read_text()),
        "memories": memories,
    }


def assert_same_final_state(crashed: Path, reference: Path) -> None:
    got, want = final_state(crashed), final_state(reference)
    assert want["status"] == "completed" and want["trades.jsonl"] and len(want["memories"]) == 6
    for key in want:
        assert got[key] == want[key], f"{key} differs from the uninterrupted run"
