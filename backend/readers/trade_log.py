"""Each run's ``state/trades.jsonl`` as validated trades, read incrementally."""

from __future__ import annotations

import bisect
import datetime as dt
import itertools
import threading
from dataclasses import dataclass, field

from pydantic import ValidationError

from backend.storage.jsonl import JsonlTail
from backend.readers.run_files import require_run
from backend.schema.trading import Trade
from backend.storage.run_store import RunStore

_versions = itertools.count(1)


@dataclass(frozen=True)
class TradeSnapshot:
    """The trades of a run at one moment; replaced, never changed, when the journal grows.

    ``version`` is unique across snapshots, so it can key caches of answers.
    Trades are oldest first (the journal is in execution order, so by date).
    """

    version: int
    trades: tuple[Trade, ...] = ()
    by_id: dict[str, int] = field(default_factory=dict)
    by_ticker: dict[str, tuple[Trade, ...]] = field(default_factory=dict)

    def extended(self, new: list[Trade]) -> "TradeSnapshot":
        trades = self.trades + tuple(new)
        by_id = dict(self.by_id)
        by_id.update({t.id: len(self.trades) + i for i, t in enumerate(new)})
        by_ticker = dict(self.by_ticker)
        for ticker in {t.ticker for t in new}:
            by_ticker[ticker] = by_ticker.get(ticker, ()) + tuple(t for t in new if t.ticker == ticker)
        return TradeSnapshot(next(_versions), trades, by_id, by_ticker)

    def select(self, ticker: str | None = None, date_from: dt.date | None = None,
               date_to: dt.date | None = None) -> tuple[Trade, ...]:
        """Trades of a ticker (or all) dated in [date_from, date_to], oldest first."""
        trades = self.trades if ticker is None else self.by_ticker.get(ticker, ())
        if date_from is None and date_to is None:
            return trades
        dates = [t.trading_date for t in trades]
        lo = bisect.bisect_left(dates, date_from.isoformat()) if date_from else 0
        hi = bisect.bisect_right(dates, date_to.isoformat()) if date_to else len(trades)
        return trades[lo:hi]


@dataclass
class _RunTrades:
    tail: JsonlTail
    snapshot: TradeSnapshot = field(default_factory=lambda: TradeSnapshot(next(_versions)))


class TradeLogs:
    """Every run's executed trades, oldest first, refreshed when the journal grows.

    Args:
        store: where the runs are.
        capacity: most runs kept in memory (least recently used dropped).
    """

    def __init__(self, store: RunStore, capacity: int = 32) -> None:
        self.store = store
        self.capacity = capacity
        self._runs: dict[str, _RunTrades] = {}
        self._lock = threading.Lock()

    def _entry(self, run_id: str) -> _RunTrades:
        paths = require_run(self.store, run_id)
        with self._lock:
            entry = self._runs.pop(run_id, None) or _RunTrades(JsonlTail(paths.trades))
            self._runs[run_id] = entry
            while len(self._runs) > self.capacity:
                self._runs.pop(next(iter(self._runs)))
        return entry

    def snapshot(self, run_id: str) -> TradeSnapshot:
        """The run's trades now (reading whatever whole lines the journal gained)."""
        entry = self._entry(run_id)
        with entry.tail.lock:
            restarted, rows = entry.tail.poll()
            if restarted:
                entry.snapshot = TradeSnapshot(next(_versions))
            new = []
            for row in rows:
                try:
                    new.append(Trade.model_validate(row))
                except ValidationError:
                    continue  # a row of a future or foreign format: not a trade we can show
            if new:
                entry.snapshot = entry.snapshot.extended(new)
            return entry.snapshot

    def trades(self, run_id: str) -> tuple[Trade, ...]:
        return self.snapshot(run_id).trades

    def find(self, run_id: str, trade_id: str) -> Trade | None:
        snap = self.snapshot(run_id)
        index = snap.by_id.get(trade_id)
        return snap.trades[index] if index is not None else None

    def select(self, run_id: str, ticker: str | None = None, date_from: dt.date | None = None,
               date_to: dt.date | None = None) -> tuple[Trade, ...]:
        """Trades matching the filters, oldest first."""
        return self.snapshot(run_id).select(ticker, date_from, date_to)
