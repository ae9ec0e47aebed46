"""Properties of BM25 memory retrieval and of answer parsing (fenced JSON)."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backend.agents.llm_policy import LlmAnswerError, parse_signals, strip_fence
from backend.agents.memory import AgentMemory, relevant

WORDS = st.sampled_from(["trend", "rsi", "momentum", "news", "sentiment", "valuation", "cash", "loss", "gain",
                         "AAPL", "MSFT", "NVDA", "overbought", "fade", "the", "and", "was"])
TEXTS = st.lists(WORDS, min_size=0, max_size=8).map(" ".join)
ENTRIES = st.lists(TEXTS, min_size=0, max_size=25).map(
    lambda texts: [{"date": f"2025-01-{i + 1:02d}", "score": 0.0, "content": t} for i, t in enumerate(texts)])


@settings(max_examples=60, deadline=None)
@given(entries=ENTRIES, query=TEXTS, k=st.integers(0, 8))
def test_retrieval_returns_k_distinct_entries_matching_ones_first(entries, query, k):
    out = relevant(entries, query, k)
    assert len(out) == min(k, len(entries))
    assert len({id(e) for e in out}) == len(out) and all(any(e is x for x in entries) for e in out)
    words = set(query.lower().split()) - {"the", "and", "was"}
    matches = [bool(words & set(e["content"].lower().split())) for e in out]
    assert matches == sorted(matches, reverse=True)  # every entry sharing a word comes before any other


@settings(max_examples=30, deadline=None)
@given(entries=ENTRIES)
def test_a_lesson_about_a_rare_word_is_found_first(entries):
    lesson = {"date": "2024-12-01", "score": -0.5, "content": "TSLA gap down stopped me out"}
    out = relevant([lesson] + entries, "TSLA today", 3)
    assert out[0] is lesson


def test_memory_file_relevance_falls_back_to_the_newest(tmp_path):
    memory = AgentMemory(tmp_path / "memory.jsonl")
    assert memory.relevant("anything") == []
    for i in range(6):
        memory.append({"date": f"2025-01-0{i + 1}", "content": f"plain day {i}"})
    assert [e["content"] for e in memory.relevant("zebra", 3)] == ["plain day 5", "plain day 4", "plain day 3"]


SIGNALS = st.fixed_dictionaries({"signals": st.tuples(*[
    st.fixed_dictionaries({"ticker": st.just(t), "signal": st.sampled_from(["bull", "bear", "neutral"]),
                           "confidence": st.floats(0, 100), "reasoning": st.text(min_size=1, max_size=40).filter(
                               lambda s: s.strip() and "```" not in s)}) for t in ("AAPL", "MSFT")]).map(list)})


@settings(max_examples=80, deadline=None)
@given(answer=SIGNALS, lang=st.sampled_from(["", "json", "JSON"]), prose=st.sampled_from(
    ["", "Here you are:\n", "Sure! My calls:\n\n"]), indent=st.sampled_from([None, 1, 2]))
def test_a_fenced_answer_parses_like_the_bare_one(answer, lang, prose, indent):
    bare = json.dumps(answer, indent=indent)
    fenced = f"{prose}```{lang}\n{bare}\n```\nHope that helps."
    assert strip_fence(fenced) == bare.strip()
    assert parse_signals(fenced, ["AAPL", "MSFT"]) == parse_signals(bare, ["AAPL", "MSFT"])


def test_prose_without_a_fence_is_still_refused():
    with pytest.raises(LlmAnswerError, match="not JSON"):
        parse_signals('My answer is {"signals": []} thanks', ["AAPL"])


def test_a_resumed_day_forgets_its_reflections_and_its_llm_exchanges(tmp_path):
    from backend.agents import transcripts

    memory = AgentMemory(tmp_path / "tech" / "memory.jsonl")
    for day in ("2025-01-02", "2025-01-03", "2025-01-06"):
        memory.append({"date": day, "content": f"lesson of {day}"})
        transcripts.append(tmp_path / "tech", {"date": day, "stage": "analysis", "steps": []})
    memory.truncate_after("2025-01-03")
    assert [e["date"] for e in memory.entries()] == ["2025-01-02", "2025-01-03"]
    assert [r["date"] for r in transcripts.read(tmp_path / "tech")] == ["2025-01-02", "2025-01-03"]
    assert transcripts.read(tmp_path / "tech", "2025-01-03")[0]["stage"] == "analysis"
    memory.truncate_after(None)  # a run started over
    assert memory.entries() == [] and transcripts.read(tmp_path / "tech") == []
