"""RunIndex: the history listing equals what each run's files say, with 1,000 runs and with writers killed mid-update."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from backend.storage import run_index
from backend.storage.run_index import INDEX_FILE, RunIndex, build_row
from tests.storage.history_runs import write_run, write_state

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]


def truth(runs_dir: Path) -> list[dict]:
    """Every run's row read from its files now, newest id first: what the listing must say."""
    ids = sorted((p.name for p in runs_dir.iterdir() if p.is_dir() and not p.name.startswith(".")), reverse=True)
    return [row for row in (build_row(runs_dir / i) for i in ids) if row is not None]


def test_a_thousand_runs_are_listed_as_their_files_say_and_unchanged_ones_are_not_reread(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    rng = random.Random(7)
    for i in range(1000):
        write_run(runs, f"run-{i:04d}", rng, seq=i, state=i % 10 != 0)  # every tenth not started yet
    index = RunIndex(runs, racy_s=0.0)
    rows = index.rows()
    assert rows == truth(runs) and len(rows) == 1000
    assert [r["run_id"] for r in rows] == [f"run-{i:04d}" for i in reversed(range(1000))]
    assert rows[-1]["status"] == "created" and rows[-1]["metrics"] is None  # run-0000 has no state yet
    started = rows[-2]
    assert isinstance(started["metrics"]["sharpe"], float)

    builds = index.builds
    assert index.rows() == rows and index.builds == builds  # nothing changed: no file was read

    # Another process finishes a run and starts another: only those two are read again.
    write_state(runs / "run-0001", rng, 5000)
    write_state(runs / "run-0000", rng, 5001)
    after = index.rows()
    assert index.builds == builds + 2
    assert after == truth(runs)
    assert next(r for r in after if r["run_id"] == "run-0000")["metrics"] is not None

    # A fresh index (a restarted runtime_service) lists from the index file without rebuilding anything.
    fresh = RunIndex(runs, racy_s=0.0)
    assert fresh.rows() == after and fresh.builds == 0
    # A run removed, a folder that is no run, a staging folder: left out.
    (runs / "run-0005" / "BOOTSTRAP.md").unlink()
    (runs / "not-a-run").mkdir()
    (runs / ".run-0999.tmp").mkdir()
    assert fresh.rows() == truth(runs) and len(fresh.rows()) == 999


def test_a_bootstrap_that_does_not_parse_is_a_row_saying_so_not_a_failed_listing(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    write_run(runs, "good", random.Random(1))
    (runs / "bad").mkdir()
    (runs / "bad" / "BOOTSTRAP.md").write_text("---\nmode: warp\n---\n")
    rows = {r["run_id"]: r for r in RunIndex(runs).rows()}
    assert rows["good"]["status"] != "unreadable"
    assert rows["bad"]["status"] == "unreadable" and "mode" in rows["bad"]["status_detail"]


def test_rows_written_within_the_racy_window_are_read_again(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    write_run(runs, "r1", random.Random(2))
    index = RunIndex(runs)  # the default window: these files were written just now
    index.rows()
    assert not index.trusted("r1")
    builds = index.builds
    index.rows()
    assert index.builds == builds + 1  # rebuilt: a just-written file's stamp is not trusted yet
    assert not (runs / INDEX_FILE).exists()  # nor kept on disk


def _start(cmd: list[str], env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env, start_new_session=True)


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 10_000), listings=st.integers(1, 40),
       failpoint=st.sampled_from([None, "atomic.mid_write", "atomic.before_rename"]), hit=st.integers(3, 60))
def test_a_writer_killed_mid_update_never_leaves_the_listing_wrong_or_unreadable(
        tmp_path_factory: pytest.TempPathFactory, seed: int, listings: int, failpoint: str | None, hit: int) -> None:
    runs = tmp_path_factory.mktemp("runs")
    rng = random.Random(seed)
    ids = [f"r{i}" for i in range(8)]
    for run_id in ids:
        write_run(runs, run_id, rng)
    index = RunIndex(runs)
    assert index.rows() == truth(runs)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    if failpoint:
        env["EVOTRADERS_FAILPOINT"] = f"{failpoint}:{hit}"
    writer = _start([sys.executable, str(HERE / "run_writer_child.py"), str(runs), str(seed), *ids], env)
    try:
        assert writer.stdout is not None and writer.stdout.readline().strip() == "started"
        for _ in range(listings):  # listings while the other process rewrites the runs' files
            rows = index.rows()
            assert [r["run_id"] for r in rows] == sorted(ids, reverse=True)
            for row in rows:  # every row whole: a status, and figures that are a complete metrics object or none
                assert isinstance(row["status"], str)
                assert row["metrics"] is None or {"sharpe", "trades", "total_return_pct"} <= set(row["metrics"])
            if writer.poll() is not None:
                break
        if writer.poll() is None:
            os.killpg(writer.pid, signal.SIGKILL)  # killed wherever it was
        writer.wait(timeout=10)
    finally:
        if writer.poll() is None:
            os.killpg(writer.pid, signal.SIGKILL)
            writer.wait(timeout=10)
    if failpoint:
        assert writer.returncode == -signal.SIGKILL
    assert index.rows() == truth(runs)
    # Left over from a killed write: at most a temporary file, which no reader takes for a state file.
    for run_id in ids:
        json.loads((runs / run_id / "state" / "runtime_state.json").read_text())


@pytest.mark.parametrize("failpoint", ["atomic.mid_write", "atomic.before_rename"])
def test_the_index_file_survives_its_own_writer_killed_mid_rewrite(tmp_path: Path, failpoint: str) -> None:
    runs = tmp_path / "runs"
    rng = random.Random(3)
    for i in range(30):
        write_run(runs, f"r{i:02d}", rng)
    RunIndex(runs, racy_s=0.0).rows()  # a first, whole index file
    before = (runs / INDEX_FILE).read_bytes()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "EVOTRADERS_FAILPOINT": f"{failpoint}:3"}
    child = _start([sys.executable, str(HERE / "index_writer_child.py"), str(runs)], env)
    out, err = child.communicate(timeout=60)
    assert child.returncode == -signal.SIGKILL, (out, err)
    assert (runs / INDEX_FILE).read_bytes() == before or json.loads((runs / INDEX_FILE).read_bytes())
    fresh = RunIndex(runs, racy_s=0.0)
    assert fresh.rows() == truth(runs)


def test_an_index_file_of_garbage_is_ignored_and_rewritten(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    for i in range(5):
        write_run(runs, f"r{i}", random.Random(i))
    for garbage in (b"{not json", b"[]", b'{"version": 99, "runs": {}}',
                    b'{"version": 1, "runs": {"r1": {"stamps": 3, "row": {}}, "r2": {"row": {"run_id": "r9"}}}}'):
        (runs / INDEX_FILE).write_bytes(garbage)
        index = RunIndex(runs, racy_s=0.0)
        assert index.rows() == truth(runs)
        assert json.loads((runs / INDEX_FILE).read_bytes())["version"] == run_index.INDEX_VERSION
