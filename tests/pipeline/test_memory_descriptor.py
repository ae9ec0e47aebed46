"""An agent's memory keeps one appending descriptor open while a run goes on (issue 13):
a copy of it (copy.deepcopy of a team) and a rewrite never write through or close another's,
and a memory dropped without close leaves no descriptor behind."""

from __future__ import annotations

import copy
import gc
import json
import os
from pathlib import Path

from backend.agents.memory import AgentMemory


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_a_copied_memory_appends_through_its_own_descriptor(tmp_path: Path) -> None:
    memory = AgentMemory(tmp_path / "memory.jsonl")
    memory.append({"date": "2025-01-02", "content": "first"})
    twin = copy.deepcopy(memory)
    twin.append({"date": "2025-01-03", "content": "from the copy"})
    del twin
    gc.collect()
    memory.append({"date": "2025-01-06", "content": "after the copy is gone"})  # its descriptor still works
    memory.close()
    assert [e["content"] for e in memory.entries()] == ["first", "from the copy", "after the copy is gone"]


def test_a_rewrite_then_an_append_land_in_the_new_file(tmp_path: Path) -> None:
    memory = AgentMemory(tmp_path / "memory.jsonl")
    for day in ("2025-01-02", "2025-01-03", "2025-01-06"):
        memory.append({"date": day, "content": day})
    memory.truncate_after("2025-01-03")  # a resumed run forgets the day it runs again
    memory.append({"date": "2025-01-06", "content": "again"})
    memory.close()
    lines = (tmp_path / "memory.jsonl").read_text().splitlines()
    assert [json.loads(line)["content"] for line in lines] == ["2025-01-02", "2025-01-03", "again"]


def test_dropped_memories_leave_no_descriptor_open(tmp_path: Path) -> None:
    before = open_fds()
    memories = [AgentMemory(tmp_path / f"m{i}.jsonl") for i in range(20)]
    for memory in memories:
        memory.append({"date": "2025-01-02", "content": "x"})
    assert open_fds() >= before + 20
    del memories, memory
    gc.collect()
    assert open_fds() <= before


def test_a_buffered_memory_reads_its_own_pending_entries_and_writes_them_whole(tmp_path: Path) -> None:
    # A headless backtest buffers memories: the file lags, the memory's own reads do not.
    memory = AgentMemory(tmp_path / "memory.jsonl", buffer_bytes=1 << 16)
    for day in ("2025-01-02", "2025-01-03"):
        memory.append({"date": day, "content": f"lesson of {day}"})
    assert (tmp_path / "memory.jsonl").read_text() == ""
    assert [e["date"] for e in memory.recent(5)] == ["2025-01-02", "2025-01-03"]
    assert memory.relevant("lesson", 1)[0]["content"].startswith("lesson of")
    memory.append({"date": "2025-01-06", "content": "third"})
    memory.flush()
    lines = (tmp_path / "memory.jsonl").read_text().splitlines()
    assert [json.loads(line)["content"] for line in lines] == ["lesson of 2025-01-02", "lesson of 2025-01-03", "third"]
    memory.close()
