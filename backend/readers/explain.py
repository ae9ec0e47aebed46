"""Explainer: why the team did what it did with a ticker on a day, from the events log.

For a trade it looks the trade up in ``state/trades.jsonl`` and explains
its ticker on its trading date; for a decision it takes the date and ticker
as given. Both read the run's ``EventIndex`` (see event_index.py), and the
tool calls of `llm` agents from their ``agents/<id>/transcripts.jsonl``.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from backend.agents import transcripts
from backend.errors import NotFoundError
from backend.readers.event_index import DayRecord, EventIndex, EventIndexes
from backend.readers.paging import norm_ticker
from backend.readers.run_files import RunConfigs
from backend.readers.trade_log import TradeLogs
from backend.schema import api_news as api
from backend.schema.trading import Trade
from backend.storage.run_store import RunStore


def _ticker_re(ticker: str) -> re.Pattern[str]:
    return re.compile(rf"(?<![A-Za-z0-9.\-]){re.escape(ticker)}(?![A-Za-z0-9\-])")


def _ticker_view(summary: str, ticker: str) -> str | None:
    """``"bear (-0.16)"`` out of ``"... GOOGL bear (-0.16), ..."``."""
    match = re.search(_ticker_re(ticker).pattern + r"\s+(\w+\s*\([^)]*\))", summary)
    return match.group(1) if match else None


def _about(result: Any, ticker: str) -> Any:
    """The part of a tool's result about ``ticker`` (a skill's ``tickers`` entry), else all of it."""
    if isinstance(result, dict) and isinstance(result.get("tickers"), dict):
        return {"tickers": {ticker: result["tickers"][ticker]}} if ticker in result["tickers"] else None
    return result


def _approval(approval_id: str, entry: dict[str, Any]) -> api.ApprovalView:
    requested = entry.get("requested") or {}
    resolved = entry.get("resolved") or {}
    return api.ApprovalView(
        approval_id=approval_id, status=resolved.get("decision") or ("requested" if requested else "unknown"),
        requested_quantity=requested.get("quantity"), notional=requested.get("notional"),
        reasoning=requested.get("reasoning"), decided_by=resolved.get("decided_by"),
        reason=resolved.get("reason"), quantity=resolved.get("quantity"))


def _summary(date: str, ticker: str, trade: Trade | None, ex: api.Explanation) -> str:
    parts = []
    if trade is not None:
        parts.append(f"On {date} the team went {trade.action} {trade.quantity} {ticker} at {trade.price:,.2f} "
                     f"(trade {trade.id}).")
    elif ex.decision is not None:
        parts.append(f"On {date} the portfolio manager decided {ex.decision.action} {ex.decision.quantity} "
                     f"{ticker}.")
    if ex.signals:
        parts.append("Analysts: " + ", ".join(f"{s.agent_id} {s.signal} ({s.confidence:.0f})"
                                              for s in ex.signals) + ".")
    if ex.conference is not None and ex.conference.ticker_view:
        parts.append(f"Conference consensus: {ex.conference.ticker_view}.")
    if ex.risk is not None and ex.risk.max_position_value is not None:
        warn = f"; warnings: {'; '.join(ex.risk.warnings)}" if ex.risk.warnings else ""
        parts.append(f"Risk limit {ex.risk.max_position_value:,.0f} USD{warn}.")
    if ex.tool_calls:
        parts.append("Tools called: " + ", ".join(f"{c.agent_id} {c.tool}" + ("" if c.ok else " (failed)")
                                                  for c in ex.tool_calls) + ".")
    if ex.decision is not None:
        parts.append(f"Portfolio manager (confidence {ex.decision.confidence:.0f}): {ex.decision.reasoning}")
    if ex.approval is not None:
        parts.append(f"Approval {ex.approval.approval_id}: {ex.approval.status}"
                     + (f" by {ex.approval.decided_by}" if ex.approval.decided_by else "") + ".")
    return " ".join(parts)


class Explainer:
    """Explanations of trades and decisions of any run.

    Args:
        store: the runs.
        events: shared per-run event indexes.
        trades: shared per-run trade journals.
    """

    def __init__(self, store: RunStore, events: EventIndexes | None = None, trades: TradeLogs | None = None) -> None:
        self.store = store
        self.configs = RunConfigs(store)
        self.events = events or EventIndexes(store)
        self.trades = trades or TradeLogs(store)

    def explain_trade(self, run_id: str, trade_id: str) -> api.Explanation:
        trade = self.trades.find(run_id, trade_id)
        if trade is None:
            raise NotFoundError(f"run {run_id!r} has no trade {trade_id!r}")
        return self._explain(run_id, trade.trading_date, trade.ticker, trade)

    def explain_decision(self, run_id: str, date: dt.date, ticker: str) -> api.Explanation:
        ticker = norm_ticker(ticker) or ""
        config = self.configs.get(run_id)
        if ticker not in config.tickers:
            raise NotFoundError(f"run {run_id!r} does not trade {ticker!r} (tickers: {', '.join(config.tickers)})")
        day = date.isoformat()
        trade = next((t for t in self.trades.select(run_id, ticker, date, date)), None)
        return self._explain(run_id, day, ticker, trade)

    def _explain(self, run_id: str, date: str, ticker: str, trade: Trade | None) -> api.Explanation:
        index = self.events.get(run_id)
        with index.lock:  # a concurrent refresh must not change the day while it is read
            record = index.day(date)
            if record is None:
                raise NotFoundError(f"run {run_id!r} has no events for {date} (not one of its trading days, "
                                    "or not reached yet)")
            ex = self._assemble(index, record, run_id, date, ticker, trade)
        if not (ex.signals or ex.decision or ex.risk or trade):
            raise NotFoundError(f"run {run_id!r} has nothing about {ticker} on {date}")
        ex.summary = _summary(date, ticker, trade, ex)
        return ex

    def _assemble(self, index: EventIndex, record: DayRecord, run_id: str, date: str, ticker: str,
                  trade: Trade | None) -> api.Explanation:
        signals = [api.AnalystSignal(agent_id=agent, signal=str(s.get("signal")),
                                     confidence=float(s.get("confidence", 0.0)), reasoning=str(s.get("reasoning", "")),
                                     score=s.get("score"))
                   for agent, items in record.signals.items() for s in items if s.get("ticker") == ticker]
        calls = [api.FinalCall(agent_id=agent, direction=str(p.get("direction")),
                               confidence=float(p.get("confidence", 0.0)))
                 for agent, items in record.predictions.items() for p in items if p.get("ticker") == ticker]
        risk = None
        limit = record.risk_limits.get(ticker)
        if limit is not None or record.risk_warnings:
            limit = limit or {}
            risk = api.RiskView(max_position_value=limit.get("max_position_value"), volatility=limit.get("volatility"),
                                warnings=[str(w) for w in limit.get("warnings") or []],
                                portfolio_warnings=record.risk_warnings)
        conference = None
        if record.conference_summary is not None or record.revisions:
            pattern = _ticker_re(ticker)
            conference = api.ConferenceView(
                summary=record.conference_summary or "",
                ticker_view=_ticker_view(record.conference_summary or "", ticker),
                revisions=[api.ConferenceRevision(agent_id=a, cycle=c, text=t)
                           for a, c, t in record.revisions if pattern.search(t)])
        decision = None
        d = record.decisions.get(ticker)
        if d is not None:
            decision = api.DecisionView(action=str(d.get("action")), quantity=int(d.get("quantity", 0)),
                                        confidence=float(d.get("confidence", 0.0)), reasoning=str(d.get("reasoning", "")))
        approval = None
        if trade is not None and trade.approval_id:
            approval = _approval(trade.approval_id, index.approvals.get(trade.approval_id, {}))
        else:
            filed = index.approvals_for(date, ticker)
            if filed:
                approval = _approval(*filed[-1])
        return api.Explanation(run_id=run_id, date=date, ticker=ticker, trade=trade, signals=signals,
                               final_calls=calls, risk=risk, conference=conference, decision=decision,
                               approval=approval, tool_calls=self._tool_calls(run_id, date, ticker), summary="")

    def _tool_calls(self, run_id: str, date: str, ticker: str) -> list[api.AgentToolCall]:
        """The tool calls `llm` agents made about ``ticker`` on ``date`` (the last try of each turn)."""
        agents_dir = self.store.paths(run_id).agents_dir
        if not agents_dir.is_dir():
            return []
        out = []
        for folder in sorted(p for p in agents_dir.iterdir() if p.is_dir()):
            last: dict[tuple[str, str], dict[str, Any]] = {}
            for record in transcripts.read(folder, date):  # a resumed day's turn is asked again: keep the last
                last[(str(record.get("stage")), str(record.get("kind")))] = record
            for (stage, _), record in last.items():
                for call in transcripts.tool_calls(record, ticker):
                    out.append(api.AgentToolCall(agent_id=folder.name, stage=stage, tool=str(call.get("name")),
                                                 arguments=call.get("arguments") or {}, ok=bool(call.get("ok")),
                                                 result=_about(call.get("result"), ticker)))
        return out
