"""RunIndex: the run-history rows of every run, rebuilt per run only when its files change.

Listing runs used to read and parse every run's BOOTSTRAP.md, runtime_state.json
and server_state.json (whole curves) on every request. The index keeps one
row per run keyed by the *stamps* of the three files it is built from
(inode, mtime, ctime, size, taken with ``os.stat``), so a request costs one
folder scan plus three ``stat`` calls per run, and a run's row is rebuilt
only when one of its files was replaced. The files are written by other
processes (each run's Gateway), atomically (``backend.storage.atomic``), so
a new version always has a new stamp; a stamp is taken *before* the file
is read, so a row is never cached under a stamp newer than its content.

Racy stamps: a file replaced twice within the file system's timestamp
granularity can come back with an old inode number, size and mtime. As git
does with its "racily clean" entries, a row built from a file whose mtime
is less than ``RACY_S`` before the build is used once and rebuilt next time,
so only files that have been quiet for a while are trusted by stamp.

The trusted rows are kept on disk in ``<runs>/.run-index.json`` (rewritten
atomically, never fsynced: it is a cache), so a restarted runtime_service
lists at once. Every entry there is checked against the stamps like the
in-memory ones; an index file that is torn, garbage or of another version
is ignored and rewritten.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from pathlib import Path
from typing import Any

from backend.storage.atomic import atomic_write_bytes
from backend.storage.bootstrap_file import BootstrapError, parse_bootstrap

log = logging.getLogger(__name__)

INDEX_FILE = ".run-index.json"
INDEX_VERSION = 1
RACY_S = 1.0
_FILES = ("BOOTSTRAP.md", "state/runtime_state.json", "state/server_state.json")

Stamp = tuple[int, int, int, int] | None  # (ino, mtime_ns, ctime_ns, size), None when the file is missing


def file_stamp(path: Path | str) -> Stamp:
    try:
        st = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None
    return (st.st_ino, st.st_mtime_ns, st.st_ctime_ns, st.st_size)


def _read_json_object(path: Path) -> dict[str, Any] | None:
    try:
        with open(path, "rb") as fh:
            data = json.loads(fh.read())
    except (FileNotFoundError, NotADirectoryError, json.JSONDecodeError, UnicodeDecodeError):
        return None
    return data if isinstance(data, dict) else None


def build_row(root: Path) -> dict[str, Any] | None:
    """The history row of the run in ``root``, read from its files now (None when it has no BOOTSTRAP.md).

    The one rule of what a row says: mode and dates from BOOTSTRAP.md; status,
    progress, current date and update time from ``state/runtime_state.json``
    (``created`` before the first snapshot); the final metrics from
    ``state/server_state.json``. A BOOTSTRAP.md that does not parse gives a
    row with status ``unreadable`` and ``status_detail`` saying why.
    """
    run_id = root.name
    try:
        text = (root / "BOOTSTRAP.md").read_text(encoding="utf-8", errors="replace")
    except (FileNotFoundError, NotADirectoryError):
        return None
    runtime = _read_json_object(root / _FILES[1]) or {}
    server = _read_json_object(root / _FILES[2]) or {}
    try:
        config, _ = parse_bootstrap(text, f"{root}/BOOTSTRAP.md")
    except BootstrapError as err:
        return {"run_id": run_id, "mode": "", "tickers": [], "start_date": "", "end_date": "",
                "status": "unreadable", "status_detail": f"BOOTSTRAP.md is unusable: {err}", "progress": 0.0,
                "current_date": None, "updated_at": None, "metrics": None}
    metrics = server.get("metrics")
    return {
        "run_id": run_id,
        "mode": config.mode,
        "tickers": list(config.tickers),
        "start_date": config.start_date.isoformat(),
        "end_date": config.end_date.isoformat(),
        "evolution": config.evolution or "evolving",
        "status": runtime.get("status", "created"),
        "progress": runtime.get("progress", 0.0),
        "current_date": runtime.get("current_date"),
        "updated_at": runtime.get("updated_at"),
        "metrics": metrics if isinstance(metrics, dict) else None,
    }


def _stamps(root: str) -> tuple[Stamp, Stamp, Stamp]:
    """The three files' stamps (plain string paths: pathlib's joins cost more than the ``stat`` calls)."""
    return (file_stamp(root + "/BOOTSTRAP.md"), file_stamp(root + "/state/runtime_state.json"),
            file_stamp(root + "/state/server_state.json"))


def _quiet(stamps: tuple[Stamp, ...], now_ns: int, racy_s: float) -> bool:
    """True when every file is older than the racy window (its stamp can be trusted)."""
    limit = now_ns - int(racy_s * 1e9)
    return all(s is None or max(s[1], s[2]) < limit for s in stamps)


class RunIndex:
    """History rows of every run under ``runs_dir``; safe to share between threads.

    Args:
        runs_dir: the ``RUNS_DIR`` root.
        persist: keep the trusted rows in ``<runs_dir>/.run-index.json`` across restarts.
        racy_s: how long a file must have been quiet before its stamp is trusted.
    """

    def __init__(self, runs_dir: Path, *, persist: bool = True, racy_s: float = RACY_S) -> None:
        self.runs_dir = Path(runs_dir)
        self._root = str(self.runs_dir)
        self.persist = persist
        self.racy_s = racy_s
        self._rows: dict[str, tuple[tuple[Stamp, Stamp, Stamp], dict[str, Any], bool]] = {}
        self._lock = threading.Lock()
        self._loaded = False
        self.builds = 0  # rows built from the files (tests and benches read it)

    @property
    def index_path(self) -> Path:
        return self.runs_dir / INDEX_FILE

    # -- the on-disk copy -------------------------------------------------------------
    def _load(self) -> None:
        self._loaded = True
        if not self.persist:
            return
        data = _read_json_object(self.index_path)
        if not data or data.get("version") != INDEX_VERSION or not isinstance(data.get("runs"), dict):
            return
        for run_id, entry in data["runs"].items():
            try:
                stamps = tuple(tuple(s) if s is not None else None for s in entry["stamps"])
                row = entry["row"]
            except (KeyError, TypeError):
                continue
            if len(stamps) == 3 and isinstance(row, dict) and row.get("run_id") == run_id:
                self._rows[run_id] = (stamps, row, True)  # type: ignore[assignment]

    def _save(self) -> None:
        runs = {run_id: {"stamps": stamps, "row": row} for run_id, (stamps, row, trusted) in self._rows.items()
                if trusted}
        payload = json.dumps({"version": INDEX_VERSION, "runs": runs}, separators=(",", ":")).encode()
        try:
            atomic_write_bytes(self.index_path, payload, fsync=False)
        except OSError as err:  # a read-only runs folder: the index stays in memory
            log.warning("cannot write the run index %s: %s", self.index_path, err)
            self.persist = False

    # -- rows ---------------------------------------------------------------------------
    def _row(self, run_id: str, now_ns: int) -> tuple[dict[str, Any] | None, bool]:
        """``(row or None, whether a trusted row changed)`` for one run, rebuilt if its files changed."""
        stamps = _stamps(f"{self._root}/{run_id}")
        if stamps[0] is None:
            return None, self._rows.pop(run_id, (None, None, False))[2]
        cached = self._rows.get(run_id)
        if cached is not None and cached[2] and cached[0] == stamps:
            return cached[1], False
        row = build_row(self.runs_dir / run_id)
        self.builds += 1
        if row is None:
            return None, self._rows.pop(run_id, (None, None, False))[2]
        trusted = _quiet(stamps, now_ns, self.racy_s)
        self._rows[run_id] = (stamps, row, trusted)
        return row, trusted

    def run_ids(self) -> list[str]:
        """Ids of every run folder (newest, sorted last, first); a folder without BOOTSTRAP.md is left out later."""
        try:
            entries = os.scandir(self.runs_dir)
        except (FileNotFoundError, NotADirectoryError):
            return []
        with entries:
            ids = [e.name for e in entries if not e.name.startswith(".") and e.is_dir()]
        return sorted(ids, reverse=True)

    def rows(self) -> list[dict[str, Any]]:
        """A copy of every run's row, newest run id first."""
        with self._lock:
            if not self._loaded:
                self._load()
            now_ns = time.time_ns()
            ids = self.run_ids()
            out, dirty = [], False
            for run_id in ids:
                row, changed = self._row(run_id, now_ns)
                dirty |= changed
                if row is not None:
                    out.append(dict(row))
            for gone in set(self._rows) - set(ids):
                dirty |= self._rows.pop(gone)[2]
            if dirty and self.persist:
                self._save()
        return out

    def row(self, run_id: str) -> dict[str, Any] | None:
        """A copy of one run's row (None when it has no BOOTSTRAP.md)."""
        with self._lock:
            if not self._loaded:
                self._load()
            row, _ = self._row(run_id, time.time_ns())
        return dict(row) if row is not None else None

    def trusted(self, run_id: str) -> bool:
        """Whether the run's row is kept by stamp (its files were quiet when it was built)."""
        with self._lock:
            entry = self._rows.get(run_id)
            return entry is not None and entry[2]

    def invalidate(self) -> None:
        """Forget every row in memory (the next listing reads every run's files again)."""
        with self._lock:
            self._rows.clear()
