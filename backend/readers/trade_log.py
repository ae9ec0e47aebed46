"""Each run's ``state/trades.jsonl`` as validated trades, read incrementally."""

from __future__ import annotations

import datetime as dt
import threading
from dataclasses import dataclass, field

from pydantic import ValidationError

from backend.readers.jsonl_tail import JsonlTail
from backend.readers.paging import in_range
from backend.readers.run_files import require_run
from backend.schema.trading import Trade
from backend.storage.run_store import RunStore


@dataclass
class _RunTrades:
    tail: JsonlTail
    trades: list[Trade] = field(default_factory=list)
    by_id: dict[str, int] = field(default_factory=dict)


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

    def trades(self, run_id: str) -> list[Trade]:
        """All trades of a run (the list is replaced, never mutated, so callers may keep it)."""
        return self._snapshot(run_id)[0]

    def _snapshot(self, run_id: str) -> tuple[list[Trade], dict[str, int]]:
        entry = self._entry(run_id)
        with entry.tail.lock:
            restarted, rows = entry.tail.poll()
            if restarted:
                entry.trades, entry.by_id = [], {}
            if rows:
                trades = list(entry.trades)
                by_id = dict(entry.by_id)
                for row in rows:
                    try:
                        trade = Trade.model_validate(row)
                    except ValidationError:
                        continue  # a row of a future or foreign format: not a trade we can show
                    by_id[trade.id] = len(trades)
                    trades.append(trade)
                entry.trades, entry.by_id = trades, by_id
            return entry.trades, entry.by_id

    def find(self, run_id: str, trade_id: str) -> Trade | None:
        trades, by_id = self._snapshot(run_id)
        index = by_id.get(trade_id)
        return trades[index] if index is not None else None

    def select(self, run_id: str, ticker: str | None = None, date_from: dt.date | None = None,
               date_to: dt.date | None = None) -> list[Trade]:
        """Trades matching the filters, oldest first."""
        trades = self.trades(run_id)
        if ticker is None and date_from is None and date_to is None:
            return trades
        return [t for t in trades
                if (ticker is None or t.ticker == ticker) and in_range(t.trading_date, date_from, date_to)]
