"""Prompt text of the `llm` policy: what an analyst or the portfolio manager is asked.

Every message is built from sorted keys and ``json.dumps(sort_keys=True)``
blocks, so the same day, memory and features always produce the same bytes
(the request is reproducible, and a cache or a recorded server can key on it).
"""

from __future__ import annotations

import json
from typing import Any

from backend.schema.trading import OrderDecision, RiskReport, TickerSignal

MEMORY_ENTRIES = 5  # the default of LLM_MEMORY_ENTRIES

ANALYST_ANSWER = (
    'Answer with only a JSON object of this shape, nothing else: {"signals": [{"ticker": "<ticker>", '
    '"signal": "bull" | "bear" | "neutral", "confidence": <number 0-100>, '
    '"reasoning": "<one or two plain sentences>"}]}. '
    "Give exactly one entry for each ticker listed above and no other ticker."
)

REVISION_ANSWER = (
    'Answer with only a JSON object of this shape, nothing else: {"comment": "<what you say to the team, one '
    'or two sentences>", "signals": [{"ticker": "<ticker>", "signal": "bull" | "bear" | "neutral", '
    '"confidence": <number 0-100>, "reasoning": "<one or two plain sentences>"}]}. '
    "Give exactly one entry for each ticker listed above and no other ticker; keep a call you still hold."
)

SUMMARY_ANSWER = ('Answer with only a JSON object of this shape, nothing else: '
                  '{"summary": "<the conference\'s conclusion per ticker, a short paragraph>"}.')

RISK_ANSWER = (
    'Answer with only a JSON object of this shape, nothing else: {"limits": [{"ticker": "<ticker>", '
    '"max_position_value": <dollars >= 0>, "reasoning": "<one or two plain sentences>"}]}. '
    "Give exactly one entry for each ticker listed above and no other ticker. A limit above the computed "
    "one is cut to it: you may only tighten."
)

ANSWERS = {"signals": ANALYST_ANSWER, "revision": REVISION_ANSWER, "summary": SUMMARY_ANSWER,
           "limits": RISK_ANSWER}

PM_ANSWER = (
    'Answer with only a JSON object of this shape, nothing else: {"decisions": [{"ticker": "<ticker>", '
    '"action": "long" | "short" | "hold", "quantity": <whole number of shares >= 0>, '
    '"confidence": <number 0-100>, "reasoning": "<one or two plain sentences>"}]}. '
    '"long" buys (or covers a short), "short" sells (or goes short); "hold" trades nothing. '
    "Give exactly one entry for each ticker listed above and no other ticker."
)
ANSWERS["decisions"] = PM_ANSWER


def _block(data: Any) -> str:
    return json.dumps(data, sort_keys=True, indent=1, default=str)


def system_message(run_prompt: str, agent_id: str, role: str, persona: str) -> str:
    """The run's BOOTSTRAP body (the team's brief) followed by the agent's AGENT.md body."""
    parts = [run_prompt.strip(), f"## You are {agent_id} ({role.replace('_', ' ')})", persona.strip()]
    return "\n\n".join(p for p in parts if p)


def memory_lines(entries: list[dict[str, Any]]) -> str:
    """The reflections retrieved for today (most relevant first), one line each."""
    if not entries:
        return "(no reflections yet: this is your first day)"
    lines = []
    for entry in entries:
        score = entry.get("score")
        shown = "no score" if score is None else f"score {float(score):+.3f}"
        lines.append(f"- {entry.get('date', '?')} ({shown}): {str(entry.get('content', '')).strip()}")
    return "\n".join(lines)


MEMORY_HEAD = "Your past reflections most relevant to today (BM25 over your memory, best first):\n"


def _reference(rules_signals: list[TickerSignal]) -> list[dict[str, Any]]:
    return [{"ticker": s.ticker, "signal": s.signal, "confidence": s.confidence, "reasoning": s.reasoning}
            for s in rules_signals]


def analyst_message(date: str, tickers: list[str], memory: list[dict[str, Any]],
                    features: dict[str, Any] | None, rules_signals: list[TickerSignal],
                    tool_names: list[str] | None = None) -> str:
    """The analyst's day: memory, then either its tools to call or (no tools) today's skill features."""
    if tool_names:
        evidence = ("Your tools (" + ", ".join(tool_names) + ") compute your skill's features from data up to "
                    "yesterday's close. Call them for the tickers you want to look at before you answer; "
                    "each feature is in [-1, 1], positive = bullish.")
    else:
        evidence = ("Features your skill computed today from data up to yesterday's close, per ticker "
                    "(each feature is in [-1, 1], positive = bullish; `values` are the raw indicators):\n"
                    + _block({t: (features or {})[t] for t in sorted(features or {})}))
    return "\n\n".join([
        f"Trading day: {date}. Tickers: {', '.join(tickers)}.",
        MEMORY_HEAD + memory_lines(memory),
        evidence,
        "For reference, the rules policy's signals from the same features with your learned weights:\n"
        + _block(_reference(rules_signals)),
        "Give your own view of each ticker for today. " + ANALYST_ANSWER,
    ])


def revision_message(date: str, cycle: int, total: int, tickers: list[str], own: list[dict[str, Any]],
                     others: dict[str, list[dict[str, Any]]]) -> str:
    """A conference round: the analyst's current calls and the others', asked to revise or keep."""
    return "\n\n".join([
        f"Morning conference of {date}, round {cycle} of {total}. Tickers: {', '.join(tickers)}.",
        "Your current calls:\n" + _block(own),
        "The other analysts' current calls (agent -> calls):\n" + _block(others),
        "Say what you make of their views and revise any call you now see differently. " + REVISION_ANSWER,
    ])


def summary_message(date: str, tickers: list[str], calls: dict[str, list[dict[str, Any]]],
                    comments: list[dict[str, Any]], consensus: dict[str, float]) -> str:
    """The portfolio manager closes the conference with a written summary."""
    return "\n\n".join([
        f"You chair the morning conference of {date}. Tickers: {', '.join(tickers)}.",
        "The analysts' final calls (agent -> calls):\n" + _block(calls),
        "What they said, round by round:\n" + _block(comments),
        "The team's average score per ticker (in [-1, 1], positive = bullish):\n" + _block(consensus),
        "Write the conference's conclusion for the team. " + SUMMARY_ANSWER,
    ])


def risk_message(date: str, tickers: list[str], memory: list[dict[str, Any]], report: RiskReport,
                 prices: dict[str, float], positions: dict[str, float], equity: float,
                 tool_names: list[str] | None = None) -> str:
    """The risk manager's day: the computed limits and warnings, the book, and its tools."""
    limits = {lim.ticker: {"max_position_value": lim.max_position_value, "volatility": lim.volatility,
                           "warnings": lim.warnings} for lim in report.limits}
    parts = [
        f"Trading day: {date}. Tickers: {', '.join(tickers)}. Equity {equity:,.2f}.",
        MEMORY_HEAD + memory_lines(memory),
        f"Limits your risk skill computed (gross exposure {report.gross_exposure:.2f}x equity):\n" + _block(limits),
        "Last close per ticker:\n" + _block({t: prices[t] for t in sorted(prices)}),
        "Current position value per ticker (dollars, negative = short):\n"
        + _block({t: positions.get(t, 0.0) for t in tickers}),
    ]
    if tool_names:
        parts.append("Your tools (" + ", ".join(tool_names) + ") recompute the metrics for chosen tickers.")
    parts.append("Set today's position limits. " + RISK_ANSWER)
    return "\n\n".join(parts)


def pm_message(date: str, tickers: list[str], memory: list[dict[str, Any]], scores: dict[str, dict[str, float]],
               trust: dict[str, float], risk: RiskReport | None, prices: dict[str, float],
               positions: dict[str, int] | None, rules_orders: list[OrderDecision],
               conference: str | None = None) -> str:
    """The portfolio manager's day: analysts' final scores, risk limits, prices and the rules orders."""
    limits = {} if risk is None else {
        lim.ticker: {"max_position_value": lim.max_position_value, "volatility": lim.volatility,
                     "warnings": lim.warnings} for lim in risk.limits}
    book = ("unknown (size as if flat)" if positions is None
            else _block({t: positions.get(t, 0) for t in tickers}))
    return "\n\n".join(p for p in [
        f"Trading day: {date}. Tickers: {', '.join(tickers)}. Orders execute at today's open.",
        MEMORY_HEAD + memory_lines(memory),
        "Analysts' final scores after the conference (agent -> ticker -> score in [-1, 1], "
        "positive = bullish):\n" + _block(scores),
        None if not conference else "The conference's conclusion:\n" + conference,
        "Your trust in each analyst (recent hit rate, 0-1):\n" + _block(trust or {}),
        "Risk limits per ticker (max_position_value is the largest position, long or short, in dollars"
        + ("" if risk is None else f"; gross exposure {risk.gross_exposure:.2f}x equity") + "):\n"
        + _block(limits),
        "Last close per ticker:\n" + _block({t: prices[t] for t in sorted(prices)}),
        "Current position per ticker (shares, negative = short): " + book,
        "For reference, the rules policy's orders:\n" + _block([o.model_dump() for o in rules_orders]),
        "Decide today's orders. Never take a position larger than its limit. " + PM_ANSWER,
    ] if p)


def last_step_message() -> str:
    """Sent when the tool-calling steps are used up."""
    return "No more tool calls today: answer now from what you have."


def corrective_message(reason: str, tickers: list[str], kind: str) -> str:
    """Sent after an unusable answer: names what was wrong and asks once more."""
    return (f"Your previous answer could not be used: {reason}. "
            f"Tickers: {', '.join(tickers)}. " + ANSWERS[kind])
