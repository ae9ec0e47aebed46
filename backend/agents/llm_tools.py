"""An `llm` agent's skills offered to its model as OpenAI-style tools.

Each skill of the agent (``skills/<name>/SKILL.md``) becomes a function tool
``<name>(tickers)``: the model chooses which of the day's tickers to look at,
the payload is the day's input for that skill (the same one the rules policy
uses, history up to yesterday's close) cut to those tickers, and the call runs
through the run's sandboxed :class:`~backend.sandbox.executor.SkillExecutor`.
``search_memory(query)`` looks up the agent's own reflections (BM25).

A tool call never raises: bad arguments, an unknown tool or a failed skill
come back to the model as ``{"error": ...}`` and are recorded as such.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from backend.agents.memory import AgentMemory
from backend.skills.spec import SkillSpec

RESULT_LIMIT = 6000  # characters of one tool result sent back to the model
MEMORY_TOOL = "search_memory"
MEMORY_HITS = 3


@dataclass
class ToolOutcome:
    name: str
    arguments: dict[str, Any]
    ok: bool
    result: Any  # the JSON value sent back (an {"error": ...} object when not ok)

    @property
    def text(self) -> str:
        text = json.dumps(self.result, sort_keys=True, default=str)
        return text if len(text) <= RESULT_LIMIT else text[:RESULT_LIMIT - 20] + '..." (truncated)'

    def record(self) -> dict[str, Any]:
        tickers = self.arguments.get("tickers") if isinstance(self.arguments.get("tickers"), list) else None
        return {"name": self.name, "arguments": self.arguments, "ok": self.ok, "tickers": tickers,
                "result": self.result if len(self.text) <= RESULT_LIMIT else self.text}


class AgentTools:
    """The tools of one agent for one day.

    Args:
        skills: the agent's skills by name.
        payload: the day's full input for the agent's skills (``{"tickers": {...}, ...}``).
        tickers: the day's tickers (the only values ``tickers`` may take).
        executor: the run's skill executor (the sandbox).
        memory: the agent's reflections (for ``search_memory``).
    """

    def __init__(self, skills: dict[str, SkillSpec], payload: dict[str, Any], tickers: list[str],
                 executor: Any, memory: AgentMemory | None = None) -> None:
        self.skills = skills
        self.payload = payload
        self.tickers = tickers
        self.executor = executor
        self.memory = memory
        self.outcomes: list[ToolOutcome] = []

    def specs(self) -> list[dict[str, Any]]:
        tools = []
        for name in sorted(self.skills):
            spec = self.skills[name]
            tools.append({"type": "function", "function": {
                "name": name,
                "description": (spec.description or name) + " Computed from data up to yesterday's close.",
                "parameters": {"type": "object", "additionalProperties": False, "required": ["tickers"],
                               "properties": {"tickers": {
                                   "type": "array", "minItems": 1, "uniqueItems": True,
                                   "items": {"type": "string", "enum": list(self.tickers)},
                                   "description": "which of today's tickers to compute it for"}}},
            }})
        if self.memory is not None:
            tools.append({"type": "function", "function": {
                "name": MEMORY_TOOL,
                "description": "Search your own past reflections (what you learned on earlier days) by keywords.",
                "parameters": {"type": "object", "additionalProperties": False, "required": ["query"],
                               "properties": {"query": {"type": "string", "minLength": 1}}},
            }})
        return tools

    async def call(self, name: str, arguments_text: str) -> ToolOutcome:
        outcome = await self._call(name, arguments_text)
        self.outcomes.append(outcome)
        return outcome

    async def _call(self, name: str, arguments_text: str) -> ToolOutcome:
        try:
            arguments = json.loads(arguments_text or "{}")
        except json.JSONDecodeError as err:
            return ToolOutcome(name, {"_raw": arguments_text}, False, {"error": f"arguments are not JSON ({err.msg})"})
        if not isinstance(arguments, dict):
            return ToolOutcome(name, {"_raw": arguments_text}, False, {"error": "arguments must be a JSON object"})
        if name == MEMORY_TOOL and self.memory is not None:
            query = arguments.get("query")
            if not isinstance(query, str) or not query.strip():
                return ToolOutcome(name, arguments, False, {"error": "query must be a non-empty string"})
            hits = self.memory.relevant(query, MEMORY_HITS)
            return ToolOutcome(name, arguments, True, {"reflections": [
                {"date": h.get("date"), "score": h.get("score"), "content": h.get("content")} for h in hits]})
        spec = self.skills.get(name)
        if spec is None:
            known = ", ".join(sorted(self.skills) + ([MEMORY_TOOL] if self.memory is not None else []))
            return ToolOutcome(name, arguments, False, {"error": f"no tool {name!r}; tools: {known}"})
        wanted = arguments.get("tickers")
        if not isinstance(wanted, list) or not wanted or not all(isinstance(t, str) for t in wanted):
            return ToolOutcome(name, arguments, False, {"error": "tickers must be a non-empty list of tickers"})
        unknown = sorted(set(wanted) - set(self.tickers))
        if unknown:
            return ToolOutcome(name, arguments, False, {
                "error": f"unknown tickers {', '.join(unknown)}; today's tickers: {', '.join(self.tickers)}"})
        payload = dict(self.payload)
        available = self.payload.get("tickers") or {}
        payload["tickers"] = {t: available[t] for t in wanted if t in available}
        if not payload["tickers"]:
            return ToolOutcome(name, arguments, False, {"error": f"no data for {', '.join(wanted)} today"})
        result = (await self.executor.run_batch([(spec, payload)]))[0]
        if not result.ok:
            return ToolOutcome(name, arguments, False, {
                "error": f"skill {name} failed ({result.error.kind}): {result.error.message}"})
        output = dict(result.output or {})
        missing = [t for t in wanted if t not in available]
        if missing:
            output["no_data"] = missing
        return ToolOutcome(name, arguments, True, output)

    async def precomputed(self) -> dict[str, Any]:
        """Every skill's output for all tickers (for a server that takes no tools)."""
        out = {}
        for name in sorted(self.skills):
            outcome = await self.call(name, json.dumps({"tickers": list(self.tickers)}))
            out[name] = outcome.result
        return out
