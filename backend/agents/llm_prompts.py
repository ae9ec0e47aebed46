"""Prompt text of the `llm` policy: what an analyst or the portfolio manager is asked.

Every message is built from sorted keys and ``json.dumps(sort_keys=True)``
blocks, so the same day, memory and features always produce the same bytes
(the request is reproducible, and a cache or a recorded server can key on it).
"""

from __future__ import annotations

import json
from typing import Any

from backend.schema.trading import OrderDecision, RiskReport, TickerSignal

MEMORY_ENTRIES = 5

ANALYST_ANSWER = (
    'Answer with only a JSON object of this shape, nothing else: {"signals": [{"ticker": "<ticker>", '
    '"signal": "bull" | "bear" | "neutral", "confidence": <number 0-100>, '
    '"reasoning": "<one or two plain sentences>"}]}. '
    "Give exactly one entry for each ticker listed above and no other ticker."
)

PM_ANSWER = (
    'Answer with only a JSON object of this shape, nothing else: {"decisions": [{"ticker": "<ticker>", '
    '"action": "long" | "short" | "hold", "quantity": <whole number of shares >= 0>, '
    '"confidence": <number 0-100>, "reasoning": "<one or two plain sentences>"}]}. '
    '"long" buys (or covers a short), "short" sells (or goes short); "hold" trades nothing. '
    "Give exactly one entry for each ticker listed above and no other ticker."
)


def _block(data: Any) -> str:
    return json.dumps(data, sort_keys=True, indent=1, default=str)


def system_message(run_prompt: str, agent_id: str, role: str, persona: str) -> str:
    """The run's BOOTSTRAP body (the team's brief) followed by the agent's AGENT.md body."""
    parts = [run_prompt.strip(), f"## You are {agent_id} ({role.replace('_', ' ')})", persona.strip()]
    return "\n\n".join(p for p in parts if p)


def memory_lines(entries: list[dict[str, Any]]) -> str:
    """The agent's recent reflections, oldest first, one line each."""
    if not entries:
        return "(no reflections yet: this is your first day)"
    lines = []
    for entry in entries:
        score = entry.get("score")
        shown = "no score" if score is None else f"score {float(score):+.3f}"
        lines.append(f"- {entry.get('date', '?')} ({shown}): {str(entry.get('content', '')).strip()}")
    return "\n".join(lines)


def analyst_message(date: str, tickers: list[str], memory: list[dict[str, Any]],
                    features: dict[str, Any], rules_signals: list[TickerSignal]) -> str:
    """The analyst's day: memory, today's skill features and the rules signals as a reference."""
    reference = [{"ticker": s.ticker, "signal": s.signal, "confidence": s.confidence, "reasoning": s.reasoning}
                 for s in rules_signals]
    return "\n\n".join([
        f"Trading day: {date}. Tickers: {', '.join(tickers)}.",
        "Your recent reflections (oldest first):\n" + memory_lines(memory),
        "Features your skill computed today from data up to yesterday's close, per ticker "
        "(each feature is in [-1, 1], positive = bullish; `values` are the raw indicators):\n"
        + _block({t: features[t] for t in sorted(features)}),
        "For reference, the rules policy's signals from the same features with your learned weights:\n"
        + _block(reference),
        "Give your own view of each ticker for today. " + ANALYST_ANSWER,
    ])


def pm_message(date: str, tickers: list[str], memory: list[dict[str, Any]], scores: dict[str, dict[str, float]],
               trust: dict[str, float], risk: RiskReport | None, prices: dict[str, float],
               positions: dict[str, int] | None, rules_orders: list[OrderDecision]) -> str:
    """The portfolio manager's day: analysts' final scores, risk limits, prices and the rules orders."""
    limits = {} if risk is None else {
        lim.ticker: {"max_position_value": lim.max_position_value, "volatility": lim.volatility,
                     "warnings": lim.warnings} for lim in risk.limits}
    book = ("unknown (size as if flat)" if positions is None
            else _block({t: positions.get(t, 0) for t in tickers}))
    return "\n\n".join([
        f"Trading day: {date}. Tickers: {', '.join(tickers)}. Orders execute at today's open.",
        "Your recent reflections (oldest first):\n" + memory_lines(memory),
        "Analysts' final scores after the conference (agent -> ticker -> score in [-1, 1], "
        "positive = bullish):\n" + _block(scores),
        "Your trust in each analyst (recent hit rate, 0-1):\n" + _block(trust or {}),
        "Risk limits per ticker (max_position_value is the largest position, long or short, in dollars"
        + ("" if risk is None else f"; gross exposure {risk.gross_exposure:.2f}x equity") + "):\n"
        + _block(limits),
        "Last close per ticker:\n" + _block({t: prices[t] for t in sorted(prices)}),
        "Current position per ticker (shares, negative = short): " + book,
        "For reference, the rules policy's orders:\n" + _block([o.model_dump() for o in rules_orders]),
        "Decide today's orders. Never take a position larger than its limit. " + PM_ANSWER,
    ])


def corrective_message(reason: str, tickers: list[str], kind: str) -> str:
    """Sent after an unusable answer: names what was wrong and asks once more."""
    answer = ANALYST_ANSWER if kind == "signals" else PM_ANSWER
    return (f"Your previous answer could not be used: {reason}. "
            f"Tickers: {', '.join(tickers)}. " + answer)
