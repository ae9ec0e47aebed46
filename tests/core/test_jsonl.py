"""JSONL files: whole lines only, a torn tail cut before appending, corrupt lines skipped and counted.

The damaged files are built the way the old two-call writer left them: a
record cut short, then the next record appended right after it (one corrupt
line in the middle), and a torn last line.
"""

from __future__ import annotations

import itertools
import json
import os
import random
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from backend.agents.memory import AgentMemory
from backend.storage import failpoints
from backend.storage.event_log import EventLog, events_page, read_events
from backend.storage.jsonl import JsonlStats, JsonlTail, append_lines, cut_torn_tail, iter_jsonl, parse_line

ROOT = Path(__file__).resolve().parents[2]
_names = itertools.count()

records = st.lists(st.dictionaries(st.text(st.characters(codec="utf-8"), max_size=6),
                                   st.one_of(st.integers(), st.text(max_size=12), st.booleans(), st.none()),
                                   min_size=1, max_size=4), min_size=1, max_size=25)


def line_of(record: dict) -> bytes:
    return json.dumps(record).encode() + b"\n"


@st.composite
def damaged_files(draw):
    """(file bytes, the whole records in order, how many corrupt lines, torn tail bytes)."""
    rows = draw(records)
    corrupt_at = draw(st.sets(st.integers(0, len(rows) - 1), max_size=4))
    data, good, corrupt = b"", [], 0
    for i, row in enumerate(rows):
        if i in corrupt_at:
            cut = line_of(row)
            torn = cut[: draw(st.integers(1, len(cut) - 2))]
            data += torn  # the old writer died here; the restarted one appended after it
            corrupt += 1
            nxt = {"after": i}
            data += line_of(nxt)
        else:
            data += line_of(row)
            good.append(row)
    tail = b""
    if draw(st.booleans()):
        last = line_of({"tail": draw(st.text(max_size=20))})
        tail = last[: draw(st.integers(1, len(last) - 1))]
    return data + tail, good, corrupt, tail


def expected_whole(data: bytes) -> list[dict]:
    return [parse_line(line) for line in data.splitlines(keepends=True) if line.endswith(b"\n")]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(damaged_files(), records)
def test_every_reader_skips_and_counts_bad_lines_and_a_writer_appends_only_whole_ones(tmp_path, damaged, more):
    data, good, corrupt, tail = damaged
    path = tmp_path / f"f{next(_names)}.jsonl"
    path.write_bytes(data)
    whole = [r for r in expected_whole(data) if r is not None]
    assert whole == good  # a record appended after a cut one is lost with it: the defect this guards against

    stats = JsonlStats()
    assert list(read_events(path, stats)) == whole
    assert (stats.bad_lines, stats.torn_tail) == (corrupt, bool(tail))
    reader = JsonlTail(path)
    assert reader.poll() == (False, whole) and reader.bad_lines == corrupt
    assert AgentMemory(path).entries() == whole
    page = events_page(path, 0, 10_000)
    assert [json.loads(line) for line in page.lines] == whole and page.skipped == corrupt
    assert page.next_offset == data.count(b"\n")  # the torn tail is not a line yet

    log = EventLog(path)  # opening for append cuts the torn tail
    assert path.read_bytes() == data[: len(data) - len(tail)]
    for row in more:
        log.write(json.dumps(row))
    log.close()
    stats = JsonlStats()
    assert list(iter_jsonl(path, stats)) == whole + more
    assert (stats.bad_lines, stats.torn_tail) == (corrupt, False)
    _, new = reader.poll()
    assert new == more and reader.bad_lines == corrupt  # the incremental reader picks up exactly the new lines


# Record lengths in bytes: any, and ones at the edges of common buffer and chunk sizes.
_lengths = st.one_of(st.integers(8, 40_000), st.sampled_from([8, 100, 4095, 4096, 8190, 8191, 8192, 16383, 16384]))


def _record(length: int) -> str:
    return '{"p":"' + "x" * (length - 8) + '"}'  # exactly ``length`` bytes


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(_lengths, min_size=1, max_size=40), st.sets(st.integers(0, 39), max_size=6))
def test_only_whole_lines_ever_reach_the_file(tmp_path, lengths, flushes):
    """Whatever the record sizes (some larger than the buffer) and flushes, the file always ends on a newline.

    The old writer (event and newline in two calls through a buffered text
    file) fails this: its buffer could reach the OS between the two.
    """
    path = tmp_path / f"w{next(_names)}.jsonl"
    log = EventLog(path)
    written = 0
    for i, length in enumerate(lengths):
        log.write(_record(length))
        if i in flushes:
            log.flush()
        data = path.read_bytes()
        assert data == b"" or data.endswith(b"\n")  # never a partial line on disk, even for a moment
        assert data.count(b"\n") >= written  # and nothing already on disk is taken back
        written = data.count(b"\n")
    log.close()
    assert path.read_bytes() == b"".join(_record(n).encode() + b"\n" for n in lengths)


def test_a_torn_tail_longer_than_a_read_chunk_is_cut_to_the_last_newline(tmp_path):
    path = tmp_path / "big.jsonl"
    path.write_bytes(b'{"a": 1}\n' + b"x" * 200_000)
    append_lines(path, ['{"b": 2}'])
    assert path.read_bytes() == b'{"a": 1}\n{"b": 2}\n'
    only_torn = tmp_path / "torn.jsonl"
    only_torn.write_bytes(b'{"a": ')
    fd = os.open(only_torn, os.O_RDWR)
    try:
        assert cut_torn_tail(fd) == 6
    finally:
        os.close(fd)
    assert only_torn.read_bytes() == b""


def test_a_record_with_a_line_break_is_refused_not_split(tmp_path):
    log = EventLog(tmp_path / "e.jsonl")
    with pytest.raises(ValueError, match="one line"):
        log.write('{"a":\n1}')
    log.close()
    assert (tmp_path / "e.jsonl").read_bytes() == b""


@pytest.mark.parametrize("text, message", [
    ("nope:3", "unknown failpoint 'nope'"), ("event_log.mid_line", "needs a hit number"),
    ("atomic.mid_write:0", "needs a hit number"), ("trades.mid_line:x", "needs a hit number")])
def test_a_bad_failpoint_setting_names_what_is_wrong(text, message):
    with pytest.raises(ValueError, match=message) as info:
        failpoints.parse(text)
    assert failpoints.ENV in str(info.value)


def test_failpoints_are_off_unless_the_variable_is_set():
    assert "EVOTRADERS_FAILPOINT" not in os.environ and failpoints.ACTIVE is False
    assert failpoints.parse(" event_log.mid_line:7 , atomic.before_rename:2") == {
        "event_log.mid_line": 7, "atomic.before_rename": 2}


# -- failpoints in a real child: SIGKILLed in the middle of a write -----------------------------

WRITER = """
import json, sys
from pathlib import Path
from backend.storage.atomic import atomic_write_json
from backend.storage.event_log import EventLog
from backend.storage.jsonl import append_lines
kind, folder = sys.argv[1], Path(sys.argv[2])
if kind == "events":
    log = EventLog(folder / "events.jsonl")
    for i in range(1, 3000):
        log.write(json.dumps({"n": i, "pad": "p" * (i % 97)}))
        if i % 50 == 0:
            log.flush()
    log.close()
elif kind == "trades":
    for i in range(1, 100):
        append_lines(folder / "trades.jsonl", [json.dumps({"n": i})], failpoint="trades.mid_line")
else:
    for i in range(1, 100):
        atomic_write_json(folder / "state.json", {"n": i, "blob": [i] * 500})
"""


def run_writer(kind: str, folder: Path, failpoint: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "EVOTRADERS_FAILPOINT": failpoint}
    return subprocess.run([sys.executable, "-c", WRITER, kind, str(folder)], env=env, cwd=ROOT,
                          capture_output=True, timeout=60)


@pytest.mark.parametrize("seed", [11, 12, 13])
def test_the_event_log_failpoint_kills_mid_line_and_the_next_writer_cuts_the_torn_tail(tmp_path, seed):
    n = random.Random(seed).randint(2, 2500)
    print(f"failpoint event_log.mid_line:{n}")
    proc = run_writer("events", tmp_path, f"event_log.mid_line:{n}")
    assert proc.returncode == -signal.SIGKILL, proc.stderr.decode()[-2000:]
    path = tmp_path / "events.jsonl"
    data = path.read_bytes()
    whole, tail = data[: data.rfind(b"\n") + 1], data[data.rfind(b"\n") + 1:]
    assert [json.loads(line)["n"] for line in whole.splitlines()] == list(range(1, n))
    assert tail and tail == line_of({"n": n, "pad": "p" * (n % 97)})[: len(tail)]  # half of line n
    EventLog(path).close()
    assert path.read_bytes() == whole


def test_the_trades_failpoint_kills_mid_line(tmp_path):
    proc = run_writer("trades", tmp_path, "trades.mid_line:5")
    assert proc.returncode == -signal.SIGKILL
    stats = JsonlStats()
    assert [r["n"] for r in iter_jsonl(tmp_path / "trades.jsonl", stats)] == [1, 2, 3, 4]
    assert stats.torn_tail and stats.bad_lines == 0


@pytest.mark.parametrize("point", ["atomic.mid_write", "atomic.before_rename"])
def test_the_atomic_failpoints_kill_mid_snapshot_and_leave_the_previous_file(tmp_path, point):
    proc = run_writer("atomic", tmp_path, f"{point}:4")
    assert proc.returncode == -signal.SIGKILL
    assert json.loads((tmp_path / "state.json").read_text())["n"] == 3
    (temp,) = [p for p in tmp_path.iterdir() if p.name.startswith(".state.json.")]
    if point == "atomic.mid_write":  # half written: a prefix of the new content, not JSON
        assert temp.stat().st_size > 0 and parse_line(temp.read_bytes()) is None
    else:  # written in full, never renamed
        assert json.loads(temp.read_text())["n"] == 4


def test_the_approval_store_replays_past_a_corrupt_line_and_cuts_a_torn_tail(tmp_path):
    from backend.approvals.store import ApprovalStore
    from backend.errors import NotFoundError
    from backend.schema.api_approvals import ApprovalCreate
    from backend.storage.run_store import RunStore
    from backend.storage.workspaces import WorkspaceStore

    runs = RunStore(tmp_path / "runs", WorkspaceStore(tmp_path / "ws"))
    runs.create_run("default", run_id="r1", overrides={"approval": {"mode": "all", "timeout_seconds": 60}})
    first = ApprovalStore(runs)
    first.load()
    filed = [first.file(ApprovalCreate(run_id="r1", date="2025-02-03", ticker=t, action="long", quantity=10,
                                       price=100.0))[0] for t in ("AAPL", "MSFT", "NVDA")]
    path = runs.paths("r1").state_dir / "approvals.jsonl"
    lines = path.read_bytes().splitlines(keepends=True)
    assert len(lines) == 3
    # What the old two-call writer left: a line cut short with the MSFT line appended to it, then a torn tail.
    damaged = lines[0] + lines[1][:40] + lines[1] + lines[2] + lines[2][:25]
    path.write_bytes(damaged)
    again = ApprovalStore(runs)
    assert again.load() == 2  # the corrupt line costs MSFT's filing; NVDA's, after it, is not lost
    assert again.get(filed[0].id) == filed[0] and again.get(filed[2].id) == filed[2]
    with pytest.raises(NotFoundError):
        again.get(filed[1].id)
    assert path.read_bytes() == damaged[: -25]  # the torn tail is cut, nothing else
