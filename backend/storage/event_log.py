"""logs/events.jsonl: every event a run emits, one JSON object per line."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from backend.storage.jsonl import JsonlStats, JsonlTail, JsonlWriter, iter_jsonl

BUFFER_BYTES = 1 << 16


class EventLog:
    """Append-only writer buffered by whole lines; ``flush(fsync=True)`` at least once a day.

    A kill loses at most the lines not flushed yet, never splits one
    (see ``backend.storage.jsonl``); a torn tail left by a kill during a
    flush is cut when the log is opened again.

    Args:
        path: the run's ``logs/events.jsonl``.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._writer = JsonlWriter(self.path, buffer_bytes=BUFFER_BYTES, failpoint="event_log.mid_line")

    def write(self, line: str) -> None:
        self._writer.write(line)

    def flush(self, fsync: bool = False) -> None:
        self._writer.flush(fsync=fsync)

    def close(self) -> None:
        self._writer.close()


def read_events(path: Path, stats: JsonlStats | None = None) -> Iterator[dict[str, Any]]:
    """Every event on a whole line of an events.jsonl; corrupt lines and a torn tail are skipped (counted in ``stats``)."""
    return iter_jsonl(path, stats)


EVENTS_PAGE_BYTES = 1 << 20


@dataclass
class EventsPage:
    """Lines ``[offset, next_offset)`` of an events.jsonl, less the ``skipped`` corrupt ones.

    ``next_cursor`` is the byte position right after the page (where the next
    page starts), ``log_bytes`` the size of the log when it was read.
    """

    lines: list[bytes]
    skipped: int
    next_offset: int
    next_cursor: int = 0
    log_bytes: int = 0


def _check_cursor(path: Path, cursor: int) -> int:
    """The log's size; ValueError unless ``cursor`` is the start of a line within it."""
    try:
        with open(path, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            if cursor > size:
                raise ValueError(f"cursor {cursor} is past the end of the events log ({size} bytes)")
            if cursor > 0:
                fh.seek(cursor - 1)
                if fh.read(1) != b"\n":
                    raise ValueError(f"cursor {cursor} is not the start of a line of the events log")
    except FileNotFoundError:
        if cursor:
            raise ValueError(f"cursor {cursor} is past the end of the events log (there is none yet)") from None
        return 0
    return size


def events_page(path: Path, offset: int, limit: int, *, cursor: int | None = None,
                max_bytes: int | None = None) -> EventsPage:
    """Whole, parseable lines number ``offset`` to ``offset + limit - 1`` (0-based) of the log, as written.

    With ``cursor`` (a byte position at the start of a line, as a previous
    page's ``next_cursor``) the reading starts there and ``offset`` counts
    lines from it. The page ends after ``limit`` lines or after the line that
    brings it to ``max_bytes``, whichever comes first, so it holds a bounded
    amount whatever the log's size. A torn last line ends the page (it is
    not counted: a writer may be finishing it); a corrupt line is left out
    and counted in ``skipped``.
    """
    size = _check_cursor(path, cursor) if cursor else None
    tail = JsonlTail(path, offset=cursor or 0)
    tail.skip(offset)
    before = tail.lines_read
    lines: list[bytes] = []
    held = 0
    reader = tail.read(limit)
    try:
        for line, _ in reader:
            lines.append(line)
            held += len(line)
            if max_bytes is not None and held >= max_bytes:
                break
    finally:
        reader.close()  # closes the file now, not when the generator is collected
    if size is None:
        try:
            size = os.stat(path).st_size
        except FileNotFoundError:
            size = 0
    return EventsPage(lines, tail.bad_lines, offset + tail.lines_read - before, tail.offset, max(size, tail.offset))
