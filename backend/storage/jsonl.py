"""Append-only JSONL files that a crash cannot corrupt, and readers that survive old damage.

Writing: only whole lines ever reach the OS, each batch in one ``os.write``
on an ``O_APPEND`` descriptor. A SIGKILL can still cut a large write short,
so opening a file for appending first cuts a torn tail (the bytes after the
last newline): every reader skipped them anyway, since they were never a
whole line, and appending after them would merge two records into one bad
line.

Reading: :class:`JsonlTail` is the one reader. It reads whole lines from a
byte offset on and can follow the file as it grows: an unterminated last line
is left for later (a writer may be appending it right now), a line that is
not a JSON object (a corrupt line left in the middle by an older writer) is
skipped and counted, never the end of the reading. A file replaced (new
inode) or shrunk under a follower makes it start over and say so.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

from backend.storage import failpoints

log = logging.getLogger(__name__)

_BACK_CHUNK = 1 << 16
READ_CHUNK = 1 << 20


def cut_torn_tail(fd: int) -> int:
    """Truncate the file open on ``fd`` after its last newline; returns how many bytes were cut."""
    size = os.fstat(fd).st_size
    if size == 0 or os.pread(fd, 1, size - 1) == b"\n":
        return 0  # the usual case, one byte read (a file is appended to many times a day)
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
    flags = os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC
    try:
        fd = os.open(path, flags, 0o644)
    except FileNotFoundError:  # the folder first (checked only when missing: appends are frequent)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, flags, 0o644)
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


def _check_one_line(line: str) -> None:
    if "\n" in line or "\r" in line:
        raise ValueError("a JSONL record must be one line (it contains a line break)")


def _encode(line: str) -> bytes:
    _check_one_line(line)
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
        # The records as given, encoded together at the flush (one join and one encode for
        # the batch instead of two copies per line); their size in bytes with the newlines.
        self._pending: list[str] = []
        self._pending_bytes = 0

    def write(self, line: str) -> None:
        """Append one record (a JSON text without line breaks)."""
        if self._fd is None:
            return
        _check_one_line(line)
        # An ASCII text (pydantic's JSON, mostly; ``isascii`` reads a flag) is as many bytes as
        # characters; any other is encoded here, so a text that cannot be fails now, alone.
        self._pending_bytes += (len(line) if line.isascii() else len(line.encode("utf-8"))) + 1
        self._pending.append(line)
        if self._pending_bytes >= self.buffer_bytes:
            self.flush()

    def flush(self, fsync: bool = False) -> None:
        if self._fd is None:
            return
        if self._pending:
            lines, self._pending, self._pending_bytes = self._pending, [], 0
            if self.failpoint is not None and failpoints.ACTIVE:
                _write_lines(self._fd, [_encode(line) for line in lines], self.failpoint)
            else:
                lines.append("")  # the last record's newline
                _write_all(self._fd, "\n".join(lines).encode("utf-8"))
        if fsync:
            os.fsync(self._fd)

    def close(self, fsync: bool = True) -> None:
        if self._fd is not None:
            self.flush(fsync=fsync)
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

    def clear(self) -> None:
        self.bad_lines, self.torn_tail = 0, False
        self.bad_numbers.clear()


def parse_line(line: bytes) -> dict[str, Any] | None:
    """The JSON object on one line, or None if it is not one."""
    try:
        value = json.loads(line)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None
    return value if isinstance(value, dict) else None


class JsonlTail:
    """Reads the whole lines of an append-only JSONL file from a byte offset on, following it as it grows.

    Every method reads on from where the previous one stopped. Only lines
    ending in a newline are consumed; a blank line is passed over, a line
    that is not a JSON object is skipped and counted in ``stats`` (line
    numbers count from where the reading began). When the file is replaced
    (new inode) or shrinks below the offset, the reader starts over from 0
    and ``poll`` says so, so its consumer can drop what it built.

    Args:
        path: the file (it may not exist yet).
        offset: byte offset of the first line to read (the start of a line).
        accept: optional cheap test on a raw line, to skip parsing lines the consumer does not want.
        stats: where skips are counted (a new :class:`JsonlStats` if omitted).
    """

    def __init__(self, path: Path, accept: Callable[[bytes], bool] | None = None, *, offset: int = 0,
                 stats: JsonlStats | None = None) -> None:
        if offset < 0:
            raise ValueError(f"a JSONL offset is a byte position >= 0, got {offset}")
        self.path = Path(path)
        self.accept = accept
        self.stats = stats if stats is not None else JsonlStats()
        self.lines_read = 0  # whole lines consumed since the reading began (or last started over)
        self.lock = threading.Lock()  # for callers that share one reader between threads
        self._offset = offset
        self._ino: int | None = None

    @property
    def offset(self) -> int:
        """Bytes consumed so far (whole lines only)."""
        return self._offset

    @property
    def bad_lines(self) -> int:
        """Corrupt lines skipped since the reading began (or last started over)."""
        return self.stats.bad_lines

    def _start_over(self) -> None:
        self._offset = self.lines_read = 0
        self.stats.clear()

    def _open(self) -> tuple[Any, bool]:
        """``(binary file or None if missing, restarted)``, starting over if the file was replaced or shrank."""
        try:
            fh = open(self.path, "rb")
        except FileNotFoundError:
            restarted = self._offset > 0 or self._ino is not None
            self._start_over()
            self._ino = None
            return None, restarted
        st = os.fstat(fh.fileno())
        restarted = self._ino is not None and (st.st_ino != self._ino or st.st_size < self._offset)
        if restarted:
            self._start_over()
        self._ino = st.st_ino
        return fh, restarted

    def _whole_lines(self, fh: Any, limit: int | None) -> Iterator[bytes]:
        """Up to ``limit`` whole lines (with their newline) from the offset; each is consumed as it is yielded."""
        with fh:
            fh.seek(self._offset)
            pending = b""
            count = 0
            while limit is None or count < limit:
                chunk = fh.read(READ_CHUNK)
                if not chunk:
                    self.stats.torn_tail = bool(pending)
                    return
                data, start = pending + chunk if pending else chunk, 0
                while limit is None or count < limit:
                    end = data.find(b"\n", start)
                    if end < 0:
                        break
                    line = data[start:end + 1]
                    start = end + 1
                    self._offset += len(line)
                    self.lines_read += 1
                    count += 1
                    yield line
                pending = data[start:]

    def skip(self, lines: int) -> int:
        """Pass over up to ``lines`` whole lines unread; returns how many there were."""
        fh, _ = self._open()
        return 0 if fh is None else sum(1 for _ in self._whole_lines(fh, lines))

    def raw_lines(self, limit: int | None = None) -> Iterator[bytes]:
        """Each non-blank whole line among the next ``limit`` (all if None), unparsed, for a consumer that
        parses lines itself (the desk's replay validates each with the schema)."""
        fh, _ = self._open()
        if fh is not None:
            for line in self._whole_lines(fh, limit):
                if line.strip():
                    yield line

    def read(self, limit: int | None = None) -> Iterator[tuple[bytes, dict[str, Any]]]:
        """``(raw line, its object)`` for each good line among the next ``limit`` whole lines (all if None)."""
        fh, _ = self._open()
        if fh is not None:
            yield from self._parsed(self._whole_lines(fh, limit))

    def records(self, limit: int | None = None) -> Iterator[dict[str, Any]]:
        """The object of each good line among the next ``limit`` whole lines (all if None)."""
        for _, value in self.read(limit):
            yield value

    def poll(self) -> tuple[bool, list[dict[str, Any]]]:
        """``(restarted, new records)`` since the previous poll; callers sharing the reader hold ``self.lock``.

        ``restarted`` is True when the file was replaced, shrank or vanished:
        the records returned are then the whole file again.
        """
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            st = None
        if st is not None and st.st_ino == self._ino and st.st_size == self._offset:
            self.stats.torn_tail = False
            return False, []  # nothing new: the common case, one stat and no open
        fh, restarted = self._open()
        if fh is None:
            return restarted, []
        return restarted, [value for _, value in self._parsed(self._whole_lines(fh, None))]

    def _parsed(self, lines: Iterator[bytes]) -> Iterator[tuple[bytes, dict[str, Any]]]:
        accept, stats = self.accept, self.stats
        for line in lines:
            if not line.strip() or (accept is not None and not accept(line)):
                continue
            value = parse_line(line)
            if value is None:
                stats.bad_lines += 1
                if len(stats.bad_numbers) < 10:
                    stats.bad_numbers.append(self.lines_read)
                continue
            yield line, value


def iter_jsonl(path: Path, stats: JsonlStats | None = None) -> Iterator[dict[str, Any]]:
    """Every JSON object on a whole line of ``path`` (none if it is missing); skips are counted in ``stats``."""
    return JsonlTail(path, stats=stats).records()


def read_jsonl(path: Path, what: str = "") -> tuple[list[dict[str, Any]], JsonlStats]:
    """Every record of ``path`` and what was skipped (a skipped corrupt line is logged)."""
    stats = JsonlStats()
    records = list(iter_jsonl(path, stats))
    if stats.bad_lines:
        log.warning("%s%s: skipped %d corrupt line(s) (line %s)", what and what + " ", path, stats.bad_lines,
                    ", ".join(map(str, stats.bad_numbers)))
    return records, stats
