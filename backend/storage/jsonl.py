"""Append-only JSONL files that a crash cannot corrupt, and readers that survive old damage.

Writing: only whole lines ever reach the OS, each batch in one ``os.write``
on an ``O_APPEND`` descriptor. A SIGKILL can still cut a large write short,
so opening a file for appending first cuts a torn tail (the bytes after the
last newline): every reader skipped them anyway, since they were never a
whole line, and appending after them would merge two records into one bad
line.

Reading: a line that is not a JSON object (a corrupt line left in the middle
by an older writer) is skipped and counted, never the end of the reading; an
unterminated last line is skipped (a writer may be appending it right now).
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator

from backend.storage import failpoints

log = logging.getLogger(__name__)

_BACK_CHUNK = 1 << 16


def cut_torn_tail(fd: int) -> int:
    """Truncate the file open on ``fd`` after its last newline; returns how many bytes were cut."""
    size = os.fstat(fd).st_size
    end = size
    while end > 0:
        start = max(0, end - _BACK_CHUNK)
        chunk = os.pread(fd, end - start, start)
        newline = chunk.rfind(b"\n")
        if newline >= 0:
            end = start + newline + 1
            break
        end = start
    if end < size:
        os.ftruncate(fd, end)
        os.fsync(fd)
    return size - end


def cut_torn_tail_of(path: Path) -> int:
    """``cut_torn_tail`` of the file at ``path`` (0 if it is missing), logged when it cut something."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
    except FileNotFoundError:
        return 0
    try:
        cut = cut_torn_tail(fd)
    finally:
        os.close(fd)
    if cut:
        log.warning("%s: cut a torn last line of %d bytes", path, cut)
    return cut


def _open_append(path: Path) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        cut = cut_torn_tail(fd)
    except BaseException:
        os.close(fd)
        raise
    if cut:
        log.warning("%s: cut a torn last line of %d bytes before appending", path, cut)
    return fd


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _encode(line: str) -> bytes:
    if "\n" in line or "\r" in line:
        raise ValueError("a JSONL record must be one line (it contains a line break)")
    return line.encode("utf-8") + b"\n"


def _write_lines(fd: int, lines: list[bytes], failpoint: str | None) -> None:
    """One write for the whole batch (the failpoint, when armed, dies half-way through a line)."""
    if failpoint is not None and failpoints.ACTIVE:
        at = failpoints.advance(failpoint, len(lines))
        if at is not None:
            _write_all(fd, b"".join(lines[:at]) + lines[at][: max(1, len(lines[at]) // 2)])
            failpoints.crash()
    _write_all(fd, b"".join(lines))


class JsonlWriter:
    """An append-only JSONL file, buffered by whole lines.

    Args:
        path: the file (created with its folder if missing; a torn tail is cut).
        buffer_bytes: hand lines to the OS once this many are pending (0: at once).
        failpoint: this writer's failpoint name (see ``failpoints``).
    """

    def __init__(self, path: Path, *, buffer_bytes: int = 0, failpoint: str | None = None) -> None:
        self.path = Path(path)
        self.buffer_bytes = buffer_bytes
        self.failpoint = failpoint
        self._fd: int | None = _open_append(self.path)
        self._pending: list[bytes] = []
        self._pending_bytes = 0

    def write(self, line: str) -> None:
        """Append one record (a JSON text without line breaks)."""
        if self._fd is None:
            return
        data = _encode(line)
        self._pending.append(data)
        self._pending_bytes += len(data)
        if self._pending_bytes >= self.buffer_bytes:
            self.flush()

    def flush(self, fsync: bool = False) -> None:
        if self._fd is None:
            return
        if self._pending:
            lines, self._pending, self._pending_bytes = self._pending, [], 0
            _write_lines(self._fd, lines, self.failpoint)
        if fsync:
            os.fsync(self._fd)

    def close(self) -> None:
        if self._fd is not None:
            self.flush(fsync=True)
            os.close(self._fd)
            self._fd = None


def append_lines(path: Path, lines: Iterable[str], *, fsync: bool = False, failpoint: str | None = None) -> None:
    """Append whole records to ``path`` in one write (cutting a torn tail first)."""
    encoded = [_encode(line) for line in lines]
    fd = _open_append(Path(path))
    try:
        if encoded:
            _write_lines(fd, encoded, failpoint)
        if fsync:
            os.fsync(fd)
    finally:
        os.close(fd)


@dataclass
class JsonlStats:
    """What a reading skipped: corrupt whole lines, and an unterminated last line."""

    bad_lines: int = 0
    torn_tail: bool = False
    bad_numbers: list[int] = field(default_factory=list)  # 1-based line numbers of the first few


def parse_line(line: bytes) -> dict[str, Any] | None:
    """The JSON object on one line, or None if it is not one."""
    try:
        value = json.loads(line)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None
    return value if isinstance(value, dict) else None


def iter_jsonl(path: Path, stats: JsonlStats | None = None) -> Iterator[dict[str, Any]]:
    """Every JSON object on a whole line of ``path`` (none if it is missing); skips are counted in ``stats``."""
    stats = stats if stats is not None else JsonlStats()
    try:
        fh = open(path, "rb")
    except FileNotFoundError:
        return
    with fh:
        for number, line in enumerate(fh, 1):
            if not line.endswith(b"\n"):
                stats.torn_tail = True
                break
            if not line.strip():
                continue
            value = parse_line(line)
            if value is None:
                stats.bad_lines += 1
                if len(stats.bad_numbers) < 10:
                    stats.bad_numbers.append(number)
                continue
            yield value


def read_jsonl(path: Path, what: str = "") -> tuple[list[dict[str, Any]], JsonlStats]:
    """Every record of ``path`` and what was skipped (a skipped corrupt line is logged)."""
    stats = JsonlStats()
    records = list(iter_jsonl(path, stats))
    if stats.bad_lines:
        log.warning("%s%s: skipped %d corrupt line(s) (line %s)", what and what + " ", path, stats.bad_lines,
                    ", ".join(map(str, stats.bad_numbers)))
    return records, stats
