"""memory.jsonl: an agent's scored reflections, one JSON object per line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from backend.storage.atomic import atomic_write_text


class AgentMemory:
    """Append-only reflections of one agent, retrievable by recency.

    Args:
        path: the agent's ``memory.jsonl``.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def append(self, entry: dict[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(entry, sort_keys=True) + "\n")

    def entries(self) -> list[dict[str, Any]]:
        if not self.path.is_file():
            return []
        out = []
        with open(self.path, encoding="utf-8") as fh:
            for line in fh:
                try:
                    out.append(json.loads(line))
                except json.JSONDecodeError:
                    break  # torn tail after a crash
        return out

    def recent(self, k: int = 5) -> list[dict[str, Any]]:
        return self.entries()[-k:]

    def truncate_after(self, date: str | None) -> None:
        """Forget entries dated after ``date`` (a resumed day is run again)."""
        entries = self.entries()
        kept = [e for e in entries if date is not None and str(e.get("date", "")) <= date]
        if len(kept) != len(entries):
            atomic_write_text(self.path, "".join(json.dumps(e, sort_keys=True) + "\n" for e in kept))
