"""The morning conference when analysts are `llm` agents: a discussion in rounds.

``MAX_COMM_CYCLES`` rounds; in each, every `llm` analyst sees its own calls
and the other analysts' (as they stood at the round's start) and may revise
them, saying why (a ``conference_message`` with its ``cycle``); the `llm`
analysts of a round are asked at once. A `rules` analyst revises numerically,
as in the rules conference. Then the portfolio manager, when it is `llm`,
writes the conference's conclusion (a ``conference_message`` without cycle,
handed to its decision prompt); otherwise the numeric consensus is the
summary. An analyst whose answer is unusable keeps its numeric revision, and a
``system`` event says so.

A run whose analysts are all `rules` never comes here: the pipeline keeps its
numeric conference, byte for byte.
"""

from __future__ import annotations

import asyncio
from typing import Any

from backend.agents import llm_prompts as prompts
from backend.agents.llm_policy import LlmPolicy, Turn, parse_revision, parse_summary
from backend.agents.rules import analyst as analyst_rules
from backend.agents.rules import portfolio_manager as pm_rules
from backend.schema import events as ev
from backend.schema.trading import TickerSignal

STAGE = "conference"


def _calls_of(work: Any, agent_id: str, tickers: list[str]) -> list[dict[str, Any]]:
    """An analyst's calls as the analysis stage left them (work.context), in ticker order."""
    out = []
    for ticker in tickers:
        for entry in work.context.get(ticker, {}).get("signals", []):
            if entry.get("agentId") == agent_id:
                out.append({"ticker": ticker, "signal": entry["signal"], "confidence": entry["confidence"],
                            "reasoning": entry["reasoning"]})
    return out


def _as_calls(signals: list[TickerSignal]) -> list[dict[str, Any]]:
    return [{"ticker": s.ticker, "signal": s.signal, "confidence": s.confidence, "reasoning": s.reasoning}
            for s in signals]


def _numeric(agent_id: str, before: dict[str, dict[str, float]]) -> dict[str, float]:
    others: dict[str, list[float]] = {}
    for other_id, scores in before.items():
        if other_id != agent_id:
            for t, s in scores.items():
                others.setdefault(t, []).append(s)
    return analyst_rules.revise(before[agent_id], others)


def _numeric_calls(calls: list[dict[str, Any]], revised: dict[str, float]) -> list[dict[str, Any]]:
    out = []
    for call in calls:
        score = revised.get(call["ticker"], 0.0)
        out.append({**call, "signal": analyst_rules.label(score), "confidence": round(abs(score) * 100, 1)})
    return out


def _moves(before: dict[str, float], after: dict[str, float]) -> str:
    moved = sorted(after, key=lambda t: -abs(after[t] - before.get(t, 0.0)))[:3]
    return ", ".join(f"{t} {analyst_rules.label(before.get(t, 0.0))}->{analyst_rules.label(after[t])} "
                     f"({before.get(t, 0.0):+.2f}->{after[t]:+.2f})" for t in moved)


async def hold(pipeline: Any, work: Any, policy: LlmPolicy) -> None:
    """Hold ``work``'s conference for ``pipeline`` (a TradingPipeline), updating ``work.scores``."""
    cycles = pipeline.config.max_comm_cycles
    tickers = list(pipeline.config.tickers)
    analysts = pipeline.analysts
    emit = pipeline.emit
    conference_id = f"{pipeline.run_id}-{work.iso}"
    emit(ev.ConferenceStart(conferenceId=conference_id, title=f"Morning conference {work.iso}", date=work.iso,
                            participants=[a.id for a in analysts], ts=pipeline.clock.ts(STAGE)))
    calls = {a.id: _calls_of(work, a.id, tickers) for a in analysts}
    comments: list[dict[str, Any]] = []
    for cycle in range(1, cycles + 1):
        emit(ev.ConferenceCycleStart(cycle=cycle, totalCycles=cycles))
        before_scores = {a: dict(s) for a, s in work.scores.items()}
        before_calls = {a: list(c) for a, c in calls.items()}

        async def revise(agent: Any) -> tuple[str, list[dict[str, Any]], dict[str, float]]:
            numeric = _numeric(agent.id, before_scores)
            if agent.policy != "llm":
                return ("Revising after hearing the team: " + _moves(before_scores[agent.id], numeric),
                        _numeric_calls(before_calls[agent.id], numeric), numeric)
            others = {a: c for a, c in before_calls.items() if a != agent.id}
            user = prompts.revision_message(work.iso, cycle, cycles, tickers, before_calls[agent.id], others)
            answer = await policy.turn(Turn(agent, work.iso, STAGE, "revision", user, tickers,
                                            lambda c: parse_revision(c, tickers),
                                            fallback="its numeric revision"), emit)
            if answer is None:
                return ("Revising after hearing the team: " + _moves(before_scores[agent.id], numeric),
                        _numeric_calls(before_calls[agent.id], numeric), numeric)
            comment, signals = answer
            scores = {s.ticker: s.score for s in signals}
            return comment + " (" + _moves(before_scores[agent.id], scores) + ")", _as_calls(signals), scores

        results = await asyncio.gather(*(revise(a) for a in analysts))
        for agent, (content, new_calls, scores) in zip(analysts, results):
            calls[agent.id] = new_calls
            work.scores[agent.id] = scores
            comments.append({"round": cycle, "agent": agent.id, "said": content})
            emit(ev.ConferenceMessage(agentId=agent.id, content=content, ts=pipeline.clock.ts(STAGE), cycle=cycle))
        emit(ev.ConferenceCycleEnd(cycle=cycle))
    consensus = pm_rules.team_scores(work.scores, {})
    numeric = ", ".join(f"{t} {analyst_rules.label(s)} ({s:+.2f})" for t, s in consensus.items())
    summary = None
    pm = pipeline.pm
    if pm.policy == "llm":
        user = prompts.summary_message(work.iso, tickers, calls, comments,
                                       {t: round(s, 4) for t, s in consensus.items()})
        summary = await policy.turn(Turn(pm, work.iso, STAGE, "summary", user, tickers, parse_summary,
                                         fallback="the numeric consensus"), emit)
        if summary is not None:
            emit(ev.ConferenceMessage(agentId=pm.id, content=summary, ts=pipeline.clock.ts(STAGE)))
    emit(ev.ConferenceEnd(ts=pipeline.clock.ts(STAGE), conferenceId=conference_id))
    for t, s in consensus.items():
        work.context.setdefault(t, {})["conference_summary"] = f"team leans {analyst_rules.label(s)} ({s:+.2f})"
    work.conference_summary = summary
    pipeline._message("conference summary", summary or f"Consensus after {cycles} cycle(s): {numeric}", STAGE)
