"""JsonlTail: read an append-only ``.jsonl`` file incrementally, as a writer appends to it.

Only whole lines (ending in a newline) are consumed: a writer's buffered
flush can stop mid-line, and that torn tail is read again, whole, on a later
poll. A line that is not a JSON object (a torn line left by a crash of an
older writer, then appended after) is skipped and counted in ``bad_lines``.
When the file is replaced (new inode, as the engine does when it truncates
trades on resume) or shrinks, the reader starts over and
says so, so its consumer can drop what it built.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any, Callable

from backend.storage.jsonl import parse_line

READ_CHUNK = 1 << 20


class JsonlTail:
    """Incremental reader of one ``.jsonl`` file.

    Args:
        path: the file (it may not exist yet).
        accept: optional cheap test on a raw line (bytes) to skip parsing
            lines the consumer does not want.
    """

    def __init__(self, path: Path, accept: Callable[[bytes], bool] | None = None) -> None:
        self.path = Path(path)
        self.accept = accept
        self._ino: int | None = None
        self._offset = 0
        self.bad_lines = 0  # corrupt lines skipped since the reader last started over
        self.lock = threading.Lock()

    @property
    def offset(self) -> int:
        """Bytes consumed so far (whole lines only)."""
        return self._offset

    def poll(self) -> tuple[bool, list[dict[str, Any]]]:
        """``(restarted, new records)`` since the previous poll; callers hold ``self.lock``.

        ``restarted`` is True when the file was replaced, shrank or vanished:
        the records returned are then the whole file again.
        """
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            st = None
        if st is not None and st.st_ino == self._ino and st.st_size == self._offset:
            return False, []  # unchanged: the common case, one stat and no open
        try:
            fh = open(self.path, "rb")
        except FileNotFoundError:
            restarted = self._offset > 0 or self._ino is not None
            self._ino, self._offset, self.bad_lines = None, 0, 0
            return restarted, []
        with fh:
            st = os.fstat(fh.fileno())
            restarted = False
            if self._ino is not None and (st.st_ino != self._ino or st.st_size < self._offset):
                restarted, self._offset, self.bad_lines = True, 0, 0
            self._ino = st.st_ino
            if st.st_size == self._offset:
                return restarted, []
            fh.seek(self._offset)
            records: list[dict[str, Any]] = []
            pending = b""
            while True:
                chunk = fh.read(READ_CHUNK)
                if not chunk:
                    break
                data = pending + chunk
                end = data.rfind(b"\n")
                if end < 0:
                    pending = data
                    continue
                self._parse(data[: end + 1], records)
                self._offset += end + 1
                pending = data[end + 1:]
            return restarted, records

    def _parse(self, block: bytes, out: list[dict[str, Any]]) -> None:
        accept = self.accept
        for line in block.splitlines():
            if not line.strip() or (accept is not None and not accept(line)):
                continue
            value = parse_line(line)
            if value is None:
                self.bad_lines += 1
            else:
                out.append(value)
