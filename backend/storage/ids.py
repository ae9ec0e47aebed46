"""Validated identifiers that become folder names (run ids, workspace names).

Both are checked against strict patterns, so no user input can contain a path
separator or ``..`` and escape ``RUNS_DIR`` / ``WORKSPACES_DIR``.
"""

from __future__ import annotations

import datetime as dt
import re
import secrets

from backend.errors import BadRequestError

RUN_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_\-]{0,79}$")
WORKSPACE_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_\-]{0,63}$")
FILE_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_\-.]{0,127}$")


class InvalidIdError(BadRequestError, ValueError):
    """An identifier does not match its pattern; the message says which and why."""


def new_run_id(now: dt.datetime | None = None) -> str:
    """A sortable id: UTC timestamp plus a short random suffix (``20250102T153000Z-3fa9``)."""
    now = now or dt.datetime.now(dt.timezone.utc)
    return f"{now.strftime('%Y%m%dT%H%M%SZ')}-{secrets.token_hex(2)}"


def validate_run_id(run_id: str) -> str:
    if not isinstance(run_id, str) or not RUN_ID_RE.match(run_id):
        raise InvalidIdError(
            f"invalid run id {run_id!r}: use 1-80 letters, digits, '_' or '-', starting with a letter or digit"
        )
    return run_id


def validate_workspace_name(name: str) -> str:
    if not isinstance(name, str) or not WORKSPACE_NAME_RE.match(name):
        raise InvalidIdError(
            f"invalid workspace name {name!r}: use 1-64 letters, digits, '_' or '-', starting with a letter or digit"
        )
    return name


def validate_file_name(name: str) -> str:
    if not isinstance(name, str) or not FILE_NAME_RE.match(name) or ".." in name:
        raise InvalidIdError(f"invalid file name {name!r}")
    return name
