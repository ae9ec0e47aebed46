"""memory.jsonl: an agent's scored reflections, one JSON object per line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from backend.storage.atomic import atomic_write_text
from backend.storage.jsonl import append_lines, read_jsonl


class AgentMemory:
    """Append-only reflections of one agent, retrievable by recency.

    Args:
        path: the agent's ``memory.jsonl``.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def append(self, entry: dict[str, Any]) -> None:
        append_lines(self.path, [json.dumps(entry, sort_keys=True)], failpoint="memory.mid_line")

    def entries(self) -> list[dict[str, Any]]:
        """Every whole entry (a corrupt line is skipped and logged, a torn tail skipped)."""
        return read_jsonl(self.path, "memory")[0]

    def recent(self, k: int = 5) -> list[dict[str, Any]]:
        return self.entries()[-k:]

    def truncate_after(self, date: str | None) -> None:
        """Forget entries dated after ``date`` (a resumed day is run again)."""
        entries, skipped = read_jsonl(self.path, "memory")
        kept = [e for e in entries if date is not None and str(e.get("date", "")) <= date]
        # Rewriting also drops corrupt lines, so they are reported once, not at every read.
        if len(kept) != len(entries) or skipped.bad_lines or skipped.torn_tail:
            atomic_write_text(self.path, "".join(json.dumps(e, sort_keys=True) + "\n" for e in kept))
