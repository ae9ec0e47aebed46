"""NewsReader: headlines of a run's tickers from the run's own market provider.

The provider is the one the run's BOOTSTRAP.md names (``make_market``), built
once per run (and again only if BOOTSTRAP.md changes): a CSV market loads
every file when built, and a synthetic market is deterministic for its seed,
so the run's analysts and this service see the same headlines.
"""

from __future__ import annotations

import datetime as dt
import threading
from typing import TYPE_CHECKING, Any

from backend.errors import BadRequestError, NotFoundError
from backend.market.base import MarketData, MarketDataError
from backend.readers.paging import check_range, norm_ticker, page
from backend.readers.run_files import RunConfigs, stamp
from backend.schema import api_news as api
from backend.schema.bootstrap import BootstrapConfig
from backend.storage.run_store import RunStore

if TYPE_CHECKING:
    from backend.config import Settings

DEFAULT_WINDOW_DAYS = 30
MAX_WINDOW_DAYS = 3660


def _shift(day: dt.date, days: int) -> dt.date:
    """``day + days``, clamped to the calendar (dates near year 1 or 9999 do not overflow)."""
    try:
        return day + dt.timedelta(days=days)
    except OverflowError:
        return dt.date.max if days > 0 else dt.date.min


class NewsReader:
    """News per ticker and date range for any run.

    Args:
        store: the runs.
        settings: handed to ``make_market`` (a live market needs its API key).
        capacity: most runs whose market is kept.
    """

    def __init__(self, store: RunStore, settings: Settings | None = None, capacity: int = 16) -> None:
        self.store = store
        self.settings = settings
        self.configs = RunConfigs(store)
        self.capacity = capacity
        self._markets: dict[str, tuple[Any, MarketData]] = {}
        self._lock = threading.Lock()

    def market(self, run_id: str) -> tuple[BootstrapConfig, MarketData]:
        config = self.configs.get(run_id)
        version = stamp(self.store.paths(run_id).bootstrap)
        with self._lock:
            cached = self._markets.get(run_id)
            if cached is not None and cached[0] == version:
                return config, cached[1]
        try:
            from backend.market.factory import make_market  # numpy: only once news is asked for

            market = make_market(config, self.settings)
        except MarketDataError as err:
            raise BadRequestError(f"run {run_id!r}: its market provider is unavailable: {err}") from None
        with self._lock:
            self._markets.pop(run_id, None)
            self._markets[run_id] = (version, market)
            while len(self._markets) > self.capacity:
                self._markets.pop(next(iter(self._markets)))
        return config, market

    def _default_end(self, run_id: str, config: BootstrapConfig) -> dt.date:
        """The run's current date if it has one, else its last date."""
        runtime = self.store.read_runtime_state(run_id) or {}
        current = runtime.get("current_date")
        if isinstance(current, str):
            try:
                return dt.date.fromisoformat(current)
            except ValueError:
                pass
        return config.end_date

    def news(self, run_id: str, ticker: str | None = None, start: dt.date | None = None,
             end: dt.date | None = None, offset: int = 0, limit: int = 100) -> api.NewsPage:
        """Headlines in [start, end] (default: the 30 days up to the run's current date), oldest first."""
        config, market = self.market(run_id)
        wanted = norm_ticker(ticker)
        if wanted is not None and wanted not in config.tickers:
            raise NotFoundError(f"run {run_id!r} does not trade {wanted!r} (tickers: {', '.join(config.tickers)})")
        tickers = [wanted] if wanted else list(config.tickers)
        if end is None:
            end = self._default_end(run_id, config) if start is None else _shift(start, DEFAULT_WINDOW_DAYS)
        if start is None:
            start = _shift(end, -DEFAULT_WINDOW_DAYS)
        check_range(start, end, "news start/end")
        if (end - start).days > MAX_WINDOW_DAYS:
            raise BadRequestError(f"news range {start}..{end} is longer than {MAX_WINDOW_DAYS} days")
        items = []
        for t in tickers:
            try:
                found = market.news(t, start, end)
            except MarketDataError as err:
                raise BadRequestError(f"run {run_id!r}: news for {t}: {err}") from None
            items.extend(found)
        items.sort(key=lambda n: (n.date, n.ticker, n.id))
        rows = [api.NewsHeadline(id=n.id, ticker=n.ticker, date=n.date.isoformat(), headline=n.headline,
                                 sentiment=n.sentiment, source=n.source) for n in page(items, offset, limit)]
        return api.NewsPage(run_id=run_id, tickers=tickers, start=start.isoformat(), end=end.isoformat(),
                            total=len(items), offset=offset, limit=limit, items=rows)
