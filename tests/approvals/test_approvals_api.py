"""The approvals routes of agent_service over real HTTP: roles, conflicts, the change stream, expiry, audit."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from backend.apps.agent_service.app import create_app
from backend.approvals.client import ApprovalsApiError, ApprovalsClient
from backend.config import load_settings
from backend.schema.api_approvals import ApprovalCreate
from backend.security.run_credentials import run_token
from backend.security.tokens import generate_registry
from tests.approvals.live_server import serve
from tests.approvals.stack import create_run

REGISTRY = generate_registry()
TOKENS = {role.name: tok for role, tok in REGISTRY.tokens.items()}


def order(run_id: str = "r1", ticker: str = "AAPL", quantity: int = 100) -> ApprovalCreate:
    return ApprovalCreate(run_id=run_id, date="2025-02-03", ticker=ticker, action="long", quantity=quantity,
                          price=150.0, confidence=70, reasoning="momentum", reasons=["policy all"],
                          context={"signals": [{"agentId": "technical_analyst", "signal": "bull"}],
                                   "pm_reasoning": "momentum"})


@pytest.fixture
def service(tmp_path):
    create_run(tmp_path, "r1", {"mode": "all", "timeout_seconds": 300})
    create_run(tmp_path, "fast", {"mode": "all", "timeout_seconds": 0.3, "on_timeout": "approve"})
    settings = load_settings(runs_dir=tmp_path / "runs", workspaces_dir=tmp_path / "ws")
    with serve(create_app(settings, REGISTRY)) as url:
        yield url


def client(url: str, role: str = "operator", user: str | None = None) -> ApprovalsClient:
    return ApprovalsClient(url, token=TOKENS[role], user=user)


def gateway(url: str, run_id: str = "r1") -> ApprovalsClient:
    """A client with ``run_id``'s own credential, as its Gateway has it."""
    return ApprovalsClient(url, token=run_token(REGISTRY.run_secret, run_id), user="gateway")


async def test_filing_needs_the_run_credential_and_is_idempotent(service):
    async with gateway(service) as gw, client(service, "viewer") as viewer:
        a, created = await gw.file(order())
        assert created and a.status == "pending" and a.filed_by == "gateway"
        again, created = await gw.file(order())
        assert not created and again.id == a.id
        with pytest.raises(ApprovalsApiError) as err:
            await viewer.file(order(ticker="MSFT"))
        assert err.value.status == 403
        assert [x.id for x in await viewer.list(run_id="r1")] == [a.id]
        assert (await viewer.get(a.id)).context.pm_reasoning == "momentum"
    async with httpx.AsyncClient(base_url=service) as anonymous:
        assert (await anonymous.get("/approvals")).status_code == 401


async def test_viewer_cannot_decide_and_bad_input_is_4xx(service):
    async with client(service) as op, client(service, "viewer") as viewer, gateway(service) as gw:
        a, _ = await gw.file(order())
        with pytest.raises(ApprovalsApiError) as err:
            await viewer.decide(a.id, "approve")
        assert err.value.status == 403
        with pytest.raises(ApprovalsApiError) as err:
            await op.decide("apr-000000000000", "approve")
        assert err.value.status == 404
        with pytest.raises(ApprovalsApiError) as err:
            await gateway(service, "no-such-run").file(order(run_id="no-such-run"))
        assert err.value.status == 404
    headers = {"Authorization": f"Bearer {TOKENS['operator']}"}
    async with httpx.AsyncClient(base_url=service, headers=headers) as raw:
        bad = await raw.post(f"/approvals/{a.id}/decision", json={"decision": "maybe"})
        assert bad.status_code == 422 and bad.json()["error"]
        bad = await raw.post(f"/approvals/{a.id}/decision", json={"decision": "approve"},
                             headers={"X-EvoTraders-User": "x" * 65})
        assert bad.status_code == 400
        assert (await raw.get("/approvals", params={"status": "lost"})).status_code == 422
        assert (await raw.get("/runs/..%2Fetc/approvals/audit")).status_code in (400, 404)
        assert (await raw.get("/runs/bad id!/approvals/audit")).status_code == 400
        assert (await raw.get("/runs/nope/approvals/audit")).status_code == 404
    async with client(service) as op:
        assert (await op.get(a.id)).pending


async def test_concurrent_decisions_one_wins_one_gets_409_with_the_state(service):
    async with client(service, user="Ann") as ann, client(service, "admin", user="Bea") as bea:
        a, _ = await gateway(service).file(order())
        results = await asyncio.gather(ann.decide(a.id, "approve"), bea.decide(a.id, "reject"),
                                       return_exceptions=True)
    wins = [r for r in results if not isinstance(r, Exception)]
    losses = [r for r in results if isinstance(r, ApprovalsApiError)]
    assert len(wins) == 1 and len(losses) == 1
    assert losses[0].status == 409 and losses[0].approval.status == wins[0].status
    assert losses[0].approval.decided_by in ("Ann (operator)", "Bea (admin)")


async def test_change_stream_replays_then_follows(service):
    async with client(service) as op, client(service, "viewer") as viewer, gateway(service) as gw:
        first, _ = await gw.file(order())
        stream = viewer.changes(run_id="r1", after=0)
        replayed = await asyncio.wait_for(anext(stream), 10)
        assert replayed.kind == "filed" and replayed.approval.id == first.id
        second, _ = await gw.file(order(ticker="MSFT"))
        await gateway(service, "fast").file(order(run_id="fast", ticker="TSLA"))  # another run: not on this stream
        await op.decide(first.id, "reject", reason="no")
        live = [await asyncio.wait_for(anext(stream), 10) for _ in range(2)]
        assert [(c.kind, c.approval.id) for c in live] == [("filed", second.id), ("decided", first.id)]
        await stream.aclose()
        # Reconnecting after a seq sends only what came later.
        resumed = viewer.changes(run_id="r1", after=live[0].seq)
        assert (await asyncio.wait_for(anext(resumed), 10)).approval.status == "rejected"
        await resumed.aclose()


async def test_expiry_happens_without_any_gateway(service):
    async with client(service) as op:
        stream = op.changes(run_id="fast")
        a, _ = await gateway(service, "fast").file(order(run_id="fast"))
        kinds = []
        while "expired" not in kinds:
            change = await asyncio.wait_for(anext(stream), 30)
            kinds.append(change.kind)
        await stream.aclose()
        assert kinds == ["filed", "expired"]
        expired = await op.get(a.id)
        assert (expired.status, expired.outcome, expired.decided_by, expired.decided_quantity) == \
            ("expired", "approved", "policy", 100)
        with pytest.raises(ApprovalsApiError) as err:
            await op.decide(a.id, "reject")
        assert err.value.status == 409 and err.value.approval.status == "expired"
        audit = await op.audit("fast")
        assert [(e.event, e.actor) for e in audit] == [("filed", "gateway"), ("expired", "policy")]
        assert audit[1].after is not None and audit[1].after.quantity == 100


async def test_a_restarted_service_has_every_approval(tmp_path):
    create_run(tmp_path, "r1", {"mode": "all"})
    settings = load_settings(runs_dir=tmp_path / "runs", workspaces_dir=tmp_path / "ws")
    with serve(create_app(settings, REGISTRY)) as url:
        async with client(url) as op, gateway(url) as gw:
            a, _ = await gw.file(order())
            b, _ = await gw.file(order(ticker="MSFT"))
            await op.decide(a.id, "approve", quantity=10)
    with serve(create_app(settings, REGISTRY)) as url:
        async with client(url) as op:
            assert {x.id: (x.status, x.decided_quantity) for x in await op.list(run_id="r1")} == \
                {a.id: ("approved", 10), b.id: ("pending", None)}
            assert (await op.decide(b.id, "reject")).status == "rejected"

