"""logs/events.jsonl: every event a run emits, one JSON object per line."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import IO, Any, Iterator


class EventLog:
    """Buffered append-only writer; ``flush(fsync=True)`` at least once a day.

    Args:
        path: the run's ``logs/events.jsonl``.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fh: IO[str] | None = open(self.path, "a", encoding="utf-8", buffering=1 << 16)

    def write(self, line: str) -> None:
        if self._fh is not None:
            self._fh.write(line)
            self._fh.write("\n")

    def flush(self, fsync: bool = False) -> None:
        if self._fh is not None:
            self._fh.flush()
            if fsync:
                os.fsync(self._fh.fileno())

    def close(self) -> None:
        if self._fh is not None:
            self.flush(fsync=True)
            self._fh.close()
            self._fh = None


def read_events(path: Path) -> Iterator[dict[str, Any]]:
    """Every whole line of an events.jsonl (a torn last line is skipped)."""
    if not Path(path).is_file():
        return
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            try:
                yield json.loads(line)
            except json.JSONDecodeError:
                continue
