"""The desk's rows are the services' schema models: every field the service sends is on the row.

A field added to ``Approval``, ``RunSummary``, ``AgentSummary``,
``WorkspaceSummary`` or ``ProbeResponse`` reaches the panels without a
second edit, because each row *is* its schema model (a subclass).
"""

from __future__ import annotations

import datetime as dt

import pytest
from pydantic import BaseModel

from app.models.agents_model import AgentRow
from app.models.approvals_model import ApprovalItem, ApprovalsModel
from app.models.history_model import RunRow
from app.models.sandbox_model import ProbeOutcome
from app.models.workspaces_model import WorkspaceRow
from backend.schema.api_agents import AgentSummary, WorkspaceSummary
from backend.schema.api_approvals import Approval, ApprovalContext
from backend.schema.api_runtime import GatewayInfo, ProbeResponse, RunSummary
from backend.schema.events import ApprovalRequested, ApprovalResolved

APPROVAL = Approval(
    id="ap-1", run_id="r1", date="2025-01-03", ticker="NVDA", action="short", quantity=12, price=131.5,
    notional=1578.0, confidence=64.0, reasoning="stretched", reasons=["new short"],
    context=ApprovalContext(signals=[{"agent_id": "technical_analyst", "signal": "bear"}],
                            risk_warnings=["crowded"], pm_reasoning="PM: trim", conference_summary="split"),
    status="approved", outcome="approved", decided_quantity=8, decided_by="ana (operator)", decider_role="operator",
    reason="smaller", filed_by="gateway:r1", created_at="2025-01-03T14:00:00+00:00",
    expires_at="2025-01-03T16:05:00+02:00", decided_at="2025-01-03T14:01:30Z", timeout_seconds=300.0,
    on_timeout="approve", allow_quantity_change=False, seq=7)


@pytest.mark.parametrize("row, schema", [(ApprovalItem, Approval), (RunRow, RunSummary), (AgentRow, AgentSummary),
                                         (WorkspaceRow, WorkspaceSummary), (ProbeOutcome, ProbeResponse)])
def test_every_schema_field_is_a_row_field(row: type[BaseModel], schema: type[BaseModel]) -> None:
    assert issubclass(row, schema)
    assert set(schema.model_fields) <= set(row.model_fields)


def test_an_approval_from_agent_service_keeps_every_field() -> None:
    item = ApprovalItem.from_api(APPROVAL.model_dump(mode="json"))
    times = {"created_at", "expires_at", "decided_at"}
    for name in set(Approval.model_fields) - times:
        assert getattr(item, name) == getattr(APPROVAL, name), name
    for name in times:  # the same instants, written in UTC
        assert dt.datetime.fromisoformat(getattr(item, name)) == \
            dt.datetime.fromisoformat(getattr(APPROVAL, name).replace("Z", "+00:00")), name
    assert item.expires_at == "2025-01-03T14:05:00+00:00" and item.deadline == item.decided + 210


def test_a_requested_event_becomes_a_pending_row_the_record_then_completes() -> None:
    model = ApprovalsModel(clock=lambda: 0.0)
    event = ApprovalRequested(approval_id="ap-1", run_id="r1", date="2025-01-03", ticker="NVDA", action="short",
                              quantity=12, price=131.5, notional=1578.0, confidence=64.0, reasoning="stretched",
                              expires_at="2025-01-03T14:05:00Z", reasons=["new short"])
    model.apply_event(event)
    pending = model.pending[0]
    assert (pending.ticker, pending.quantity, pending.reasons, pending.status) == ("NVDA", 12, ["new short"], "pending")
    assert pending.on_timeout == "reject" and pending.created_at == ""  # not in the event: known after a refresh
    model.apply_event(ApprovalResolved(approval_id="ap-1", decision="approved", decided_by="ana (operator)",
                                       ts=1_735_913_000_000, quantity=8))
    decided = model.history[0]
    assert model.pending == [] and (decided.status, decided.decided_quantity, decided.ticker) == ("approved", 8, "NVDA")
    assert decided.decided == 1_735_913_000.0
    model.upsert(ApprovalItem.from_api(APPROVAL.model_dump(mode="json")))
    assert model.history[0].on_timeout == "approve" and model.history[0].filed_by == "gateway:r1"


def test_a_run_row_reads_its_figures_and_gateway_from_the_summary() -> None:
    summary = RunSummary(run_id="r1", mode="backtest", tickers=["AAPL"], start_date="2025-01-02",
                         end_date="2025-01-31", status="running", progress=0.4, current_date="2025-01-15",
                         metrics={"total_return_pct": 3.5, "excess_return_pct": {"baseline": 1.25},
                                  "max_drawdown_pct": 2.0, "sharpe": 1.1, "trades": 9},
                         gateway=GatewayInfo(status="running", url="ws://127.0.0.1:9001/"))
    row = RunRow.from_api(summary.model_dump(mode="json"))
    assert all(getattr(row, name) == getattr(summary, name) for name in RunSummary.model_fields)
    assert (row.total_return, row.excess["baseline"], row.excess["momentum"], row.trades) == (3.5, 1.25, None, 9)
    assert row.gateway_url == "ws://127.0.0.1:9001/" and not row.finished
    stopped = RunRow.from_api({**summary.model_dump(mode="json"), "status": "completed",
                               "gateway": {"status": "stopped", "url": "ws://127.0.0.1:9001/"}})
    assert stopped.gateway_url is None and stopped.finished
