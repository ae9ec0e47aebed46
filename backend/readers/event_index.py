"""EventIndex: what each trading day of a run said, indexed from ``logs/events.jsonl``.

The log of a one-year run holds tens of thousands of events (16 MB); an
explanation needs a handful of them. The index is built on first use and
then extended with whatever the log gained since (see ``JsonlTail``), so a
run that is still being written is explained as far as it has got.

Per trading day it keeps the analysts' signals (``agent_message`` with
``data.signals``), the risk manager's limits and warnings (``data.limits``),
the conference (revisions and the ``"conference summary"`` message), the
final calls (``data.predictions``) and the portfolio manager's decisions
(``data.decisions``); across days, approvals by id. Events are attributed
to the day of the latest ``day_start``; a day that starts again (a run
resumed after an interruption) replaces what the interrupted attempt left.
"""

from __future__ import annotations

import itertools
import os
import re
import threading
from dataclasses import dataclass, field
from typing import Any

from backend.storage.jsonl import JsonlTail
from backend.readers.run_files import require_run
from backend.schema.api_trading import SignalRecord
from backend.storage.run_store import RunStore

CONFERENCE_SUMMARY = "conference summary"
WANTED = frozenset({"day_start", "agent_message", "conference_start", "conference_cycle_start",
                    "conference_message", "approval_requested", "approval_resolved"})
_versions = itertools.count(1)
_TYPE_RE = re.compile(rb'^\{\s*"type"\s*:\s*"([A-Za-z_]+)"')


def _wanted_line(line: bytes) -> bool:
    """Skip the bulk of the log (stages, prices, curves, leaderboards) without parsing it."""
    match = _TYPE_RE.match(line)
    return match is None or match.group(1).decode() in WANTED


@dataclass
class DayRecord:
    """What one trading day's events said, ticker by ticker."""

    date: str
    signals: dict[str, list[dict[str, Any]]] = field(default_factory=dict)       # agent -> signals
    predictions: dict[str, list[dict[str, Any]]] = field(default_factory=dict)   # agent -> final calls
    risk_limits: dict[str, dict[str, Any]] = field(default_factory=dict)         # ticker -> limit
    risk_warnings: list[str] = field(default_factory=list)
    conference_summary: str | None = None
    revisions: list[tuple[str, int, str]] = field(default_factory=list)          # (agent, cycle, text)
    decisions: dict[str, dict[str, Any]] = field(default_factory=dict)           # ticker -> decision
    decision_text: str | None = None


def _list_of_dicts(value: Any) -> list[dict[str, Any]]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


class EventIndex:
    """The index of one run's events log (call ``refresh()`` before reading).

    Args:
        tail: the incremental reader of the run's ``logs/events.jsonl``.
    """

    def __init__(self, tail: JsonlTail) -> None:
        self.tail = tail
        self.lock = threading.Lock()
        self._reset()

    def _reset(self) -> None:
        self.days: dict[str, DayRecord] = {}
        self.approvals: dict[str, dict[str, Any]] = {}
        self._day: DayRecord | None = None
        self._cycle = 0
        self._signal_records: list[SignalRecord] | None = None
        self._signal_groups: dict[str, dict[str, list[SignalRecord]]] | None = None
        self.version = next(_versions)  # changes whenever what the index says changes

    def refresh(self) -> "EventIndex":
        with self.lock:
            restarted, events = self.tail.poll()
            if restarted:
                self._reset()
            if events:
                for event in events:
                    self._add(event)
                self._signal_records = self._signal_groups = None
                self.version = next(_versions)
        return self

    def up_to_date(self) -> bool:
        """True when the log has not grown or been replaced since the last refresh (one ``stat``, no read)."""
        try:
            st = os.stat(self.tail.path)
        except FileNotFoundError:
            return False
        return st.st_ino == self.tail._ino and st.st_size == self.tail.offset

    def _current(self, event: dict[str, Any]) -> DayRecord | None:
        if self._day is None:
            # No day_start seen (a log that begins mid-day): fall back on the event's own date.
            stamp = event.get("timestamp") or event.get("date")
            if isinstance(stamp, str) and len(stamp) >= 10:
                self._day = self.days.setdefault(stamp[:10], DayRecord(stamp[:10]))
        return self._day

    def _add(self, event: dict[str, Any]) -> None:
        kind = event.get("type")
        if kind == "day_start" and isinstance(event.get("date"), str):
            date = event["date"]
            self._day = self.days[date] = DayRecord(date)  # a restarted day replaces the old attempt
            self._cycle = 0
        elif kind == "conference_start" and isinstance(event.get("date"), str):
            if self._day is None or self._day.date != event["date"]:
                self._day = self.days.setdefault(event["date"], DayRecord(event["date"]))
            self._day.revisions.clear()
        elif kind == "conference_cycle_start":
            self._cycle = event.get("cycle") if isinstance(event.get("cycle"), int) else self._cycle + 1
        elif kind == "conference_message":
            day = self._current(event)
            if day is not None:
                day.revisions.append((str(event.get("agentId", "")), self._cycle, str(event.get("content", ""))))
        elif kind == "agent_message":
            self._agent_message(event)
        elif kind == "approval_requested" and isinstance(event.get("approval_id"), str):
            entry = self.approvals.setdefault(event["approval_id"], {})
            entry["requested"] = event
        elif kind == "approval_resolved" and isinstance(event.get("approval_id"), str):
            entry = self.approvals.setdefault(event["approval_id"], {})
            entry["resolved"] = event

    def _agent_message(self, event: dict[str, Any]) -> None:
        agent = event.get("agentId")
        if not isinstance(agent, str):
            return
        data = event.get("data") if isinstance(event.get("data"), dict) else {}
        day = self._current(event)
        if day is None:
            return
        if agent == CONFERENCE_SUMMARY:
            day.conference_summary = str(event.get("content", ""))
        if "signals" in data:
            day.signals[agent] = _list_of_dicts(data["signals"])
        if "limits" in data:
            day.risk_limits = {lim["ticker"]: lim for lim in _list_of_dicts(data["limits"]) if "ticker" in lim}
            day.risk_warnings = [str(w) for w in data.get("warnings") or [] if isinstance(w, str)]
        if "predictions" in data:
            day.predictions[agent] = _list_of_dicts(data["predictions"])
        if "decisions" in data:
            day.decisions = {d["ticker"]: d for d in _list_of_dicts(data["decisions"]) if "ticker" in d}
            day.decision_text = str(event.get("content", ""))

    # -- reading ----------------------------------------------------------------------
    def day(self, date: str) -> DayRecord | None:
        return self.days.get(date)

    def signal_records(self) -> list[SignalRecord]:
        """Every analyst signal, by date then the order the analysts spoke (built once per growth)."""
        with self.lock:
            records = self._signal_records
            if records is None:
                records = []
                for date in sorted(self.days):
                    for agent, signals in self.days[date].signals.items():
                        for s in signals:
                            try:
                                records.append(SignalRecord(
                                    date=date, agent_id=agent, ticker=str(s["ticker"]), signal=str(s["signal"]),
                                    confidence=float(s.get("confidence", 0.0)), reasoning=str(s.get("reasoning", "")),
                                    score=s.get("score") if isinstance(s.get("score"), (int, float)) else None))
                            except (KeyError, TypeError, ValueError):
                                continue  # a malformed signal is left out, not fatal
                self._signal_records = records
            return records

    def signals_where(self, agent_id: str | None = None, ticker: str | None = None,
                      date: str | None = None) -> list[SignalRecord]:
        """The signal records matching every given filter, in :meth:`signal_records` order.

        Records are grouped by agent, ticker and date once per growth of the
        log; a query starts from the smallest group it names and filters
        only that, so it costs the size of the answer, not of the run.
        """
        records = self.signal_records()
        if not (agent_id or ticker or date):
            return records
        with self.lock:
            groups = self._signal_groups
            if groups is None:
                groups = {"agent": {}, "ticker": {}, "date": {}}
                for r in records:
                    groups["agent"].setdefault(r.agent_id, []).append(r)
                    groups["ticker"].setdefault(r.ticker, []).append(r)
                    groups["date"].setdefault(r.date, []).append(r)
                self._signal_groups = groups
        wanted = [(kind, value) for kind, value in (("agent", agent_id), ("ticker", ticker), ("date", date)) if value]
        start = min((groups[kind].get(value, []) for kind, value in wanted), key=len)
        if len(wanted) == 1:
            return start
        return [r for r in start if (not agent_id or r.agent_id == agent_id) and (not ticker or r.ticker == ticker)
                and (not date or r.date == date)]

    def approvals_for(self, date: str, ticker: str) -> list[tuple[str, dict[str, Any]]]:
        """Approvals requested for a ticker on a date, in the order they were filed."""
        return [(aid, entry) for aid, entry in self.approvals.items()
                if entry.get("requested", {}).get("date") == date
                and entry.get("requested", {}).get("ticker") == ticker]


class EventIndexes:
    """One lazily built, incrementally refreshed ``EventIndex`` per run.

    Args:
        store: the runs.
        capacity: most runs indexed at once (least recently used dropped).
    """

    def __init__(self, store: RunStore, capacity: int = 16) -> None:
        self.store = store
        self.capacity = capacity
        self._indexes: dict[str, EventIndex] = {}
        self._lock = threading.Lock()

    def peek(self, run_id: str) -> EventIndex | None:
        """The run's index as it stands, if there is one (neither refreshed nor created)."""
        with self._lock:
            return self._indexes.get(run_id)

    def get(self, run_id: str) -> EventIndex:
        """The run's index, brought up to date with its log."""
        paths = require_run(self.store, run_id)
        with self._lock:
            index = self._indexes.pop(run_id, None) or EventIndex(JsonlTail(paths.events_log, _wanted_line))
            self._indexes[run_id] = index
            while len(self._indexes) > self.capacity:
                self._indexes.pop(next(iter(self._indexes)))
        return index.refresh()
