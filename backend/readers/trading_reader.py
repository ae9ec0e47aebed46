"""TradingReader: the read model behind trading_service.

State views (portfolio, holdings, prices, curves, stats, metrics,
leaderboard) are built from ``state/server_state.json`` once per file
version, and their JSON encoding is kept beside them, so serving an
unchanged run is a dictionary lookup plus one ``stat``. Trades come from
``state/trades.jsonl`` and signals from ``logs/events.jsonl``, both read
incrementally as they grow.
"""

from __future__ import annotations

import datetime as dt
import threading
from pathlib import Path

from pydantic import BaseModel, ValidationError

from backend.errors import ConflictError
from backend.readers import state_views
from backend.readers.event_index import EventIndexes
from backend.readers.paging import DEFAULT_PAGE, check_paging, check_range, norm_ticker, page
from backend.readers.run_files import RunConfigs, VersionedCache, parse_json_object, require_run
from backend.readers.trade_log import TradeLogs
from backend.schema import api_trading as api
from backend.schema.state import ServerStateFile
from backend.storage.run_store import RunStore, parse_server_state

PAGE_CACHE_SIZE = 512


class _StateViews:
    """One server_state version and the views built from it so far (models and JSON).

    ``error`` is set instead of a state when the file is JSON but not a server
    state; every view of that version raises it.
    """

    def __init__(self, state: ServerStateFile, error: ConflictError | None = None) -> None:
        self.state = state
        self.error = error
        self.models: dict[str, BaseModel] = {}
        self.encoded: dict[str, bytes] = {}
        self.lock = threading.Lock()


def _parse_state(path: Path, data: bytes) -> _StateViews:
    # runs/<run_id>/state/server_state.json
    try:
        return _StateViews(parse_server_state(parse_json_object(path, data),
                                              f"run {path.parent.parent.name!r}: state/server_state.json"))
    except ConflictError as err:
        return _StateViews(ServerStateFile(), err)


class TradingReader:
    """Read-only trading data of any run under ``store.runs_dir``.

    Args:
        store: the runs.
        events: shared per-run event indexes (for signals); one is made if omitted.
        trades: shared per-run trade journals; one is made if omitted.
    """

    def __init__(self, store: RunStore, events: EventIndexes | None = None,
                 trades: TradeLogs | None = None) -> None:
        self.store = store
        self.configs = RunConfigs(store)
        self.events = events or EventIndexes(store)
        self.trade_logs = trades or TradeLogs(store)
        self._pages: dict[tuple, bytes] = {}  # encoded trades pages, oldest first
        self._pages_lock = threading.Lock()
        self._states: VersionedCache[_StateViews] = VersionedCache(_parse_state)

    # -- state views ------------------------------------------------------------
    def _views(self, run_id: str) -> _StateViews:
        paths = require_run(self.store, run_id)
        views = self._states.get(run_id, paths.server_state)
        # Not started yet: views of an empty state, not cached (it may start any moment).
        return views if views is not None else _StateViews(ServerStateFile())

    def _view(self, views: _StateViews, run_id: str, name: str) -> BaseModel:
        model = views.models.get(name)
        if model is None:
            if views.error is not None:
                raise views.error
            config = self.configs.get(run_id)
            try:
                model = state_views.VIEWS[name](run_id, views.state, config)
            except (ValidationError, TypeError, ValueError) as err:
                first = str(err).splitlines()[0]
                raise ConflictError(f"run {run_id!r}: state/server_state.json has an unexpected shape "
                                    f"({name}: {first})") from None
            with views.lock:
                model = views.models.setdefault(name, model)
        return model

    def view(self, run_id: str, name: str) -> BaseModel:
        """One of ``state_views.VIEWS`` for the run's current state."""
        return self._view(self._views(run_id), run_id, name)

    def view_json(self, run_id: str, name: str) -> bytes:
        """The view encoded as JSON, encoded once per state version."""
        views = self._views(run_id)
        data = views.encoded.get(name)
        if data is None:
            data = self._view(views, run_id, name).model_dump_json().encode()
            with views.lock:
                data = views.encoded.setdefault(name, data)
        return data

    def cached_view_json(self, run_id: str, name: str) -> bytes | None:
        """The view's JSON if it is already encoded for the current state version, else None.

        Costs one ``stat`` and never reads or parses a file, so an async server
        can call it on its event loop and hand only misses to a thread.
        """
        paths = require_run(self.store, run_id)
        views = self._states.peek(run_id, paths.server_state)
        return views.encoded.get(name) if views is not None else None

    def portfolio(self, run_id: str) -> api.Portfolio:
        return self.view(run_id, "portfolio")  # type: ignore[return-value]

    def metrics(self, run_id: str) -> api.Metrics:
        return self.view(run_id, "metrics")  # type: ignore[return-value]

    # -- trades -------------------------------------------------------------------
    def trades(self, run_id: str, ticker: str | None = None, date_from: dt.date | None = None,
               date_to: dt.date | None = None, offset: int = 0, limit: int = DEFAULT_PAGE) -> api.TradesPage:
        """Executed trades, oldest first, filtered then paged."""
        check_range(date_from, date_to, "trades date_from/date_to")
        selected = self.trade_logs.select(run_id, norm_ticker(ticker), date_from, date_to)
        return api.TradesPage(run_id=run_id, items=page(selected, offset, limit), total=len(selected),
                              offset=offset, limit=limit)

    def trades_json(self, run_id: str, ticker: str | None = None, date_from: dt.date | None = None,
                    date_to: dt.date | None = None, offset: int = 0, limit: int = DEFAULT_PAGE) -> bytes:
        """``trades(...)`` encoded, remembered per journal version (clients poll the same pages)."""
        check_range(date_from, date_to, "trades date_from/date_to")
        check_paging(offset, limit)
        ticker = norm_ticker(ticker)
        snap = self.trade_logs.snapshot(run_id)
        key = (run_id, snap.version, ticker, date_from, date_to, offset, limit)
        with self._pages_lock:
            data = self._pages.get(key)
        if data is None:
            selected = snap.select(ticker, date_from, date_to)
            data = api.TradesPage(run_id=run_id, items=list(selected[offset: offset + limit]), total=len(selected),
                                  offset=offset, limit=limit).model_dump_json().encode()
            with self._pages_lock:
                self._pages[key] = data
                while len(self._pages) > PAGE_CACHE_SIZE:
                    self._pages.pop(next(iter(self._pages)))
        return data

    # -- signals ------------------------------------------------------------------
    def signals(self, run_id: str, agent_id: str | None = None, ticker: str | None = None,
                date: dt.date | None = None, offset: int = 0, limit: int = DEFAULT_PAGE) -> api.SignalsPage:
        """Analysts' morning signals from the events log, by date, filtered then paged."""
        index = self.events.get(run_id)
        records = index.signals_where(agent_id, norm_ticker(ticker), date.isoformat() if date else None)
        return api.SignalsPage(run_id=run_id, items=page(records, offset, limit), total=len(records),
                               offset=offset, limit=limit)

    def _signals_key(self, run_id: str, version: int, agent_id: str | None, ticker: str | None,
                     date: dt.date | None, offset: int, limit: int) -> tuple:
        return ("signals", run_id, version, agent_id, norm_ticker(ticker), date, offset, limit)

    def signals_json(self, run_id: str, agent_id: str | None = None, ticker: str | None = None,
                     date: dt.date | None = None, offset: int = 0, limit: int = DEFAULT_PAGE) -> bytes:
        """``signals(...)`` encoded, remembered per version of the run's events index (clients poll the same pages)."""
        check_paging(offset, limit)
        index = self.events.get(run_id)
        key = self._signals_key(run_id, index.version, agent_id, ticker, date, offset, limit)
        with self._pages_lock:
            data = self._pages.get(key)
        if data is None:
            data = self.signals(run_id, agent_id, ticker, date, offset, limit).model_dump_json().encode()
            self._remember(key, data)
        return data

    def cached_signals_json(self, run_id: str, agent_id: str | None = None, ticker: str | None = None,
                            date: dt.date | None = None, offset: int = 0, limit: int = DEFAULT_PAGE) -> bytes | None:
        """The encoded page if the run's events log has not changed since it was built, else None.

        One ``stat`` and a dictionary lookup: an async server calls it on its
        event loop and hands only misses (a grown log) to a thread.
        """
        index = self.events.peek(run_id)
        if index is None or not index.up_to_date():
            return None
        with self._pages_lock:
            return self._pages.get(self._signals_key(run_id, index.version, agent_id, ticker, date, offset, limit))

    def _remember(self, key: tuple, data: bytes) -> None:
        with self._pages_lock:
            self._pages[key] = data
            while len(self._pages) > PAGE_CACHE_SIZE:
                self._pages.pop(next(iter(self._pages)))
