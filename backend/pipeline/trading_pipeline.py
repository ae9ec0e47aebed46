"""TradingPipeline: one trading day, stage by stage, as a stream of events.

Stage order (see docs/protocol.md): analysis -> risk -> conference ->
predictions -> decision -> approval -> execution (at the open) -> settlement
(at the close) -> reflection. Each stage is bracketed by ``pipeline_stage``
started/finished events and followed by ``control.after_stage`` so the
engine can checkpoint, pause or stop between stages.
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Any, Callable, Protocol

from backend.agents import conference, skill_inputs
from backend.agents.evo_agent import EvoAgent
from backend.agents.rules import analyst as analyst_rules
from backend.agents.rules import portfolio_manager as pm_rules
from backend.agents.rules import risk as risk_rules
from backend.market.base import MarketData, MarketSnapshot
from backend.pipeline.approval_gate import ApprovalGate, GateRequest, approve_all
from backend.pipeline.reflection import reflect
from backend.pipeline.run_state import RunState
from backend.pipeline.settlement import settle
from backend.pipeline.sim_clock import SimClock
from backend.schema import events as ev
from backend.schema.bootstrap import BootstrapConfig
from backend.schema.trading import OrderDecision, Prediction, RiskReport, TickerSignal
from backend.sandbox.executor import SkillExecutor

NEWS_WINDOW_DAYS = 10
Emit = Callable[[ev.Event], None]


class StageControl(Protocol):
    """Called by the pipeline between stages (the engine pauses, stops, saves)."""

    async def after_stage(self, stage: str) -> None: ...


class _NoControl:
    async def after_stage(self, stage: str) -> None:
        return None


class DayWork:
    """What one day's stages hand each other."""

    def __init__(self, date: dt.date) -> None:
        self.date = date
        self.iso = date.isoformat()
        self.snapshot = MarketSnapshot(date=date)
        self.features: dict[str, dict[str, Any]] = {}     # analyst -> ticker -> {features, values}
        self.scores: dict[str, dict[str, float]] = {}     # analyst -> ticker -> score
        self.predictions: list[Prediction] = []
        self.risk: RiskReport | None = None
        self.orders: list[OrderDecision] = []
        self.approved: list[tuple[OrderDecision, str | None]] = []
        self.trades: list[dict[str, Any]] = []
        self.context: dict[str, dict[str, Any]] = {}      # ticker -> facts behind the decision
        self.conference_summary: str | None = None        # an llm PM's written conclusion


_FLAT_MODELS = (TickerSignal, Prediction, OrderDecision)  # scalar fields only


def _flat_dump(model: Any) -> dict[str, Any]:
    """``model.model_dump()`` of a signal, prediction or decision, as a copy of its field dict:
    their fields are all scalars (nothing for model_dump to convert) and in declaration order,
    and the copy is several times faster (a day dumps ~100). Anything else is dumped."""
    if type(model) in _FLAT_MODELS and not model.__pydantic_extra__:
        return dict(model.__dict__)
    return model.model_dump()


def _contributions(final: dict[str, dict[str, float]]) -> dict[str, str]:
    """ticker -> each analyst's final lean on it, in the team's order ("technical bull, ..."),
    for the tickers of ``team_scores(final, ...)`` (sorted)."""
    label = analyst_rules.label
    leans: dict[str, list[str]] = {}
    for agent_id, scores in final.items():
        short = agent_id.split("_")[0]
        for t, s in scores.items():
            leans.setdefault(t, []).append(f"{short} {label(s)}")
    return {t: ", ".join(leans[t]) for t in sorted(leans)}


class _Stage:
    """One stage of a day (``async with``): ``pipeline_stage`` started, then finished (and
    ``control.after_stage``) or failed. A class, not a generator-based context manager: nine a day."""

    __slots__ = ("pipe", "work", "stage", "started")

    def __init__(self, pipe: "TradingPipeline", work: DayWork, stage: str) -> None:
        self.pipe, self.work, self.stage = pipe, work, stage
        self.started = 0.0

    async def __aenter__(self) -> None:
        pipe = self.pipe
        pipe.current_stage = self.stage
        pipe.emit(ev.pipeline_stage(pipe.run_id, self.work.iso, self.stage, "started", pipe.clock.ts(self.stage)))
        self.started = time.perf_counter()

    async def __aexit__(self, exc_type: Any, exc: Any, tb: Any) -> bool:
        pipe, stage = self.pipe, self.stage
        if exc_type is not None:
            if issubclass(exc_type, Exception):
                pipe.emit(ev.pipeline_stage(pipe.run_id, self.work.iso, stage, "failed", pipe.clock.ts(stage),
                                            round((time.perf_counter() - self.started) * 1000, 3)))
            return False
        pipe.emit(ev.pipeline_stage(pipe.run_id, self.work.iso, stage, "finished", pipe.clock.ts(stage),
                                    round((time.perf_counter() - self.started) * 1000, 3)))
        await pipe.control.after_stage(stage)
        return False


class TradingPipeline:
    """Runs trading days for one run.

    Args:
        run_id: the run's id (stamped on pipeline events).
        config: the run's BOOTSTRAP front matter.
        market: the market data provider.
        team: the six agents.
        state: the run's accumulated state (mutated day by day).
        executor: runs every skill call.
        emit: receives every event, in order.
        gate: the approval gate (default: approve everything).
        record_trade: receives each executed trade row (the engine journals it).
    """

    def __init__(self, run_id: str, config: BootstrapConfig, market: MarketData, team: list[EvoAgent],
                 state: RunState, executor: SkillExecutor, emit: Emit, gate: ApprovalGate = approve_all,
                 record_trade: Callable[[dict[str, Any]], None] | None = None,
                 control: StageControl | None = None, llm: Any | None = None) -> None:
        self.run_id = run_id
        self.config = config
        self.market = market
        self.team = team
        self.analysts = [a for a in team if a.is_analyst]
        self.risk_manager = next(a for a in team if a.role == "risk_manager")
        self.pm = next(a for a in team if a.role == "portfolio_manager")
        self.state = state
        self.executor = executor
        self.emit = emit
        self.gate = gate
        self.record_trade = record_trade or (lambda trade: None)
        self.control: StageControl = control or _NoControl()
        self.llm = llm
        if llm is not None and getattr(llm, "executor", False) is None:
            llm.executor = executor  # llm agents call their skills as tools through the run's sandbox
        self.clock = SimClock()
        self.current_stage: str | None = None
        self.signal_models: dict[int, Any] = {}  # the leaderboard's recent calls, validated once (settlement)

    # -- helpers --------------------------------------------------------------
    def _message(self, agent_id: str, content: str, stage: str, data: dict[str, Any] | None = None,
                 name: str | None = None) -> None:
        ts = self.clock.ts(stage)
        self.emit(ev.AgentMessage(agentId=agent_id, content=content, ts=ts, timestamp=self.clock.iso(ts),
                                  agentName=name, data=data))

    def _stage(self, work: DayWork, stage: str) -> "_Stage":
        return _Stage(self, work, stage)

    def _snapshot(self, date: dt.date) -> MarketSnapshot:
        """History up to the previous close: analysts never see the day they trade."""
        snap = MarketSnapshot(date=date)
        news_from = date - dt.timedelta(days=NEWS_WINDOW_DAYS)
        yesterday = date - dt.timedelta(days=1)
        for ticker in self.config.tickers:
            bars = self.market.bars(ticker, date, skill_inputs.LOOKBACK + 1)
            if bars and bars[-1].date >= date:
                bars = bars[:-1]
            snap.bars[ticker] = bars
            snap.fundamentals[ticker] = self.market.fundamentals(ticker, yesterday)
            snap.news[ticker] = self.market.news(ticker, news_from, yesterday)
        return snap

    async def _skill(self, agent: EvoAgent, payload: dict[str, Any]) -> dict[str, Any]:
        spec = agent.primary_skill
        if spec is None or not payload.get("tickers"):
            return {}
        result = (await self.executor.run_batch([(spec, payload)]))[0]
        if not result.ok:
            assert result.error is not None
            self.emit(ev.System(content=f"{agent.id}: skill {spec.name} failed ({result.error.kind}): "
                                        f"{result.error.message}"))
            return {}
        return result.output or {}

    # -- the day ----------------------------------------------------------------
    async def run_day(self, date: dt.date, progress_before: float, progress_after: float) -> DayWork:
        work = DayWork(date)
        self.clock.set_day(date)
        self.emit(ev.DayStart(date=work.iso, progress=round(progress_before, 6)))
        work.snapshot = self._snapshot(date)
        async with self._stage(work, "analysis"):
            await self._analysis(work)
        async with self._stage(work, "risk"):
            await self._risk(work)
        async with self._stage(work, "conference"):
            if self.llm is not None and any(a.policy == "llm" for a in self.analysts):
                await conference.hold(self, work, self.llm)  # a discussion in rounds (rules keep _conference)
            else:
                self._conference(work)
        async with self._stage(work, "predictions"):
            self._predictions(work)
        async with self._stage(work, "decision"):
            await self._decision(work)
        async with self._stage(work, "approval"):
            await self._approval(work)
        async with self._stage(work, "execution"):
            self._execution(work)
        async with self._stage(work, "settlement"):
            settle(self, work)
        async with self._stage(work, "reflection"):
            reflect(self, work)
        self.current_stage = None
        equity = self.state.equity()
        self.emit(ev.DayComplete(date=work.iso, progress=round(progress_after, 6), result={
            "portfolio_summary": {"total_value": round(equity, 2),
                                  "pnl_percent": round((equity / self.state.initial_cash - 1) * 100, 4)},
            "trades": len(work.trades),
        }))
        return work

    async def _analysis(self, work: DayWork) -> None:
        calls, agents = [], []
        for agent in self.analysts:
            payload = skill_inputs.ANALYST_PAYLOADS[agent.role](work.snapshot)
            if agent.primary_skill is not None and payload.get("tickers"):
                calls.append((agent.primary_skill, payload))
                agents.append(agent)
        results = await self.executor.run_batch(calls)  # one batched call per analyst
        outputs = {}
        for agent, result in zip(agents, results):
            if result.ok:
                outputs[agent.id] = (result.output or {}).get("tickers", {})
            else:
                assert result.error is not None
                self.emit(ev.System(content=f"{agent.id}: skill failed ({result.error.kind}): {result.error.message}"))
        # Each analyst's signals as their model_dump dicts (``signal_rows``: a rules analyst's are
        # built as dicts, not validated models; an llm analyst's answer is dumped).
        day_signals: dict[str, list[dict[str, Any]]] = {}
        for agent in self.analysts:
            features = outputs.get(agent.id, {})
            work.features[agent.id] = features
            day_signals[agent.id] = analyst_rules.signal_rows(features, agent.weights, self.config.tickers)
        asked = [a for a in self.analysts if a.policy == "llm"]
        if asked and self.llm is not None:  # the llm analysts of the day ask at once (capped by the policy)
            rules = {a.id: [TickerSignal(**row) for row in day_signals[a.id]] for a in asked}
            answers = await self.llm.analyse_many(asked, work, rules, self.emit)
            day_signals.update({a: [_flat_dump(s) for s in signals] for a, signals in answers.items()})
        by_ticker: dict[str, list[dict[str, Any]]] = {}  # ticker -> its context's "signals" list
        for agent in self.analysts:
            self._report_signals(work, agent.id, day_signals[agent.id], by_ticker)

    def _report_signals(self, work: DayWork, agent_id: str, rows: list[dict[str, Any]],
                        by_ticker: dict[str, list[dict[str, Any]]]) -> None:
        """An analyst's signals: its scores, the decision's context, and its analysis message."""
        scores: dict[str, float] = {}
        parts = []
        for row in rows:
            ticker = row["ticker"]
            scores[ticker] = row["score"]
            signal, conf, reasoning = row["signal"], row["confidence"], row["reasoning"]
            context = by_ticker.get(ticker)
            if context is None:
                context = by_ticker[ticker] = work.context.setdefault(ticker, {}).setdefault("signals", [])
            context.append({"agentId": agent_id, "signal": signal, "confidence": conf, "reasoning": reasoning})
            parts.append(f"{ticker} {signal} ({conf:.0f}): {reasoning}")
        work.scores[agent_id] = scores
        self._message(agent_id, "; ".join(parts), "analysis", {"signals": rows})

    async def _risk(self, work: DayWork) -> None:
        prices = {t: bars[-1].close for t, bars in work.snapshot.bars.items() if bars}
        equity = self.state.portfolio.equity(prices) if prices else self.state.portfolio.cash
        positions = {t: self.state.portfolio.net_quantity(t) * p for t, p in prices.items()}
        payload = skill_inputs.risk_payload(work.snapshot, equity, positions)
        output = await self._skill(self.risk_manager, payload)
        work.risk = risk_rules.risk_report(work.iso, output, self.config.tickers, equity)
        if self.risk_manager.policy == "llm" and self.llm is not None:
            work.risk = await self.llm.assess(self.risk_manager, work, work.risk, payload, equity, positions,
                                              self.emit)
        for lim in work.risk.limits:
            work.context.setdefault(lim.ticker, {})["risk_warnings"] = lim.warnings
        self._message(self.risk_manager.id, risk_rules.describe(work.risk), "risk",
                      {"limits": [lim.model_dump() for lim in work.risk.limits], "warnings": work.risk.warnings})

    def _conference(self, work: DayWork) -> None:
        label = analyst_rules.label
        cycles = self.config.max_comm_cycles
        conference_id = f"{self.run_id}-{work.iso}"
        participants = [a.id for a in self.analysts]
        self.emit(ev.ConferenceStart(conferenceId=conference_id, title=f"Morning conference {work.iso}",
                                     date=work.iso, participants=participants, ts=self.clock.ts("conference")))
        for cycle in range(1, cycles + 1):
            self.emit(ev.ConferenceCycleStart(cycle=cycle, totalCycles=cycles))
            # The scores as the cycle began (revise returns new dicts: the ones
            # in ``before`` are never changed, so a shallow copy keeps them).
            before = dict(work.scores)
            for agent in self.analysts:
                me = agent.id
                own = before[me]
                others: dict[str, list[float]] = {}
                for other_id, scores in before.items():
                    if other_id != me:
                        for t, s in scores.items():
                            others.setdefault(t, []).append(s)
                revised = analyst_rules.revise(own, others)
                work.scores[me] = revised
                moved = sorted(revised, key=lambda t: -abs(revised[t] - own[t]))[:3]
                lines = [f"{t} {label(own[t])}->{label(revised[t])} ({own[t]:+.2f}->{revised[t]:+.2f})"
                         for t in moved]
                self.emit(ev.ConferenceMessage(agentId=me, content="Revising after hearing the team: "
                                               + ", ".join(lines), ts=self.clock.ts("conference")))
            self.emit(ev.ConferenceCycleEnd(cycle=cycle))
        self.emit(ev.ConferenceEnd(ts=self.clock.ts("conference"), conferenceId=conference_id))
        consensus = pm_rules.team_scores(work.scores, {})
        summary = []
        for t, s in consensus.items():
            lean = f"{label(s)} ({s:+.2f})"
            summary.append(f"{t} {lean}")
            work.context.setdefault(t, {})["conference_summary"] = f"team leans {lean}"
        self._message("conference summary", f"Consensus after {cycles} cycle(s): {', '.join(summary)}", "conference")

    def _predictions(self, work: DayWork) -> None:
        for agent in self.analysts:
            # The calls as their model_dump dicts (for the message) and as models (for scoring).
            rows = analyst_rules.prediction_rows(agent.id, work.iso, work.scores[agent.id])
            work.predictions.extend([Prediction(**row) for row in rows])
            content = ", ".join([f"{row['ticker']} {row['direction']} ({row['confidence']:.0f})" for row in rows])
            self._message(agent.id, f"Final calls: {content}", "predictions", {"predictions": rows})

    async def _decision(self, work: DayWork) -> None:
        assert work.risk is not None
        prices = {t: bars[-1].close for t, bars in work.snapshot.bars.items() if bars}
        portfolio = self.state.portfolio
        scores = pm_rules.team_scores(work.scores, self.pm.trust)
        contributions = _contributions(work.scores)
        work.orders = pm_rules.decide(
            scores, work.risk, prices, {t: portfolio.net_quantity(t) for t in self.config.tickers},
            portfolio.equity(prices) if prices else portfolio.cash,
            portfolio.cash - portfolio.margin_used, contributions)
        if self.pm.policy == "llm" and self.llm is not None:
            work.orders = await self.llm.decide(self.pm, work, work.orders, self.emit,
                                                positions={t: portfolio.net_quantity(t) for t in self.config.tickers})
        for order in work.orders:
            work.context.setdefault(order.ticker, {})["pm_reasoning"] = order.reasoning
        content = "; ".join(f"{o.ticker} {o.action} {o.quantity} (conf {o.confidence:.0f}): {o.reasoning}"
                            for o in work.orders)
        self._message(self.pm.id, content, "decision", {"decisions": [_flat_dump(o) for o in work.orders]})

    async def _approval(self, work: DayWork) -> None:
        active = [o for o in work.orders if o.action != "hold" and o.quantity > 0]
        if self.config.approval.mode == "none" or not active:
            work.approved = [(o, None) for o in active]
            return
        prices = {t: bars[-1].close for t, bars in work.snapshot.bars.items() if bars}
        portfolio = self.state.portfolio
        request = GateRequest(
            run_id=self.run_id, date=work.iso, orders=active, prices=prices,
            equity=portfolio.equity(prices) if prices else portfolio.cash,
            positions_value={t: portfolio.net_quantity(t) * p for t, p in prices.items()},
            context={t: work.context.get(t, {}) for t in {o.ticker for o in active}},
        )
        outcomes = await self.gate(request)
        work.approved = [(o.order, o.approval_id) for o in outcomes if o.approved and o.order.quantity > 0]

    def _execution(self, work: DayWork) -> None:
        portfolio = self.state.portfolio
        ts = self.clock.ts("execution")
        for seq, (order, approval_id) in enumerate(work.approved, start=1):
            bar = self.market.bar(order.ticker, work.date)
            trade_id = f"T{work.date:%Y%m%d}-{seq:03d}"
            result = portfolio.execute(order, bar.open, work.iso, trade_id, ts, approval_id=approval_id)
            if result.trade is None:
                if result.rejected:
                    self.emit(ev.System(content=f"Order rejected: {order.ticker} {order.action} "
                                                f"{order.quantity}: {result.rejected}"))
                continue
            row = result.trade.model_dump(exclude_none=True)
            work.trades.append(row)
            self.state.add_trade(row)
            self.record_trade(row)
        if work.trades:
            self.emit(ev.TeamTrades(mode="incremental", data=work.trades))
        # The day's holdings are streamed at settlement, at the close (backend/pipeline/settlement.py).
