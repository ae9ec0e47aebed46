"""Who may file an approval: only the run's own Gateway, with its run credential.

A human token of any role is refused (403): an operator decides approvals,
it never files them, so no human can make a run execute an order its
portfolio manager did not make. The credential is checked against the
filed ``run_id`` once the body is read (:func:`check_filer`), so a run's
credential files for that run only. The same credential may follow that
run's change stream (:func:`stream_reader`), which is how the gate learns of
decisions.

Open mode (no role token and no run secret configured, loopback clients
only): every loopback client is already admin there, and no credential
exists to hand a Gateway, so loopback clients may file. What executes is
still bounded by the Gateway's own check of the approval against its PM's
order (:mod:`backend.approvals.gate`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException
from starlette.requests import HTTPConnection

from backend.apps.common.auth import _ROLE_ATTR, require_role
from backend.security.run_credentials import RUN_SECRET_ENV, verify_run_token
from backend.security.tokens import Role, TokenRegistry, bearer_token, is_loopback

GATEWAY_ACTOR = "gateway"


@dataclass(frozen=True)
class Filer:
    """A caller allowed so far: ``token`` is still to be checked against the body's run (None: open mode)."""

    token: str | None


def _refuse(code: int, detail: str) -> HTTPException:
    headers = {"WWW-Authenticate": "Bearer"} if code == 401 else None
    return HTTPException(status_code=code, detail=detail, headers=headers)


async def filing_credential(conn: HTTPConnection) -> Filer:
    """Refuse human tokens and anonymous callers; keep a candidate run credential."""
    registry: TokenRegistry = conn.app.state.registry
    token = bearer_token(conn.headers.get("authorization"))  # never from the URL: it would be logged
    human = registry.resolve(token)
    if human is not None:
        raise _refuse(403, f"approvals are filed by the run's own Gateway with its run credential; "
                           f"a {human.name} token cannot file them")
    peer = conn.client.host if conn.client else None
    if not registry.configured and not registry.run_secret:
        if is_loopback(peer):
            return Filer(token=None)
        raise _refuse(401, f"no tokens are configured, so only loopback clients are served (not {peer})")
    if token is None:
        raise _refuse(401, "missing bearer token: a Gateway files with its run credential "
                           "(Authorization: Bearer <EVOTRADERS_RUN_TOKEN>)")
    if not registry.run_secret:
        raise _refuse(403, f"agent_service has no run secret ({RUN_SECRET_ENV}), so it cannot verify "
                           "any run credential; no approval can be filed")
    return Filer(token=token)


# The route guard (check_routes_protected) recognises role dependencies by this
# marker; filing is guarded, by a run credential instead of a role.
setattr(filing_credential, _ROLE_ATTR, Role.operator)
FilerDep = Annotated[Filer, Depends(filing_credential)]


async def stream_reader(conn: HTTPConnection) -> Role | str:
    """The change stream's reader: a viewer (or higher) role, or a Gateway following its own run.

    A run credential reads only ``?run_id=<its run>``; anything else is the
    ordinary role check (401/403).
    """
    registry: TokenRegistry = conn.app.state.registry
    token = bearer_token(conn.headers.get("authorization"))
    run_id = conn.query_params.get("run_id")
    if token and registry.run_secret and run_id and registry.resolve(token) is None \
            and verify_run_token(registry.run_secret, run_id, token):
        return GATEWAY_ACTOR
    return await require_role(Role.viewer)(conn)


setattr(stream_reader, _ROLE_ATTR, Role.viewer)
StreamReaderDep = Annotated[Role | str, Depends(stream_reader)]


def check_filer(conn: HTTPConnection, filer: Filer, run_id: str) -> str:
    """The actor to record for a filing by ``filer`` for ``run_id``; 403 if its credential is another's."""
    registry: TokenRegistry = conn.app.state.registry
    if filer.token is None:
        return f"{GATEWAY_ACTOR} (open)"
    assert registry.run_secret  # filing_credential let no token through without one
    if not verify_run_token(registry.run_secret, run_id, filer.token):
        raise _refuse(403, f"the credential presented is not run {run_id!r}'s run credential")
    return GATEWAY_ACTOR
