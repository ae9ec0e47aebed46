"""Reading a run's files while its Gateway may be writing them.

State files (``server_state.json``, ``BOOTSTRAP.md``) are replaced atomically
by their writers, so a reader sees the old or the new file; what is derived
from them is cached per *file version* (inode, mtime, size) taken from the
very descriptor that was read, so a cached value always matches its stamp.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any, Callable, Generic, NamedTuple, TypeVar

from backend.errors import BadRequestError, ConflictError, NotFoundError
from backend.schema.bootstrap import BootstrapConfig
from backend.storage.bootstrap_file import BootstrapError, parse_bootstrap
from backend.storage.ids import InvalidIdError
from backend.storage.run_store import RunPaths, RunStore

T = TypeVar("T")


class FileStamp(NamedTuple):
    """Identifies one version of a file: an atomic replace changes the inode."""

    ino: int
    mtime_ns: int
    size: int

    @classmethod
    def of(cls, st: os.stat_result) -> "FileStamp":
        return cls(st.st_ino, st.st_mtime_ns, st.st_size)


def stamp(path: Path) -> FileStamp | None:
    try:
        return FileStamp.of(os.stat(path))
    except FileNotFoundError:
        return None


def require_run(store: RunStore, run_id: str) -> RunPaths:
    """The paths of an existing run; BadRequestError for a malformed id, NotFoundError if absent."""
    try:
        return store.require(run_id)
    except InvalidIdError as err:
        raise BadRequestError(str(err)) from None


def read_stamped_bytes(path: Path) -> tuple[FileStamp, bytes] | None:
    """The bytes of a file with the stamp of the descriptor they came from (None if absent)."""
    try:
        with open(path, "rb") as fh:
            st = os.fstat(fh.fileno())
            return FileStamp.of(st), fh.read()
    except FileNotFoundError:
        return None


class VersionedCache(Generic[T]):
    """Values derived from a file, rebuilt only when the file's stamp changes.

    Args:
        build: turns ``(path, bytes)`` of one file version into the cached value.
        capacity: most keys (runs) kept; the least recently used is dropped.
    """

    def __init__(self, build: Callable[[Path, bytes], T], capacity: int = 64) -> None:
        self._build = build
        self._capacity = capacity
        self._entries: dict[str, tuple[FileStamp, T]] = {}
        self._lock = threading.Lock()

    def peek(self, key: str, path: Path) -> T | None:
        """The cached value if it is still the file's current version (never reads the file)."""
        current = stamp(path)
        with self._lock:
            entry = self._entries.get(key)
            if current is not None and entry is not None and entry[0] == current:
                self._entries[key] = self._entries.pop(key)  # most recently used last
                return entry[1]
        return None

    def get(self, key: str, path: Path) -> T | None:
        """The value for the file's current version, or None when the file does not exist."""
        value = self.peek(key, path)
        if value is not None:
            return value
        loaded = read_stamped_bytes(path)
        if loaded is None:
            return None
        file_stamp, data = loaded
        # Built outside the lock: two threads may build the same version once each,
        # which is cheaper than making every reader of every run wait.
        value = self._build(path, data)
        with self._lock:
            self._entries.pop(key, None)
            self._entries[key] = (file_stamp, value)
            while len(self._entries) > self._capacity:
                self._entries.pop(next(iter(self._entries)))
        return value


def parse_json_object(path: Path, data: bytes) -> dict[str, Any]:
    """A state file's object; an unreadable file counts as empty (it is rewritten soon)."""
    try:
        value = json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return {}
    return value if isinstance(value, dict) else {}


def parse_bootstrap_bytes(path: Path, data: bytes) -> BootstrapConfig | ConflictError:
    try:
        config, _ = parse_bootstrap(data.decode("utf-8", errors="replace"), str(path))
    except BootstrapError as err:
        return ConflictError(f"the run's BOOTSTRAP.md is unusable: {err}")
    return config


class RunConfigs:
    """Each run's BOOTSTRAP front matter, parsed once per file version."""

    def __init__(self, store: RunStore) -> None:
        self.store = store
        self._cache: VersionedCache[BootstrapConfig | ConflictError] = VersionedCache(parse_bootstrap_bytes)

    def get(self, run_id: str) -> BootstrapConfig:
        paths = require_run(self.store, run_id)
        value = self._cache.get(run_id, paths.bootstrap)
        if value is None:  # removed between the check and the read
            raise NotFoundError(f"unknown run {run_id!r}")
        if isinstance(value, ConflictError):
            raise value
        return value
