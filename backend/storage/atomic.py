"""Atomic file writes: a reader (or a crash) sees the old file or the new one.

Write to a temporary file in the same folder, flush and fsync it, then
``os.replace`` it over the target and fsync the folder. A process killed at
any instant leaves either the previous or the new content, never a torn file.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import pydantic_core

from backend.storage import failpoints


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write_bytes(path: Path, data: bytes, *, fsync: bool = True, mode: int | None = None) -> None:
    """Replace ``path`` with ``data`` atomically (creating parent folders)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            if failpoints.ACTIVE and failpoints.advance("atomic.mid_write") is not None:
                fh.write(data[: len(data) // 2])
                fh.flush()
                failpoints.crash()
            fh.write(data)
            fh.flush()
            if fsync:
                os.fsync(fh.fileno())
        # mkstemp creates 0600; state files are ordinary readable files unless
        # the caller asks otherwise (the tokens file asks for 0600).
        os.chmod(tmp_name, 0o644 if mode is None else mode)
        if failpoints.ACTIVE and failpoints.advance("atomic.before_rename") is not None:
            failpoints.crash()
        os.replace(tmp_name, path)
    except BaseException:
        try:
            os.unlink(tmp_name)
        except FileNotFoundError:
            pass
        raise
    if fsync:
        _fsync_dir(path.parent)


def atomic_write_text(path: Path, text: str, *, fsync: bool = True) -> None:
    atomic_write_bytes(path, text.encode("utf-8"), fsync=fsync)


def atomic_write_json(path: Path, data: Any, *, fsync: bool = True, indent: int | None = 2) -> None:
    """Serialise ``data`` as JSON and write it atomically.

    pydantic-core's encoder (Rust) is used because state snapshots are written
    after every trading day and the standard encoder dominated a backtest.
    """
    payload = pydantic_core.to_json(data, indent=indent, fallback=str)
    atomic_write_bytes(path, payload + b"\n", fsync=fsync)


def read_json(path: Path) -> Any:
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)
