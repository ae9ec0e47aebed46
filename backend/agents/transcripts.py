"""An `llm` agent's exchanges with its model: ``runs/<id>/agents/<agent>/transcripts.jsonl``.

One JSON line per exchange (one agent's turn in one stage of one day): the
messages sent (prompt, tool calls and their results), each request's tokens,
latency and optional parameters, the answer used (or the fallback's reason)
and the reflections retrieved for the prompt. Written with the one JSONL
writer (whole lines only), never containing the API key: the record is
scrubbed before it is written.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

from backend.storage.jsonl import append_lines, read_jsonl

FILE_NAME = "transcripts.jsonl"


def transcript_path(agent_dir: Path) -> Path:
    return Path(agent_dir) / FILE_NAME


def append(agent_dir: Path, record: dict[str, Any], scrub: Callable[[str], str] = lambda text: text) -> None:
    """Append one exchange (scrubbed) to the agent's transcripts."""
    line = scrub(json.dumps(record, sort_keys=True, ensure_ascii=False, default=str))
    append_lines(transcript_path(agent_dir), [line], failpoint="transcripts.mid_line")


def read(agent_dir: Path, date: str | None = None) -> list[dict[str, Any]]:
    """Every whole exchange of an agent, oldest first (only ``date``'s when given)."""
    path = transcript_path(agent_dir)
    if not path.is_file():
        return []
    records = read_jsonl(path, "transcripts")[0]
    return [r for r in records if date is None or r.get("date") == date]


def truncate_after(agent_dir: Path, date: str | None) -> None:
    """Forget exchanges dated after ``date`` (a resumed day is asked again)."""
    path = transcript_path(agent_dir)
    if not path.is_file():
        return
    from backend.storage.atomic import atomic_write_text

    records = read_jsonl(path, "transcripts")[0]
    kept = [r for r in records if date is not None and str(r.get("date", "")) <= date]
    if len(kept) != len(records):
        atomic_write_text(path, "".join(json.dumps(r, sort_keys=True, ensure_ascii=False) + "\n" for r in kept))


def tool_calls(record: dict[str, Any], ticker: str | None = None) -> list[dict[str, Any]]:
    """The tool calls of one exchange (those that asked about ``ticker`` when given)."""
    calls = [c for step in record.get("steps", []) for c in step.get("tool_calls", [])]
    if ticker is None:
        return calls
    return [c for c in calls if ticker in (c.get("tickers") or []) or not c.get("tickers")]
