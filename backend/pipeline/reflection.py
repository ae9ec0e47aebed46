"""Reflection after the close: every agent scores its day, writes a memory
entry and adapts (analyst feature weights, the PM's trust in each analyst).

A run whose config says ``evolution: frozen`` keeps the weights and trust it
started with (day 0): its agents still score their day and remember it, so a
frozen run differs from an evolving one only in what it learns."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from backend.agents.rules import analyst as analyst_rules
from backend.agents.rules import portfolio_manager as pm_rules
from backend.schema import events as ev

if TYPE_CHECKING:
    from backend.schema.bootstrap import BootstrapConfig
    from backend.pipeline.trading_pipeline import DayWork, TradingPipeline


def is_evolving(config: "BootstrapConfig") -> bool:
    """Whether reflection adapts the team (absent ``evolution`` means evolving)."""
    return config.evolution != "frozen"


def reflect(pipe: "TradingPipeline", work: "DayWork") -> None:
    state = pipe.state
    realized = {t: pipe.market.bar(t, work.date).ret for t in pipe.config.tickers}
    hit_rates: dict[str, float | None] = getattr(work, "hit_rates", {})
    evolving = is_evolving(pipe.config)
    for agent in pipe.analysts:
        rate = hit_rates.get(agent.id)
        if evolving:
            before = agent.weights  # learn returns a new dict: this one stays as it was
            agent.weights = analyst_rules.learn(before, work.features.get(agent.id, {}), realized)
            shift = _weight_shift(before, agent.weights)
        else:
            shift = "frozen (evolution off)"
        verdict = "no directional calls" if rate is None else f"{rate:.0%} of my calls were right"
        _remember(pipe, agent, work.iso, rate, f"{work.iso}: {verdict}; weights {shift}.",
                  {"weights": dict(agent.weights)})

    pm = pipe.pm
    if evolving:
        pm.trust = pm_rules.update_trust(pm.trust, {a.id: hit_rates.get(a.id) for a in pipe.analysts})
    equity = state.curve_values("equity")
    day_ret = (equity[-1] / equity[-2] - 1.0) if len(equity) >= 2 else (equity[-1] / state.initial_cash - 1.0)
    trust = ", ".join(f"{a} {v:.2f}" for a, v in sorted(pm.trust.items()))
    _remember(pipe, pm, work.iso, day_ret, f"{work.iso}: portfolio {day_ret:+.2%} today with "
              f"{len(work.trades)} trade(s); trust now {trust}.", {"trust": dict(pm.trust)})

    rm = pipe.risk_manager
    warnings = len(work.risk.warnings) if work.risk else 0
    peak = max(equity) if equity else state.initial_cash
    drawdown = (1.0 - equity[-1] / peak) if equity else 0.0
    _remember(pipe, rm, work.iso, -drawdown, f"{work.iso}: drawdown from peak {drawdown:.2%}; "
              f"{warnings} warning(s) raised.", {})

    best, best_rate = _best_analyst(pipe)
    equity_now = equity[-1] if equity else state.initial_cash
    log = (f"{work.iso}: equity {equity_now:,.2f} ({(equity_now / state.initial_cash - 1):+.2%} total, "
           f"{day_ret:+.2%} today), {len(work.trades)} trade(s)")
    if best is not None:
        log += f"; best analyst so far {best.id} ({best_rate:.0%})"
    ts = pipe.clock.ts("reflection")
    pipe.emit(ev.AgentMessage(agentId="Daily Log", content=log + ".", ts=ts, timestamp=pipe.clock.iso(ts)))


def _weight_shift(before: dict[str, float], after: dict[str, float]) -> str:
    """The two weights that moved most today ("trend 1.00->1.02, rsi 1.00->0.98")."""
    moved = sorted(after, key=lambda f: -abs(after[f] - before.get(f, 1.0)))[:2]
    return ", ".join([f"{f} {before.get(f, 1.0):.2f}->{after[f]:.2f}" for f in moved]) or "no change"


def _best_analyst(pipe: "TradingPipeline") -> tuple[Any, float]:
    """The analyst with the best win rate so far (the first of equals, as ``max`` picks) and
    that rate, each rate worked out once."""
    win_rate = pipe.state.leaderboard.win_rate
    best, best_rate = None, 0.0
    for agent in pipe.analysts:
        rate = win_rate(agent.id)
        if best is None or rate > best_rate:
            best, best_rate = agent, rate
    return best, best_rate


def _remember(pipe: "TradingPipeline", agent, date: str, score: float | None, content: str,
              extra: dict) -> None:
    entry = {"date": date, "agent_id": agent.id, "score": None if score is None else round(score, 6),
             "content": content, **extra}
    agent.memory.append(entry)
    pipe.emit(ev.Memory(agentId=agent.id, content=content, ts=pipe.clock.ts("reflection"),
                        score=entry["score"]))
