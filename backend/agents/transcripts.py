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

from backend.schema import events as ev
from backend.storage.jsonl import append_lines, read_jsonl

FILE_NAME = "transcripts.jsonl"


def transcript_path(agent_dir: Path) -> Path:
    return Path(agent_dir) / FILE_NAME


def append(agent_dir: Path, record: dict[str, Any], scrub: Callable[[str], str] = lambda text: text) -> None:
    """Append one exchange (scrubbed) to the agent's transcripts."""
    line = scrub(json.dumps(record, sort_keys=True, ensure_ascii=False, default=str))
    append_lines(transcript_path(agent_dir), [line])  # whole lines; a torn tail is cut at the next append


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


def _one_line(text: str, limit: int) -> str:
    line = " ".join(str(text).split())
    return line if len(line) <= limit else line[:limit - 1] + "…"


def exchange_event(record: dict[str, Any]) -> ev.AgentExchange:
    """The ``agent_exchange`` event (the desk's view) of one recorded exchange."""
    steps = record.get("steps") or []
    return ev.AgentExchange(
        agentId=str(record.get("agent", "")), date=str(record.get("date", "")), stage=str(record.get("stage", "")),
        model=str(record.get("model", "")), requests=len(steps), tokens=int(record.get("tokens") or 0),
        latency_ms=float(record.get("latency_ms") or 0.0), fallback=record.get("fallback"),
        tool_calls=[ev.ToolCallView(name=str(c.get("name")), arguments=json.dumps(c.get("arguments"), sort_keys=True),
                                    ok=bool(c.get("ok"))) for c in tool_calls(record)],
        memories=[_one_line(f"{m.get('date', '?')}: {m.get('content', '')}", 160)
                  for m in record.get("memories") or []])
