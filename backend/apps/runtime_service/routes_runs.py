"""Runs: create, start/stop/restart, pause/resume, history, state, logs."""

from __future__ import annotations

import contextlib
import json
from typing import Any, AsyncIterator

from fastapi import APIRouter, Query, Request, status
import pydantic_core
from fastapi.responses import Response

from backend.apps.common.auth import AdminDep, OperatorDep, ViewerDep
from backend.apps.common.openapi import NDJSON, SSE, EventStreamResponse, NDJSONResponse, errors, streamed
from backend.apps.common.params import RunId
from backend.control_plane.controller import RuntimeController
from backend.errors import BadRequestError
from backend.schema.api_runtime import (
    BootstrapText, CommandReply, CreateRunRequest, CreateRunResponse, GatewayInfo, LogLines, PaceRequest, RunStateResponse,
    RunSummary, StartRunRequest,
)
from backend.storage.event_log import EVENTS_PAGE_BYTES, events_page

router = APIRouter(tags=["runs"])

# pause/resume/pace are relayed to the run's Gateway, which may be down or hung.
_RELAYED = errors(e503="The run's Gateway is restarting, refused or dropped the connection",
                  e504="The run's Gateway did not answer in time")


def _controller(request: Request) -> RuntimeController:
    return request.app.state.controller


# Sort keys of ``GET /runs``: a row field, or a closing figure from its metrics.
RUN_SORT_KEYS = ("run_id", "start_date", "end_date", "status", "mode", "progress", "updated_at",
                 "total_return_pct", "max_drawdown_pct", "sharpe", "trades")
_METRIC_KEYS = frozenset({"total_return_pct", "max_drawdown_pct", "sharpe", "trades"})


def _sort_value(row: dict[str, Any], key: str) -> Any:
    return (row.get("metrics") or {}).get(key) if key in _METRIC_KEYS else row.get(key)


def sort_runs(rows: list[dict[str, Any]], key: str, descending: bool) -> list[dict[str, Any]]:
    """Rows by ``key`` (ties by run id, in the same direction); a row without the value goes last."""
    present = [r for r in rows if isinstance(_sort_value(r, key), (int, float, str))]
    missing = [r for r in rows if not isinstance(_sort_value(r, key), (int, float, str))]
    present.sort(key=lambda r: (isinstance(_sort_value(r, key), str), _sort_value(r, key), r["run_id"]),
                 reverse=descending)
    missing.sort(key=lambda r: r["run_id"], reverse=descending)
    return present + missing


@router.get("/runs", response_model=list[RunSummary])
def list_runs(request: Request, _: ViewerDep,
              sort: str = Query("run_id", description="run_id, start_date, end_date, status, mode, progress, "
                                                      "updated_at, or a closing figure: total_return_pct, "
                                                      "max_drawdown_pct, sharpe, trades"),
              order: str = Query("desc", pattern="^(asc|desc)$")) -> Response:
    """Every run with its status and closing figures, sorted (rows without the figure last).

    Rows come from the run index (``backend/storage/run_index.py``): a run's
    files are read again only when they changed, so listing 1,000 runs costs
    a folder scan and a few ``stat`` calls per run.
    """
    if sort not in RUN_SORT_KEYS:
        raise BadRequestError(f"cannot sort runs by {sort!r}: use one of {', '.join(RUN_SORT_KEYS)}")
    rows = _controller(request).list_runs()  # newest run id first already
    if sort != "run_id" or order != "desc":
        rows = sort_runs(rows, sort, order == "desc")
    # A figure that is not finite (a Sharpe of a flat curve) is null, never a NaN that no JSON parser reads.
    return Response(pydantic_core.to_json(rows, inf_nan_mode="null"), media_type="application/json")


@router.post("/runs", response_model=CreateRunResponse, status_code=status.HTTP_201_CREATED)
def create_run(body: CreateRunRequest, request: Request, _: AdminDep) -> Any:
    overrides: dict[str, Any] = body.model_dump(exclude={"workspace", "run_id", "seed"}, exclude_none=True,
                                                mode="json")
    if body.seed is not None:
        overrides["market"] = {"kind": "synthetic", "seed": body.seed}
    run_id = _controller(request).create_run(body.workspace, run_id=body.run_id, overrides=overrides)
    return {"run_id": run_id}


@router.get("/runs/{run_id}", response_model=RunSummary)
def get_run(run_id: RunId, request: Request, _: ViewerDep) -> Any:
    return _controller(request).run_summary(run_id)


@router.post("/runs/{run_id}/start", response_model=GatewayInfo)
async def start_run(run_id: RunId, request: Request, _: AdminDep, body: StartRunRequest | None = None) -> Any:
    body = body or StartRunRequest()
    return await _controller(request).start_run(run_id, paused=body.paused, pace=body.pace)


@router.post("/runs/{run_id}/stop", response_model=GatewayInfo)
async def stop_run(run_id: RunId, request: Request, _: AdminDep) -> Any:
    return await _controller(request).stop_run(run_id)


@router.post("/runs/{run_id}/restart", response_model=GatewayInfo)
async def restart_run(run_id: RunId, request: Request, _: AdminDep) -> Any:
    return await _controller(request).restart_run(run_id)


@router.post("/runs/{run_id}/pause", response_model=CommandReply, responses=_RELAYED)
async def pause_run(run_id: RunId, request: Request, _: OperatorDep) -> Any:
    _controller(request).store.require(run_id)
    return await _controller(request).pause(run_id)


@router.post("/runs/{run_id}/resume", response_model=CommandReply, responses=_RELAYED)
async def resume_run(run_id: RunId, request: Request, _: OperatorDep) -> Any:
    _controller(request).store.require(run_id)
    return await _controller(request).resume(run_id)


@router.post("/runs/{run_id}/pace", response_model=CommandReply, responses=_RELAYED)
async def set_pace(run_id: RunId, body: PaceRequest, request: Request, _: OperatorDep) -> Any:
    _controller(request).store.require(run_id)
    return await _controller(request).set_pace(run_id, body.seconds)


@router.get("/runs/{run_id}/gateway", response_model=GatewayInfo)
async def gateway(run_id: RunId, request: Request, _: ViewerDep) -> Any:
    controller = _controller(request)
    controller.store.require(run_id)
    info = controller.gateway_info(run_id)
    info["health"] = await controller.gateway_health(run_id)
    return info


@router.get("/runs/{run_id}/state", response_model=RunStateResponse)
def run_state(run_id: RunId, request: Request, _: ViewerDep) -> Any:
    return _controller(request).run_state(run_id)


@router.get("/runs/{run_id}/logs", response_model=LogLines)
def logs(run_id: RunId, request: Request, _: ViewerDep, tail: int = Query(200, ge=1, le=10_000)) -> Any:
    controller = _controller(request)
    controller.store.require(run_id)
    return {"run_id": run_id, "lines": controller.logs(run_id, tail)}


@router.get("/runs/{run_id}/logs/follow", response_class=EventStreamResponse,
            responses=streamed(SSE, "Server-sent events: one per log line of the Gateway, its data the line "
                                    "as a JSON string"))
async def follow_logs(run_id: RunId, request: Request, _: ViewerDep) -> EventStreamResponse:
    """New lines of the run's Gateway log as they come (across restarts); ends when the client goes."""
    controller = _controller(request)
    controller.store.require(run_id)
    lines = controller.follow(run_id)

    async def stream() -> AsyncIterator[dict[str, str]]:
        async with contextlib.aclosing(lines):  # a client gone cancels this; the follower closes with it
            async for line in lines:
                yield {"data": json.dumps(line)}

    return EventStreamResponse(stream())


@router.get("/runs/{run_id}/bootstrap", response_model=BootstrapText)
def bootstrap(run_id: RunId, request: Request, _: ViewerDep) -> Any:
    """The run's BOOTSTRAP.md as written (for remote run details)."""
    paths = _controller(request).store.require(run_id)
    return {"run_id": run_id, "text": paths.bootstrap.read_text(encoding="utf-8")}


@router.get("/runs/{run_id}/events", response_class=NDJSONResponse,
            responses=streamed(NDJSON, "JSON lines: the run's events, one per line"))
def events(run_id: RunId, request: Request, _: ViewerDep,
           offset: int = Query(0, ge=0, description="lines to pass over (after the cursor, when one is given)"),
           limit: int = Query(5000, ge=1, le=50_000, description="most lines in the page"),
           cursor: int | None = Query(None, ge=0, description="byte position of a line, as X-Next-Cursor gave it"),
           max_bytes: int = Query(EVENTS_PAGE_BYTES, ge=1024, le=16 << 20,
                                  description="the page ends after the line that reaches this many bytes")) -> Response:
    """Lines of the run's logs/events.jsonl (for replay on a remote profile), as JSON lines, one page at a time.

    A page holds at most ``limit`` lines and about ``max_bytes`` bytes (at
    least one line), so the route's memory is bounded however long the run.
    Replay pages by ``cursor``: ``X-Next-Cursor`` is the byte position after
    the page, so each page is read from there without rereading the log;
    ``offset`` alone counts lines from the start (``X-Next-Offset`` says
    where the next page starts in the same count). A corrupt line is left
    out and counted (``X-Skipped-Lines``); a torn last line ends the page.
    """
    paths = _controller(request).store.require(run_id)
    try:
        page = events_page(paths.events_log, offset, limit, cursor=cursor, max_bytes=max_bytes)
    except ValueError as err:
        raise BadRequestError(f"run {run_id!r}: {err}") from None
    return Response(b"".join(page.lines), media_type="application/x-ndjson",
                    headers={"X-Skipped-Lines": str(page.skipped), "X-Next-Offset": str(page.next_offset),
                             "X-Next-Cursor": str(page.next_cursor), "X-Log-Bytes": str(page.log_bytes)})
