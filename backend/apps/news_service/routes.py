"""news_service routes: headlines and explanations of any run (docs/api.md)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import Depends, Path, Query, Request, Response

from backend.apps.common.auth import protected_router
from backend.readers.explain import Explainer
from backend.readers.news_reader import NewsReader
from backend.readers.paging import DEFAULT_PAGE
from backend.schema import api_news as api
from backend.schema.api_trading import MAX_PAGE
from backend.apps.common.params import RunId

TICKER_PATTERN = r"^[A-Za-z][A-Za-z0-9.\-]{0,9}$"
TradeId = Annotated[str, Path(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,79}$", description="e.g. T20250203-001")]


def get_news_reader(request: Request) -> NewsReader:
    return request.app.state.news_reader


def get_explainer(request: Request) -> Explainer:
    return request.app.state.explainer


NewsDep = Annotated[NewsReader, Depends(get_news_reader)]
ExplainerDep = Annotated[Explainer, Depends(get_explainer)]
router = protected_router(prefix="/runs/{run_id}", tags=["news"])  # every route: viewer or above


def _json(data: bytes) -> Response:
    return Response(content=data, media_type="application/json")


@router.get("/news", response_model=api.NewsPage, operation_id="get_news",
            summary="Headlines with sentiment from the run's market provider")
def get_news(run_id: RunId, reader: NewsDep,
             ticker: Annotated[str | None, Query(pattern=TICKER_PATTERN, description="one of the run's tickers; "
                                                 "all of them if omitted")] = None,
             start: Annotated[dt.date | None, Query(description="default: 30 days before end")] = None,
             end: Annotated[dt.date | None, Query(description="default: the run's current date")] = None,
             offset: Annotated[int, Query(ge=0, le=10**9)] = 0,
             limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = DEFAULT_PAGE) -> Response:
    return _json(reader.news(run_id, ticker, start, end, offset, limit).model_dump_json().encode())


@router.get("/explain/trade/{trade_id}", response_model=api.Explanation, operation_id="explain_trade",
            summary="Why a trade happened")
def explain_trade(run_id: RunId, trade_id: TradeId, explainer: ExplainerDep) -> Response:
    return _json(explainer.explain_trade(run_id, trade_id).model_dump_json().encode())


@router.get("/explain/decision", response_model=api.Explanation, operation_id="explain_decision",
            summary="Signals, risk warnings, conference summary and PM reasoning for one decision")
def explain_decision(run_id: RunId, explainer: ExplainerDep, date: dt.date,
                     ticker: Annotated[str, Query(pattern=TICKER_PATTERN)]) -> Response:
    return _json(explainer.explain_decision(run_id, date, ticker).model_dump_json().encode())
