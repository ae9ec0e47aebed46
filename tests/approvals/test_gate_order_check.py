"""The gate executes an approval only as the PM's own order, at most at the PM's quantity.

Each example runs the real HumanApprovalGate against a real agent_service
(over HTTP and its change stream) and stands for a tampered store: the
approval's decided record is rewritten with another ticker, action or
quantity before the gate sees it.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
from types import SimpleNamespace
from typing import Any, Iterator

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from backend.apps.agent_service.app import create_app
from backend.approvals.client import ApprovalsClient
from backend.approvals.gate import HumanApprovalGate
from backend.approvals.order_check import mismatch
from backend.config import load_settings
from backend.pipeline.approval_gate import GateRequest
from backend.schema import events as ev
from backend.schema.bootstrap import ApprovalPolicy
from backend.schema.trading import OrderDecision
from backend.security.run_credentials import run_token
from backend.security.tokens import generate_registry
from tests.approvals.live_server import serve
from tests.approvals.stack import create_run

REGISTRY = generate_registry()
TICKERS = ["AAPL", "MSFT", "NVDA"]
DAYS = itertools.count()


class Recorder:
    """What the gate tells the run: its events and status (the RunEngine's side of bind())."""

    def __init__(self) -> None:
        self.events: list[ev.Event] = []
        self.status = "running"
        self.stop_requested = False

    def emit(self, event: ev.Event) -> None:
        self.events.append(event)

    def set_status(self, status: str) -> None:
        self.status = status

    def write_state(self) -> None:
        pass


@pytest.fixture(scope="module")
def agent(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimpleNamespace]:
    root = tmp_path_factory.mktemp("gate")
    create_run(root, "g1", {"mode": "all", "timeout_seconds": 300})
    app = create_app(load_settings(runs_dir=root / "runs", workspaces_dir=root / "ws"), REGISTRY)
    with serve(app) as url:
        yield SimpleNamespace(url=url, store=app.state.approvals)


async def run_gate(agent: SimpleNamespace, order: OrderDecision, edit: dict[str, Any]) -> tuple[Any, Recorder]:
    """File ``order`` through the gate; once filed, its decided record is written as approved with ``edit``."""
    loop = asyncio.get_running_loop()
    filed: asyncio.Queue[str] = asyncio.Queue()
    date = (dt.date(2030, 1, 1) + dt.timedelta(days=next(DAYS))).isoformat()

    def on_change(change: Any) -> None:  # on agent_service's worker thread
        if change.kind == "filed" and change.approval.date == date:
            loop.call_soon_threadsafe(filed.put_nowait, change.approval.id)

    async def tamper() -> None:
        approval = agent.store.get(await asyncio.wait_for(filed.get(), 30))
        decided = approval.model_copy(update={"status": "approved", "outcome": "approved", "decided_by": "x",
                                              "decider_role": "operator", **edit})
        await asyncio.to_thread(agent.store._record, "decided", decided)  # the one write path of the store

    agent.store.changed.connect(on_change)
    recorder = Recorder()
    gate = HumanApprovalGate(ApprovalsClient(agent.url, token=run_token(REGISTRY.run_secret, "g1")), "g1",
                             ApprovalPolicy(mode="all"))
    gate.bind(recorder)
    try:
        request = GateRequest(run_id="g1", date=date, orders=[order], prices={order.ticker: 100.0},
                              equity=1_000_000.0, positions_value={})
        outcomes, _ = await asyncio.wait_for(asyncio.gather(gate.gate(request), tamper()), 60)
    finally:
        agent.store.changed.disconnect(on_change)
        await gate.close()
    return outcomes[0], recorder


orders = st.builds(OrderDecision, ticker=st.sampled_from(TICKERS), action=st.sampled_from(["long", "short"]),
                   quantity=st.integers(1, 500), confidence=st.floats(0, 100), reasoning=st.just("pm"))


KINDS = ["as filed", "reduced", "other ticker", "other action", "more shares", "no shares", "no quantity", "any"]


def draw_edit(data: Any, order: OrderDecision, kind: str) -> dict[str, Any]:
    """The approval's record as rewritten: one field changed per kind, or anything ("any")."""
    other = lambda values, current: data.draw(st.sampled_from([v for v in values if v != current]))  # noqa: E731
    edit = {"ticker": order.ticker, "action": order.action, "decided_quantity": order.quantity}
    if kind == "reduced":
        edit["decided_quantity"] = data.draw(st.integers(1, order.quantity))
    elif kind == "other ticker":
        edit["ticker"] = other(TICKERS, order.ticker)
    elif kind == "other action":
        edit["action"] = other(["long", "short"], order.action)
    elif kind == "more shares":
        edit["decided_quantity"] = data.draw(st.integers(order.quantity + 1, order.quantity * 10))
    elif kind == "no shares":
        edit["decided_quantity"] = data.draw(st.integers(-5, 0))
    elif kind == "no quantity":
        edit["decided_quantity"] = None
    elif kind == "any":
        edit = {"ticker": data.draw(st.sampled_from(TICKERS)), "action": data.draw(st.sampled_from(["long", "short"])),
                "decided_quantity": data.draw(st.one_of(st.none(), st.integers(-2, order.quantity * 2 + 2)))}
    return edit


# Every kind of change is tried on every run (a parameter, not a draw that may miss one).
@pytest.mark.parametrize("kind", KINDS)
@given(order=orders, data=st.data())
@settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_only_the_pms_order_executes_at_most_at_its_quantity(agent, order, kind, data):
    edit = draw_edit(data, order, kind)
    outcome, recorder = asyncio.run(run_gate(agent, order, edit))
    q = edit["decided_quantity"]
    allowed = edit["ticker"] == order.ticker and edit["action"] == order.action and q is not None \
        and 1 <= q <= order.quantity
    resolved = [e for e in recorder.events if isinstance(e, ev.ApprovalResolved)]
    refusals = [e for e in recorder.events if isinstance(e, ev.System) and "refused to execute" in e.content]
    assert len(resolved) == 1
    if allowed:
        assert outcome.approved and outcome.order == order.model_copy(update={"quantity": q})
        assert not refusals and resolved[0].outcome == "approved" and resolved[0].quantity == q
    else:
        assert not outcome.approved and outcome.order == order  # dropped, never rewritten
        assert len(refusals) == 1 and order.ticker in refusals[0].content
        assert resolved[0].outcome == "rejected" and resolved[0].quantity is None  # the desk is told the truth


@given(order=orders, run_id=st.sampled_from(["g1", "g2"]), date=st.sampled_from(["2025-02-03", "2025-02-04"]))
def test_an_approval_of_another_run_or_day_never_matches(order, run_id, date):
    from backend.schema.api_approvals import Approval

    approval = Approval(id="apr-1", run_id=run_id, date=date, ticker=order.ticker, action=order.action,
                        quantity=order.quantity, price=1.0, notional=1.0, confidence=0, reasoning="", reasons=[],
                        context={}, status="approved", outcome="approved", decided_quantity=order.quantity,
                        created_at="x", expires_at="x", timeout_seconds=1, on_timeout="reject",
                        allow_quantity_change=True)
    why = mismatch(order, approval, "g1", "2025-02-03")
    assert (why is None) == (run_id == "g1" and date == "2025-02-03")
