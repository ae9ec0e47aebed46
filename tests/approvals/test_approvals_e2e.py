"""Human approvals end to end: agent_service and Gateways as real processes on free ports.

Every run trades one day (see ``stack.DAY``) on which the rules team orders
AAPL long 14, MSFT long 23 and TSLA short 17.
"""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any, Awaitable, Callable

import pytest

from backend.approvals.client import ApprovalsApiError, ApprovalsClient
from backend.security.tokens import Role, generate_registry
from tests.approvals.stack import (
    DAY,
    AgentService,
    collect_until,
    create_run,
    free_port,
    is_done,
    is_status,
    open_and_resume,
    positions,
    run_env,
    stack_env,
    traded,
)
from tests.e2e.gateway_process import start_gateway

pytestmark = pytest.mark.slow
ALL_THREE = {"AAPL": ("long", 14), "MSFT": ("long", 23), "TSLA": ("short", 17)}
Decider = Callable[[ApprovalsClient], Awaitable[None]]


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    root = tmp_path_factory.mktemp("stack")
    registry = generate_registry()
    port = free_port()
    env = stack_env(root, registry, f"http://127.0.0.1:{port}")
    service = AgentService(env, root / "agent_service.log", port).start()
    yield SimpleNamespace(root=root, registry=registry, env=env, service=service,
                          operator=registry.tokens[Role.operator])
    service.stop()


def api(stack, user: str = "Ann") -> ApprovalsClient:
    return ApprovalsClient(stack.service.url, token=stack.operator, user=user)


async def drive(stack, run_id: str, decide: Decider | None = None, env: dict[str, str] | None = None,
                extra: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """Run a paused Gateway for ``run_id`` to the end; ``decide`` is called once it waits for approvals."""
    proc, url = start_gateway(run_env(env or stack.env, stack.registry, run_id), "--run-id", run_id, "--paused",
                              "--exit-when-done", *extra)
    try:
        async with await open_and_resume(url, stack.operator) as ws:
            frames = await collect_until(ws, is_status("waiting_approval", "completed", "failed", "stopped"))
            if decide is not None and frames[-1]["status"] == "waiting_approval":
                async with api(stack) as client:
                    await decide(client)
            if not is_done(frames[-1]):
                frames += await collect_until(ws, is_done)
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    return frames


def statuses(frames: list[dict[str, Any]]) -> list[str]:
    return [f["status"] for f in frames if f["type"] == "run_status"]


def resolved(frames: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """ticker -> approval_resolved frame."""
    return {f["ticker"]: f for f in frames if f["type"] == "approval_resolved"}


async def pending_by_ticker(client: ApprovalsClient, run_id: str) -> dict[str, Any]:
    return {a.ticker: a for a in await client.list(run_id=run_id, status="pending")}


async def test_policy_all_approve_one_reject_the_others(stack):
    create_run(stack.root, "all", {"mode": "all"})
    ids: dict[str, str] = {}

    async def decide(client: ApprovalsClient) -> None:
        pending = await pending_by_ticker(client, "all")
        assert sorted(pending) == ["AAPL", "MSFT", "TSLA"]
        for ticker, a in pending.items():
            ids[ticker] = a.id
            # The trader sees the facts the agents decided on.
            assert a.context.signals and a.context.conference_summary and a.context.pm_reasoning == a.reasoning
            assert a.reasons and a.expires_at > a.created_at
        await client.decide(ids["AAPL"], "approve", reason="fits the plan")
        await client.decide(ids["MSFT"], "reject", reason="too concentrated")
        await client.decide(ids["TSLA"], "reject", reason="no new shorts this week")

    frames = await drive(stack, "all", decide)
    assert traded(frames) == {"AAPL": ("long", 14)}
    run_dir = stack.root / "runs/all"
    assert positions(run_dir) == {"AAPL": 14}
    trade = json.loads((run_dir / "state/trades.jsonl").read_text())
    assert trade["approval_id"] == ids["AAPL"]

    requested = [f for f in frames if f["type"] == "approval_requested"]
    assert sorted(f["ticker"] for f in requested) == ["AAPL", "MSFT", "TSLA"]
    assert all(f["context"]["signals"] and f["expires_at"] for f in requested)
    outcome = resolved(frames)
    assert outcome["AAPL"]["decision"] == "approved" and outcome["AAPL"]["decided_by"] == "Ann (operator)"
    assert outcome["MSFT"]["decision"] == "rejected" and outcome["MSFT"]["reason"] == "too concentrated"
    assert statuses(frames) == ["running", "waiting_approval", "running", "completed"]
    stages = [(f["stage"], f["status"]) for f in frames if f["type"] == "pipeline_stage" and f["stage"] == "approval"]
    assert stages == [("approval", "started"), ("approval", "finished")]

    # The run's own event log carries the decisions, and agent_service the audit trail.
    logged = [json.loads(line) for line in (run_dir / "logs/events.jsonl").read_text().splitlines()]
    assert {e["ticker"]: e["decision"] for e in logged if e["type"] == "approval_resolved"} == \
        {"AAPL": "approved", "MSFT": "rejected", "TSLA": "rejected"}
    async with api(stack) as client:
        audit = await client.audit("all")
    assert [e.event for e in audit] == ["filed"] * 3 + ["approved", "rejected", "rejected"]
    approved = audit[3]
    assert approved.actor == "Ann (operator)" and approved.reason == "fits the plan"
    assert approved.before.quantity == 14 and approved.after.quantity == 14
    assert audit[4].after is None and audit[0].actor == "gateway"


async def test_threshold_holds_only_large_orders_and_new_shorts(stack):
    create_run(stack.root, "thr", {"mode": "threshold", "notional_threshold": 8000, "max_position_weight": 1.0,
                                   "approve_new_shorts": True})

    async def decide(client: ApprovalsClient) -> None:
        pending = await pending_by_ticker(client, "thr")
        assert sorted(pending) == ["MSFT", "TSLA"]  # AAPL (~4.2k, long) was never held
        assert "exceeds" in pending["MSFT"].reasons[0] and "new short" in pending["TSLA"].reasons[0]
        for a in pending.values():
            await client.decide(a.id, "reject")

    frames = await drive(stack, "thr", decide)
    assert traded(frames) == {"AAPL": ("long", 14)}
    assert sorted(resolved(frames)) == ["MSFT", "TSLA"]


async def test_threshold_small_orders_never_wait_nor_call_agent_service(stack):
    create_run(stack.root, "small", {"mode": "threshold", "notional_threshold": 1e9, "max_position_weight": 1.0,
                                     "approve_new_shorts": False}, end="2025-02-05")
    # Nothing listens at this address: contacting agent_service would stall the run.
    env = dict(stack.env, AGENT_SERVICE_URL=f"http://127.0.0.1:{free_port()}")
    frames = await drive(stack, "small", env=env)
    first_day = {t["ticker"]: (t["action"], t["quantity"])
                 for f in frames if f["type"] == "team_trades" for t in f["data"] if t["trading_date"] == DAY}
    assert first_day == ALL_THREE
    assert "waiting_approval" not in statuses(frames) and statuses(frames)[-1] == "completed"
    assert not [f for f in frames if f["type"].startswith("approval_")]


@pytest.mark.parametrize("on_timeout, expected", [("reject", {}), ("approve", ALL_THREE)])
async def test_timeout_applies_the_policy(stack, on_timeout, expected):
    run_id = f"timeout-{on_timeout}"
    create_run(stack.root, run_id, {"mode": "all", "timeout_seconds": 1, "on_timeout": on_timeout})
    frames = await drive(stack, run_id)  # nobody decides
    assert traded(frames) == expected
    outcome = resolved(frames)
    assert sorted(outcome) == ["AAPL", "MSFT", "TSLA"]
    assert {(f["decision"], f["decided_by"]) for f in outcome.values()} == {("expired", "policy")}
    async with api(stack) as client:
        items = await client.list(run_id=run_id)
        assert {a.status for a in items} == {"expired"}
        assert {a.outcome for a in items} == {"approved" if on_timeout == "approve" else "rejected"}
        late = await client.list(run_id=run_id)
        with pytest.raises(ApprovalsApiError) as err:
            await client.decide(late[0].id, "approve")
        assert err.value.status == 409 and err.value.approval.status == "expired"


async def test_approve_with_a_reduced_quantity(stack):
    create_run(stack.root, "qty", {"mode": "all"})

    async def decide(client: ApprovalsClient) -> None:
        pending = await pending_by_ticker(client, "qty")
        with pytest.raises(ApprovalsApiError) as err:
            await client.decide(pending["MSFT"].id, "approve", quantity=24)
        assert err.value.status == 400 and "only reduce" in err.value.detail
        await client.decide(pending["MSFT"].id, "approve", reason="half size", quantity=10)
        await client.decide(pending["AAPL"].id, "reject")
        await client.decide(pending["TSLA"].id, "reject")

    frames = await drive(stack, "qty", decide)
    assert traded(frames) == {"MSFT": ("long", 10)}
    assert positions(stack.root / "runs/qty") == {"MSFT": 10}
    assert resolved(frames)["MSFT"]["quantity"] == 10
    async with api(stack) as client:
        entry = [e for e in await client.audit("qty") if e.event == "approved"][0]
    assert (entry.before.quantity, entry.after.quantity, entry.reason) == (23, 10, "half size")


async def test_agent_service_sigkilled_while_pending_loses_nothing(tmp_path):
    registry = generate_registry()
    port = free_port()
    env = stack_env(tmp_path, registry, f"http://127.0.0.1:{port}")
    service = AgentService(env, tmp_path / "agent_service.log", port).start()
    stack = SimpleNamespace(root=tmp_path, env=env, service=service, operator=registry.tokens[Role.operator],
                            registry=registry)
    create_run(tmp_path, "crash", {"mode": "all"})

    async def decide(client: ApprovalsClient) -> None:
        before = await pending_by_ticker(client, "crash")
        assert len(before) == 3
        service.kill()
        service.start()
        after = await pending_by_ticker(client, "crash")
        assert {t: a.id for t, a in after.items()} == {t: a.id for t, a in before.items()}
        for a in after.values():
            await client.decide(a.id, "approve")

    try:
        frames = await drive(stack, "crash", decide)
    finally:
        service.stop()
    assert traded(frames) == ALL_THREE
    assert {f["decision"] for f in resolved(frames).values()} == {"approved"}
    assert statuses(frames)[-1] == "completed"


async def test_gateway_sigkilled_while_pending_applies_decisions_made_meanwhile(stack):
    create_run(stack.root, "gw-crash", {"mode": "all"})
    proc, url = start_gateway(run_env(stack.env, stack.registry, "gw-crash"), "--run-id", "gw-crash", "--paused")
    try:
        async with await open_and_resume(url, stack.operator) as ws:
            await collect_until(ws, is_status("waiting_approval"))
            proc.kill()
            proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    async with api(stack, user="Bob") as client:
        pending = await pending_by_ticker(client, "gw-crash")
        await client.decide(pending["TSLA"].id, "approve", reason="while the Gateway was down")
        await client.decide(pending["AAPL"].id, "reject")
        await client.decide(pending["MSFT"].id, "reject")

    frames = await drive(stack, "gw-crash")
    assert traded(frames) == {"TSLA": ("short", 17)}
    assert resolved(frames)["TSLA"]["decided_by"] == "Bob (operator)"
    run_dir = stack.root / "runs/gw-crash"
    assert positions(run_dir) == {"TSLA": -17}
    assert len((run_dir / "state/trades.jsonl").read_text().splitlines()) == 1
    async with api(stack) as client:
        assert len(await client.list(run_id="gw-crash")) == 3  # re-attached, not filed twice


async def test_gateway_waits_for_an_agent_service_that_starts_late(tmp_path):
    registry = generate_registry()
    port = free_port()
    env = stack_env(tmp_path, registry, f"http://127.0.0.1:{port}")
    stack = SimpleNamespace(root=tmp_path, env=env, operator=registry.tokens[Role.operator],
                            service=AgentService(env, tmp_path / "agent_service.log", port))
    create_run(tmp_path, "late", {"mode": "all"})
    proc, url = start_gateway(run_env(env, registry, "late"), "--run-id", "late", "--paused", "--exit-when-done")
    try:
        async with await open_and_resume(url, stack.operator) as ws:
            frames = await collect_until(ws, lambda f: f["type"] == "system" and "unreachable" in f["content"])
            stack.service.start()
            frames += await collect_until(ws, is_status("waiting_approval"))
            async with api(stack) as client:
                for a in await client.list(run_id="late", status="pending"):
                    await client.decide(a.id, "approve" if a.ticker == "MSFT" else "reject")
            frames += await collect_until(ws, is_done)
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        stack.service.stop()
    assert traded(frames) == {"MSFT": ("long", 23)}
    assert statuses(frames)[-1] == "completed"


async def test_sigterm_while_waiting_stops_the_run_and_keeps_the_approvals(stack):
    create_run(stack.root, "term", {"mode": "all"})
    proc, url = start_gateway(run_env(stack.env, stack.registry, "term"), "--run-id", "term", "--paused")
    try:
        async with await open_and_resume(url, stack.operator) as ws:
            await collect_until(ws, is_status("waiting_approval"))
            proc.terminate()
            frames = await collect_until(ws, is_done)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    assert frames[-1]["status"] == "stopped"
    assert ("approval", "failed") in [(f["stage"], f["status"]) for f in frames if f["type"] == "pipeline_stage"]
    assert not traded(frames)
    async with api(stack) as client:
        assert len(await client.list(run_id="term", status="pending")) == 3
