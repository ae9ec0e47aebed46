"""The one JSONL reader, ``JsonlTail``, following a file that grows in whole lines, halves, garbage and torn tails.

The oracle is the file itself: whatever was appended in whatever pieces, a
follower that polled along the way has, at the end, seen exactly the objects
on the file's whole lines, in order, and counted exactly its non-blank whole
lines that are not JSON objects; it never took a partial line (had it, the
torn tail cut or merged later would show up as a restart or an extra record).
"""

from __future__ import annotations

import itertools
import json
import os
import random
import threading
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from backend.storage import jsonl
from backend.storage.jsonl import JsonlTail, append_lines, cut_torn_tail_of, parse_line

_names = itertools.count()

values = st.one_of(st.integers(), st.text(max_size=10), st.booleans(), st.none(),
                   st.lists(st.integers(), max_size=3))
record_lines = st.dictionaries(st.text(max_size=6), values, max_size=4).map(
    lambda r: json.dumps(r, ensure_ascii=False).encode())
garbage_lines = st.one_of(
    st.sampled_from([b"not json", b"[1, 2]", b'"a string"', b"42", b"null", b"{", b'{"a": 1', b"\xff\xfe{}",
                     b"   ", b""]),
    st.binary(max_size=30).map(lambda b: b.replace(b"\n", b"")))

# What a writer does next: append a whole line, a garbage line, a line in two writes with a
# poll between them, a torn tail (a writer killed mid-line: the next append merges with it,
# unless a writer reopening the file cuts it first), or nothing while the follower polls.
ops = st.one_of(
    st.tuples(st.just("line"), record_lines),
    st.tuples(st.just("garbage"), garbage_lines),
    st.tuples(st.just("halves"), record_lines, st.floats(0, 1)),
    st.tuples(st.just("torn"), record_lines, st.floats(0, 1)),
    st.tuples(st.just("reopen")),
    st.tuples(st.just("poll")),
)


def whole_lines(data: bytes) -> list[bytes]:
    return data.split(b"\n")[:-1]


def expected(data: bytes) -> tuple[list[dict], int]:
    """The objects on the whole lines of ``data`` and how many non-blank whole lines are not objects."""
    lines = [line for line in whole_lines(data) if line.strip()]
    good = [parse_line(line) for line in lines]
    return [g for g in good if g is not None], sum(g is None for g in good)


class Follower:
    def __init__(self, path: Path) -> None:
        self.tail = JsonlTail(path)
        self.seen: list[dict] = []
        self.restarts = 0

    def poll(self) -> None:
        restarted, records = self.tail.poll()
        self.restarts += restarted
        self.seen += records
        data = self.tail.path.read_bytes() if self.tail.path.exists() else b""
        # Whatever it consumed ends on a newline: it never took a part of a line.
        assert self.tail.offset == 0 or data[self.tail.offset - 1:self.tail.offset] == b"\n"


def append(path: Path, data: bytes) -> None:
    with open(path, "ab") as fh:
        fh.write(data)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(ops, max_size=40), st.integers(1, 64))
def test_a_follower_sees_exactly_the_whole_good_lines_in_order_and_counts_the_bad(tmp_path, monkeypatch, steps,
                                                                                chunk):
    monkeypatch.setattr(jsonl, "READ_CHUNK", chunk)  # lines and pending bytes cross many read chunks
    path = tmp_path / f"f{next(_names)}.jsonl"
    follower = Follower(path)
    follower.poll()  # the file does not exist yet
    for step in steps:
        kind = step[0]
        if kind in ("line", "garbage"):
            append(path, step[1] + b"\n")
        elif kind == "halves":
            line = step[1] + b"\n"
            cut = int(step[2] * (len(line) - 1))
            append(path, line[:cut])
            follower.poll()
            append(path, line[cut:])
        elif kind == "torn":
            line = step[1] + b"\n"
            append(path, line[: max(1, int(step[2] * (len(line) - 1)))])
        elif kind == "reopen":
            cut_torn_tail_of(path)  # what every writer does first when it opens the file
        follower.poll()
    follower.poll()
    data = path.read_bytes() if path.exists() else b""
    records, bad = expected(data)
    assert follower.seen == records
    assert follower.tail.bad_lines == bad
    assert follower.restarts == 0  # no torn tail it had taken was ever cut under it
    assert follower.tail.offset == (data.rfind(b"\n") + 1)
    assert follower.tail.stats.torn_tail == (not data.endswith(b"\n") and data != b"")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.one_of(record_lines, garbage_lines), min_size=1, max_size=30), st.data())
def test_reading_from_any_line_start_gives_the_rest_and_a_limit_stops_on_a_line(tmp_path, lines, data):
    path = tmp_path / f"o{next(_names)}.jsonl"
    content = b"".join(line + b"\n" for line in lines)
    path.write_bytes(content)
    start = data.draw(st.integers(0, len(lines)))
    offset = sum(len(line) + 1 for line in lines[:start])
    tail = JsonlTail(path, offset=offset)
    limit = data.draw(st.integers(1, len(lines) + 1))
    first = list(tail.records(limit))
    rest = list(tail.records())
    window, bad = expected(b"".join(line + b"\n" for line in lines[start:start + limit]))
    assert first == window
    assert first + rest == expected(content[offset:])[0]
    assert tail.offset == len(content) and tail.lines_read == len(lines) - start
    assert tail.bad_lines == expected(content[offset:])[1] >= bad


def test_a_writer_thread_appending_in_random_pieces_never_shows_a_partial_line(tmp_path):
    """A real race: one thread writes lines cut at random byte positions, another follows it."""
    path = tmp_path / "race.jsonl"
    rng = random.Random(7)
    lines = []
    for i in range(3000):
        if i % 97 == 13:
            lines.append(b"garbage " + str(i).encode())
        else:
            lines.append(json.dumps({"n": i, "pad": "é" * rng.randint(0, 300)}, ensure_ascii=False).encode())
    blob = b"".join(line + b"\n" for line in lines)
    cuts = sorted(rng.sample(range(1, len(blob)), 4000))
    done, polled = threading.Event(), threading.Event()
    polls = 0

    def writer() -> None:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
        try:
            for n, (start, end) in enumerate(zip([0] + cuts, cuts + [len(blob)])):
                os.write(fd, blob[start:end])
                if n % 10 == 0:  # let the follower read at least once per ten pieces (else it may never see one)
                    polled.wait(30)
                    polled.clear()
        finally:
            os.close(fd)
            done.set()

    follower = JsonlTail(path)
    seen: list[dict] = []
    thread = threading.Thread(target=writer)
    thread.start()
    while not done.is_set():
        restarted, records = follower.poll()
        polls += 1
        polled.set()
        assert not restarted
        seen += records
    thread.join()
    assert polls >= 400
    seen += follower.poll()[1]
    records, bad = expected(blob)
    assert [r["n"] for r in seen] == [r["n"] for r in records] and len(seen) == 3000 - bad
    assert follower.bad_lines == bad == 31


def test_a_replaced_or_shrunk_file_starts_the_follower_over(tmp_path):
    path = tmp_path / "r.jsonl"
    append_lines(path, ['{"a": 1}', "oops", '{"a": 2}'])
    tail = JsonlTail(path)
    assert tail.poll() == (False, [{"a": 1}, {"a": 2}]) and tail.bad_lines == 1
    path.write_bytes(b'{"b": 1}\n')  # same inode, shorter than what was read
    assert tail.poll() == (True, [{"b": 1}]) and tail.bad_lines == 0
    path.unlink()
    assert tail.poll() == (True, [])
    append_lines(path, ['{"c": 1}'])
    assert tail.poll() == (False, [{"c": 1}])


def test_a_negative_offset_is_refused_naming_it(tmp_path):
    with pytest.raises(ValueError, match="offset"):
        JsonlTail(tmp_path / "x.jsonl", offset=-1)
