"""memory.jsonl: an agent's scored reflections, one JSON object per line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from backend.agents import transcripts
from backend.storage.atomic import atomic_write_text
from backend.storage.jsonl import JsonlWriter, read_jsonl

# ``json.dumps(entry, sort_keys=True)`` builds this same encoder on every call (a run appends six
# entries a day): one kept, with the same settings, encodes to the same text.
_ENCODER = json.JSONEncoder(sort_keys=True)


class AgentMemory:
    """Append-only reflections of one agent, retrievable by recency or by relevance (BM25).

    Args:
        path: the agent's ``memory.jsonl``.
        buffer_bytes: hand entries to the OS once this many bytes are pending, and at every
            :meth:`flush` (0, the default: each at once). A headless backtest buffers: the
            engine flushes before each snapshot, so a resume point never names a day whose
            entries are not in the file, and entries after it are dropped on resume anyway.
    """

    def __init__(self, path: Path, buffer_bytes: int = 0) -> None:
        self.path = Path(path)
        self.buffer_bytes = buffer_bytes
        self._writer: JsonlWriter | None = None

    def append(self, entry: dict[str, Any]) -> None:
        # One descriptor kept open while the run goes on (a whole line per
        # entry, O_APPEND, as before; a run appends six a day): ``close`` it.
        if self._writer is None:
            self._writer = JsonlWriter(self.path, buffer_bytes=self.buffer_bytes, failpoint="memory.mid_line")
        self._writer.write(_ENCODER.encode(entry))

    def flush(self) -> None:
        """Hand the pending entries to the OS (whole lines)."""
        if self._writer is not None:
            self._writer.flush()

    def close(self) -> None:
        """Close the appending descriptor (fsynced); the next ``append`` opens it again."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def __getstate__(self) -> dict[str, Any]:
        # A copy (copy.deepcopy of a team, pickling) opens its own descriptor when it first
        # appends: two memories sharing one would close it under each other.
        return {**self.__dict__, "_writer": None}

    def __del__(self) -> None:  # a team dropped without its engine's close: no descriptor left behind
        writer = getattr(self, "_writer", None)
        if writer is not None:
            writer.close(fsync=False)

    def entries(self) -> list[dict[str, Any]]:
        """Every whole entry (a corrupt line is skipped and logged, a torn tail skipped)."""
        self.flush()  # this memory's own pending entries are entries too
        return read_jsonl(self.path, "memory")[0]

    def recent(self, k: int = 5) -> list[dict[str, Any]]:
        return self.entries()[-k:]

    def relevant(self, query: str, k: int = 5) -> list[dict[str, Any]]:
        """The ``k`` reflections most relevant to ``query`` (BM25, see :func:`relevant`)."""
        return relevant(self.entries(), query, k)

    def truncate_after(self, date: str | None) -> None:
        """Forget entries dated after ``date`` (a resumed day is run again), and the llm exchanges too."""
        self.close()  # a rewrite replaces the file: append to the new one
        entries, skipped = read_jsonl(self.path, "memory")
        kept = [e for e in entries if date is not None and str(e.get("date", "")) <= date]
        # Rewriting also drops corrupt lines, so they are reported once, not at every read.
        if len(kept) != len(entries) or skipped.bad_lines or skipped.torn_tail:
            atomic_write_text(self.path, "".join(_ENCODER.encode(e) + "\n" for e in kept))
        transcripts.truncate_after(self.path.parent, date)


def _text(entry: dict[str, Any]) -> str:
    return f"{entry.get('date', '')} {entry.get('content', '')}"


def relevant(entries: list[dict[str, Any]], query: str, k: int = 5) -> list[dict[str, Any]]:
    """The ``k`` entries most relevant to ``query`` by BM25 (bm25s), best first.

    Entries that share no word with the query are never "relevant": when fewer
    than ``k`` match, the most recent others fill the list (newest first), so
    an agent always sees its latest lessons. Ties keep the newer entry first.
    """
    if k <= 0 or not entries:
        return []
    import bm25s  # numpy only; imported here so rules-only runs never load it

    tokenizer = bm25s.tokenization.Tokenizer(stopwords="en", stemmer=None)
    corpus = tokenizer.tokenize([_text(e) for e in entries], show_progress=False, return_as="ids",
                                update_vocab=True)
    wanted = tokenizer.tokenize([query], show_progress=False, return_as="ids", update_vocab=False)
    chosen: list[int] = []
    if wanted and wanted[0] and any(corpus):
        index = bm25s.BM25()
        index.index(corpus, show_progress=False)
        scores = index.get_scores(wanted[0])
        ranked = sorted(range(len(entries)), key=lambda i: (-float(scores[i]), -i))
        chosen = [i for i in ranked if float(scores[i]) > 0][:k]
    for i in range(len(entries) - 1, -1, -1):
        if len(chosen) >= k:
            break
        if i not in chosen:
            chosen.append(i)
    return [entries[i] for i in chosen]
