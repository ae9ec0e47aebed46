"""logs/events.jsonl: every event a run emits, one JSON object per line."""

from __future__ import annotations

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


@dataclass
class EventsPage:
    """Lines ``[offset, next_offset)`` of an events.jsonl, less the ``skipped`` corrupt ones."""

    lines: list[bytes]
    skipped: int
    next_offset: int


def events_page(path: Path, offset: int, limit: int) -> EventsPage:
    """Whole, parseable lines number ``offset`` to ``offset + limit - 1`` (0-based) of the log, as written.

    A torn last line ends the page (it is not counted: a writer may be
    finishing it); a corrupt line is left out and counted in ``skipped``.
    """
    tail = JsonlTail(path)
    tail.skip(offset)
    before = tail.lines_read
    lines = [line for line, _ in tail.read(limit)]
    return EventsPage(lines, tail.bad_lines, offset + tail.lines_read - before)
