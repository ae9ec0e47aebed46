"""agent_service routes: human approvals (file, list, decide, change stream, audit).

Who decided is the token's role, plus an optional display name from the
``X-EvoTraders-User`` header: ``"Ann (operator)"``. Only a run's own Gateway
files (its run credential, see :mod:`.filing_auth`); humans decide. Store
calls run on a worker thread: they fsync before answering.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Query, Request, Response
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from backend.apps.agent_service.approval_runtime import ChangeHub
from backend.apps.agent_service.filing_auth import FilerDep, StreamReaderDep, check_filer
from backend.apps.common.auth import OperatorDep, ViewerDep
from backend.apps.common.openapi import SSE, EventStreamResponse, streamed
from backend.approvals.store import AlreadyDecided, ApprovalStore, RefilingConflict
from backend.errors import BadRequestError
from backend.schema.api_approvals import (
    USER_HEADER,
    USER_RE,
    Approval,
    ApprovalCreate,
    ApprovalDecision,
    ApprovalStatus,
    AuditEntry,
    DecisionConflict,
)
from backend.storage.ids import InvalidIdError, validate_run_id

router = APIRouter(tags=["approvals"])
UserHeader = Annotated[str | None, Header(alias=USER_HEADER, description="display name of who decides")]


def _store(request: Request) -> ApprovalStore:
    return request.app.state.approvals


def _role_name(role: object) -> str:
    return str(getattr(role, "name", role))


def _who(role: object, user: str | None) -> tuple[str, str | None]:
    if user is not None and not USER_RE.match(user):
        raise BadRequestError(f"invalid {USER_HEADER} header: 1-64 printable characters")
    return _role_name(role), user


@router.post("/approvals", status_code=201, response_model=Approval,
             responses={200: {"model": Approval, "description": "already filed: the existing approval"},
                        403: {"description": "not the run credential of this run (any human token)"},
                        409: {"model": DecisionConflict, "description": "filed before with a different order"}})
async def file_approval(body: ApprovalCreate, request: Request, response: Response, filer: FilerDep) \
        -> Approval | JSONResponse:
    """File an approval (the run's own Gateway does, with its run credential).

    Filing the same run, date, ticker and order again returns the first; a
    different order for the same run, date and ticker is refused (409, audited).
    """
    filed_by = check_filer(request, filer, body.run_id)
    try:
        approval, created = await run_in_threadpool(_store(request).file, body, filed_by)
    except RefilingConflict as err:
        conflict = DecisionConflict(detail=str(err), approval=err.approval)
        return JSONResponse(conflict.model_dump(mode="json"), status_code=409)
    if not created:
        response.status_code = 200
    return approval


@router.get("/approvals", response_model=list[Approval])
async def list_approvals(request: Request, role: ViewerDep, run_id: str | None = None,
                         status: ApprovalStatus | None = None) -> list[Approval]:
    """Approvals in filing order, optionally of one run and in one status."""
    return _store(request).list(run_id=run_id, status=status)


@router.get("/approvals/events", response_class=EventStreamResponse,
            responses=streamed(SSE, "Server-sent events: one per change, named by its kind, its id the seq"))
async def approval_events(request: Request, role: StreamReaderDep, run_id: str | None = None,
                          after: Annotated[int, Query(ge=0)] = 0) -> EventStreamResponse:
    """Server-sent events: every change with ``seq > after``, then live changes (the event id is the seq)."""
    hub: ChangeHub = request.app.state.approval_hub
    return hub.response(run_id, after)


@router.get("/approvals/{approval_id}", response_model=Approval)
async def get_approval(approval_id: str, request: Request, role: ViewerDep) -> Approval:
    return _store(request).get(approval_id)


@router.post("/approvals/{approval_id}/decision", response_model=Approval,
             responses={409: {"model": DecisionConflict, "description": "already decided or expired"}})
async def decide(approval_id: str, body: ApprovalDecision, request: Request, role: OperatorDep,
                 user: UserHeader = None) -> Approval | JSONResponse:
    """Approve (optionally fewer shares) or reject; a second decision gets 409 with the current state."""
    role_name, name = _who(role, user)
    try:
        return await run_in_threadpool(_store(request).decide, approval_id, body, role_name, name)
    except AlreadyDecided as err:
        conflict = DecisionConflict(detail=str(err), approval=err.approval)
        return JSONResponse(conflict.model_dump(mode="json"), status_code=409)


@router.get("/runs/{run_id}/approvals/audit", response_model=list[AuditEntry])
async def audit(run_id: str, request: Request, role: ViewerDep) -> list[AuditEntry]:
    """The run's approval audit log, oldest first."""
    try:
        validate_run_id(run_id)
    except InvalidIdError as err:
        raise BadRequestError(str(err)) from None
    return _store(request).audit(run_id)
