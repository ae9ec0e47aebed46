"""ApprovalStore: durable, serialised, expiring approvals."""

from __future__ import annotations

import json
import threading

import pytest

from backend.approvals.store import AlreadyDecided, ApprovalStore, RefilingConflict
from backend.errors import BadRequestError, NotFoundError
from backend.schema.api_approvals import ApprovalContext, ApprovalCreate, ApprovalDecision
from tests.approvals.conftest import make_runs


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


def request(run_id="r1", ticker="AAPL", date="2025-02-03", action="long", quantity=100):
    return ApprovalCreate(run_id=run_id, date=date, ticker=ticker, action=action, quantity=quantity, price=150.0,
                          confidence=70, reasoning="strong momentum", reasons=["policy all"],
                          context=ApprovalContext(signals=[{"agentId": "technical_analyst", "signal": "bull"}],
                                                  risk_warnings=["high vol"], conference_summary="leans bull",
                                                  pm_reasoning="buy"))


def approve(quantity=None, reason="ok"):
    return ApprovalDecision(decision="approve", reason=reason, quantity=quantity)


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture
def store(runs, clock):
    s = ApprovalStore(runs, clock=clock)
    s.load()
    return s


def lines(runs, run_id="r1"):
    path = runs.paths(run_id).state_dir / "approvals.jsonl"
    return [json.loads(x) for x in path.read_text().splitlines()]


def test_filing_is_persisted_and_idempotent_per_day_and_ticker(store, runs):
    a, created = store.file(request(), filed_by="gateway")
    assert created and a.status == "pending" and a.notional == 15_000.0 and a.timeout_seconds == 60
    assert a.context.pm_reasoning == "buy" and a.context.risk_warnings == ["high vol"]
    again, created = store.file(request())
    assert not created and again.id == a.id and again.quantity == 100
    other, created = store.file(request(ticker="MSFT"))
    assert created and other.id != a.id
    logged = lines(runs)
    assert [(x["kind"], x["approval"]["id"]) for x in logged] == [("filed", a.id), ("filed", other.id)]


@pytest.mark.parametrize("change", [{"quantity": 5}, {"quantity": 101}, {"action": "short"}])
def test_refiling_a_different_order_is_refused_and_audited(store, runs, change):
    a, _ = store.file(request(), filed_by="gateway")
    with pytest.raises(RefilingConflict) as err:
        store.file(request(**change), filed_by="gateway")
    assert err.value.approval.id == a.id and "refused" in str(err.value)
    current = store.get(a.id)
    assert (current.action, current.quantity, current.status) == ("long", 100, "pending")
    assert [x["kind"] for x in lines(runs)] == ["filed", "refused"]
    refused = store.audit("r1")[-1]
    assert refused.event == "refused" and refused.actor == "gateway" and refused.after is None
    assert refused.before.quantity == 100
    assert (refused.attempted.action, refused.attempted.quantity) == (change.get("action", "long"),
                                                                     change.get("quantity", 100))
    # A restarted store replays the refusal too, and still files nothing new for the key.
    again = ApprovalStore(runs)
    again.load()
    assert [e.event for e in again.audit("r1")] == ["filed", "refused"]
    assert [x.id for x in again.list(run_id="r1")] == [a.id]


def test_unknown_or_invalid_runs_are_refused(store):
    with pytest.raises(NotFoundError):
        store.file(request(run_id="nope"))
    with pytest.raises(BadRequestError):
        store.file(request(run_id="../etc"))
    with pytest.raises(NotFoundError):
        store.get("apr-missing")


def test_approve_with_a_smaller_quantity_then_a_second_decision_conflicts(store, runs):
    a, _ = store.file(request())
    done = store.decide(a.id, approve(quantity=40, reason="size down"), role="operator", user="Ann")
    assert done.status == "approved" and done.outcome == "approved" and done.decided_quantity == 40
    assert done.decided_by == "Ann (operator)" and done.reason == "size down" and done.seq > a.seq
    with pytest.raises(AlreadyDecided) as err:
        store.decide(a.id, ApprovalDecision(decision="reject"), role="admin")
    assert err.value.approval.status == "approved" and "already approved by Ann (operator)" in str(err.value)
    assert lines(runs)[-1]["approval"]["decided_quantity"] == 40


def test_quantity_rules(store):
    a, _ = store.file(request())
    with pytest.raises(BadRequestError, match="more than the 100 requested"):
        store.decide(a.id, approve(quantity=101), role="operator")
    with pytest.raises(BadRequestError, match="only to an approve"):
        store.decide(a.id, ApprovalDecision(decision="reject", quantity=3), role="operator")
    b, _ = store.file(request(run_id="r2"))
    with pytest.raises(BadRequestError, match="allow_quantity_change"):
        store.decide(b.id, approve(quantity=10), role="operator")
    assert store.get(a.id).pending and store.get(b.id).pending
    assert store.decide(b.id, approve(), role="operator").decided_quantity == 100


def test_expiry_applies_on_timeout(store, clock):
    rejecting, _ = store.file(request())                 # r1: 60 s, reject
    approving, _ = store.file(request(run_id="r2"))      # r2: 30 s, approve
    assert store.next_deadline() == clock.now + 30
    clock.now += 30
    expired = store.expire_due()
    assert [e.id for e in expired] == [approving.id]
    assert expired[0].status == "expired" and expired[0].outcome == "approved"
    assert expired[0].decided_quantity == 100 and expired[0].decided_by == "policy"
    assert store.next_deadline() == clock.now + 30
    clock.now += 30
    (late,) = store.expire_due()
    assert late.id == rejecting.id and late.outcome == "rejected" and late.decided_quantity is None
    assert store.next_deadline() is None and store.expire_due() == []


def test_a_decision_after_the_deadline_finds_it_expired(store, clock):
    a, _ = store.file(request())
    clock.now += 61
    with pytest.raises(AlreadyDecided) as err:
        store.decide(a.id, approve(), role="operator")
    assert err.value.approval.status == "expired" and err.value.approval.decided_by == "policy"


def test_concurrent_decisions_exactly_one_wins(store):
    a, _ = store.file(request())
    results: list[str] = []
    barrier = threading.Barrier(8)

    def decide(i: int) -> None:
        barrier.wait()
        try:
            store.decide(a.id, approve() if i % 2 else ApprovalDecision(decision="reject"), role="operator",
                         user=f"op{i}")
            results.append("won")
        except AlreadyDecided:
            results.append("conflict")

    threads = [threading.Thread(target=decide, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == ["conflict"] * 7 + ["won"]
    assert len([c for c in store.changes("r1") if c.kind == "decided"]) == 1


def test_reload_restores_every_state_and_cuts_a_torn_tail(store, runs, tmp_path, clock):
    a, _ = store.file(request())
    b, _ = store.file(request(ticker="MSFT"))
    store.decide(a.id, ApprovalDecision(decision="reject", reason="no"), role="admin")
    path = runs.paths("r1").state_dir / "approvals.jsonl"
    whole = path.read_bytes()
    with open(path, "ab") as fh:
        fh.write(b'{"seq": 99, "kind": "deci')  # a crash in the middle of a write
    again = ApprovalStore(make_runs(tmp_path), clock=clock)
    assert again.load() == 2
    assert path.read_bytes() == whole
    assert again.get(a.id).status == "rejected" and again.get(b.id).pending
    assert again.next_deadline() == store.next_deadline()
    c, created = again.file(request(ticker="NVDA"))
    assert created and c.seq > again.get(a.id).seq
    assert [x["approval"]["id"] for x in lines(runs)][-1] == c.id


def test_listing_changes_and_listeners(store):
    seen = []
    store.changed.connect(seen.append)
    a, _ = store.file(request())
    b, _ = store.file(request(run_id="r2"))
    store.decide(a.id, approve(), role="operator")
    assert [c.kind for c in seen] == ["filed", "filed", "decided"]
    assert [x.id for x in store.list()] == [a.id, b.id]
    assert [x.id for x in store.list(run_id="r1")] == [a.id]
    assert [x.id for x in store.list(status="pending")] == [b.id]
    assert store.list(run_id="r1", status="pending") == []
    assert [c.kind for c in store.changes("r1")] == ["filed", "decided"]
    assert [c.kind for c in store.changes("r1", after=seen[0].seq)] == ["decided"]
    assert [c.approval.run_id for c in store.changes(after=0)] == ["r1", "r2", "r1"]


def test_audit_says_who_when_what_why_before_and_after(store, clock):
    a, _ = store.file(request(), filed_by="gateway (operator)")
    b, _ = store.file(request(ticker="MSFT", action="short", quantity=10))
    store.decide(a.id, approve(quantity=60, reason="half size"), role="operator", user="Ann")
    clock.now += 61
    store.expire_due()
    audit = store.audit("r1")
    assert [(e.approval_id, e.event) for e in audit] == [(a.id, "filed"), (b.id, "filed"), (a.id, "approved"),
                                                        (b.id, "expired")]
    filed, _, approved, expired = audit
    assert filed.actor == "gateway (operator)" and filed.reason == "policy all" and filed.after is None
    assert approved.actor == "Ann (operator)" and approved.role == "operator" and approved.reason == "half size"
    assert approved.before.quantity == 100 and approved.after.quantity == 60 and approved.after.notional == 9000
    assert expired.actor == "policy" and expired.after is None and expired.before.action == "short"
    with pytest.raises(NotFoundError):
        store.audit("nope")
