"""trading_service routes: read-only trading data of any run (docs/api.md).

Answers are JSON bytes encoded by the read model (state views once per
state file version), so ``response_model`` documents the schema in OpenAPI
without FastAPI encoding the same data again on every request. Cheap paths
(a cached view, a trades page) run on the event loop; whatever may read
and parse a large file (a changed state, the events log) runs in a thread.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import Query, Request, Response

from starlette.concurrency import run_in_threadpool

from backend.apps.common.auth import protected_router
from backend.readers.paging import DEFAULT_PAGE
from backend.readers.trading_reader import TradingReader
from backend.schema import api_trading as api
from backend.apps.common.params import RunId

Ticker = Annotated[str | None, Query(pattern=r"^[A-Za-z][A-Za-z0-9.\-]{0,9}$", description="e.g. AAPL")]
AgentId = Annotated[str | None, Query(pattern=r"^[A-Za-z0-9][A-Za-z0-9_\-]{0,63}$",
                                      description="e.g. technical_analyst")]
Offset = Annotated[int, Query(ge=0, le=10**9)]
Limit = Annotated[int, Query(ge=1, le=api.MAX_PAGE)]


router = protected_router(prefix="/runs/{run_id}", tags=["trading"])  # every route: viewer or above


def _reader(request: Request) -> TradingReader:
    # Taken from the app rather than through Depends(): one dependency less to
    # solve on every request of the service's hottest paths.
    return request.app.state.trading_reader


def _json(data: bytes) -> Response:
    return Response(content=data, media_type="application/json")


def _view_route(name: str, model: type, summary: str) -> None:
    """A GET returning one cached state view of the run."""

    async def handler(run_id: RunId, request: Request) -> Response:
        reader = _reader(request)
        data = reader.cached_view_json(run_id, name)
        if data is None:  # the state file changed (or first read): parse it off the event loop
            data = await run_in_threadpool(reader.view_json, run_id, name)
        return _json(data)

    handler.__name__ = f"get_{name}"
    router.add_api_route(f"/{name}", handler, methods=["GET"], response_model=model, summary=summary,
                         operation_id=f"get_{name}")


_view_route("portfolio", api.Portfolio, "Total value, cash, P&L and margin")
_view_route("holdings", api.Holdings, "Dashboard holdings rows (with a CASH row)")
_view_route("prices", api.Prices, "Latest price per ticker")
_view_route("curves", api.Curves, "Equity and benchmark curves ({t: epoch ms, v})")
_view_route("stats", api.Stats, "Dashboard stats")
_view_route("metrics", api.Metrics, "Return, excess return per benchmark, drawdown, Sharpe, win rate")
_view_route("leaderboard", api.Leaderboard, "Analyst leaderboard")


@router.get("/trades", response_model=api.TradesPage, operation_id="get_trades",
            summary="Executed trades, oldest first, filtered and paged")
async def get_trades(run_id: RunId, request: Request, ticker: Ticker = None, date_from: dt.date | None = None,
               date_to: dt.date | None = None, offset: Offset = 0, limit: Limit = DEFAULT_PAGE) -> Response:
    return _json(_reader(request).trades_json(run_id, ticker, date_from, date_to, offset, limit))


@router.get("/signals", response_model=api.SignalsPage, operation_id="get_signals",
            summary="Analysts' signals history from the events log")
async def get_signals(run_id: RunId, request: Request, agent_id: AgentId = None, ticker: Ticker = None,
                      date: dt.date | None = None, offset: Offset = 0, limit: Limit = DEFAULT_PAGE) -> Response:
    reader = _reader(request)
    data = reader.cached_signals_json(run_id, agent_id, ticker, date, offset, limit)
    if data is None:  # a page not asked before, or the log grew: read and build it off the event loop
        data = await run_in_threadpool(reader.signals_json, run_id, agent_id, ticker, date, offset, limit)
    return _json(data)
