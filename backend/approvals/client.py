"""ApprovalsClient: async HTTP client of agent_service's approvals API.

Used by the Gateway (file, then follow the change stream) and by tests, the
benchmark and the desktop app (list, decide, audit). The change stream is
server-sent events (read with httpx-sse): ``GET /approvals/events?run_id=&after=``
sends every change with ``seq > after`` first, then each new change as it
happens, with a comment as a heartbeat every few seconds.
"""

from __future__ import annotations

import json
from typing import Any, AsyncIterator

import httpx
from httpx_sse import aconnect_sse

from backend.schema.api_approvals import (
    USER_HEADER,
    Approval,
    ApprovalChange,
    ApprovalCreate,
    ApprovalDecision,
    AuditEntry,
)

# The server sends a heartbeat every few seconds; a stream silent for this
# long is a dead connection (e.g. the host vanished without closing it).
STREAM_READ_TIMEOUT = 20.0


class ApprovalsApiError(Exception):
    """agent_service answered with an error; ``str(err)`` is one line with status and detail."""

    def __init__(self, status: int, error: str, detail: str) -> None:
        self.status, self.error, self.detail = status, error, detail
        super().__init__(f"agent_service answered {status} {error}: {detail}")


class ApprovalConflict(ApprovalsApiError):
    """The approval was already decided or expired; ``approval`` is its current state."""

    def __init__(self, detail: str, approval: Approval) -> None:
        super().__init__(409, "conflict", detail)
        self.approval = approval


def _raise_for(response: httpx.Response) -> None:
    if response.status_code < 400:
        return
    try:
        body = response.json()
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        body = {}
    detail = body.get("detail")
    if not isinstance(detail, str):
        detail = json.dumps(detail) if detail is not None else response.reason_phrase
    if response.status_code == 409 and isinstance(body.get("approval"), dict):
        raise ApprovalConflict(detail, Approval.model_validate(body["approval"]))
    raise ApprovalsApiError(response.status_code, str(body.get("error", "error")), detail)


class ApprovalsClient:
    """Talks to agent_service's ``/approvals`` routes.

    Args:
        base_url: agent_service's URL (``AGENT_SERVICE_URL``).
        token: bearer token: a run credential to file (the Gateway), operator or admin to decide.
        user: display name sent as ``X-EvoTraders-User`` (who decided).
        timeout: seconds for ordinary requests.
    """

    def __init__(self, base_url: str, token: str | None = None, user: str | None = None,
                 timeout: float = 10.0) -> None:
        headers = {}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        if user:
            headers[USER_HEADER] = user
        self.base_url = base_url.rstrip("/")
        self._http = httpx.AsyncClient(base_url=self.base_url, headers=headers, timeout=timeout)

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> "ApprovalsClient":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.aclose()

    async def file(self, request: ApprovalCreate) -> tuple[Approval, bool]:
        """File an approval; ``(approval, created)`` (False: it already existed)."""
        response = await self._http.post("/approvals", json=request.model_dump(mode="json"))
        _raise_for(response)
        return Approval.model_validate(response.json()), response.status_code == 201

    async def get(self, approval_id: str) -> Approval:
        response = await self._http.get(f"/approvals/{approval_id}")
        _raise_for(response)
        return Approval.model_validate(response.json())

    async def list(self, run_id: str | None = None, status: str | None = None) -> list[Approval]:
        params = {k: v for k, v in (("run_id", run_id), ("status", status)) if v is not None}
        response = await self._http.get("/approvals", params=params)
        _raise_for(response)
        return [Approval.model_validate(item) for item in response.json()]

    async def decide(self, approval_id: str, decision: str, reason: str = "",
                     quantity: int | None = None) -> Approval:
        """Approve or reject; raises :class:`ApprovalConflict` if it is no longer pending."""
        body = ApprovalDecision(decision=decision, reason=reason, quantity=quantity)  # type: ignore[arg-type]
        response = await self._http.post(f"/approvals/{approval_id}/decision",
                                         json=body.model_dump(mode="json", exclude_none=True))
        _raise_for(response)
        return Approval.model_validate(response.json())

    async def audit(self, run_id: str) -> list[AuditEntry]:
        response = await self._http.get(f"/runs/{run_id}/approvals/audit")
        _raise_for(response)
        return [AuditEntry.model_validate(item) for item in response.json()]

    async def changes(self, run_id: str | None = None, after: int = 0) -> AsyncIterator[ApprovalChange]:
        """Follow the change stream; ends when the server closes it (reconnect with ``after``)."""
        params: dict[str, Any] = {"after": after}
        if run_id is not None:
            params["run_id"] = run_id
        timeout = httpx.Timeout(self._http.timeout.connect, read=STREAM_READ_TIMEOUT)
        async with aconnect_sse(self._http, "GET", "/approvals/events", params=params, timeout=timeout) as source:
            if source.response.status_code >= 400:
                await source.response.aread()
                _raise_for(source.response)
            async for event in source.aiter_sse():
                if event.data:  # a heartbeat comment carries no data
                    yield ApprovalChange.model_validate_json(event.data)
