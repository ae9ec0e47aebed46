"""The Approvals panel against a real agent_service subprocess: keyboard decisions, 409s, viewer refusal."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from PySide6.QtCore import Qt

from app.models.approvals_model import ApprovalsModel
from backend.clients.http import ServiceClient
from backend.clients.services import AgentServiceClient
from app.qt.panels.approvals import ApprovalsPanel
from backend.security.run_credentials import run_token
from backend.security.tokens import Role, generate_registry
from tests.approvals.stack import AgentService, create_run, stack_env
from tests.support.waiting import until


class Service:
    """agent_service with generated tokens and one run whose orders all need approval."""

    def __init__(self, root: Path) -> None:
        self.registry = generate_registry()
        self.tokens = {role: self.registry.tokens[role] for role in Role}
        create_run(root, "desk-run", {"mode": "all", "timeout_seconds": 600})
        self.agent = AgentService(stack_env(root, self.registry, ""), root / "agent.log")
        self.url = self.agent.url

    def file(self, ticker: str, quantity: int = 20) -> str:
        """File an approval as the Gateway does (the run's own credential); returns its id."""
        body = {"run_id": "desk-run", "date": "2025-02-03", "ticker": ticker, "action": "long",
                "quantity": quantity, "price": 100.0, "confidence": 60, "reasoning": f"buy {ticker}",
                "context": {"signals": [{"agent_id": "technical_analyst", "signal": "bull", "confidence": 70}],
                            "risk_warnings": [f"{ticker} is volatile"]}}
        answer = httpx.post(f"{self.url}/approvals", json=body, timeout=10,
                            headers={"Authorization": f"Bearer {run_token(self.registry.run_secret, 'desk-run')}"})
        assert answer.status_code == 201, answer.text
        return answer.json()["id"]

    def get(self, approval_id: str) -> dict:
        return httpx.get(f"{self.url}/approvals/{approval_id}", timeout=10,
                         headers={"Authorization": f"Bearer {self.tokens[Role.viewer]}"}).json()


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    svc = Service(tmp_path_factory.mktemp("approvals-desk"))
    svc.agent.start()
    yield svc
    svc.agent.stop()


@pytest.fixture
def panel_for(qtbot: Any, arun: Any, service: Service) -> Iterator[Any]:
    clients: list[ServiceClient] = []

    def make(role: Role) -> ApprovalsPanel:
        http = ServiceClient("agent", service.url, service.tokens[role])
        clients.append(http)
        model = ApprovalsModel(AgentServiceClient(http))
        model.set_run("desk-run")
        view = ApprovalsPanel(model)
        qtbot.addWidget(view)
        arun(model.refresh())
        view.throttle.flush()
        return view

    yield make
    for http in clients:
        arun(http.aclose())


def test_keyboard_approve_and_confirmed_reject_reach_the_service(qtbot: Any, arun: Any, service: Service,
                                                                 panel_for: Any) -> None:
    first, second = service.file("AAPL"), service.file("MSFT", 30)
    panel = panel_for(Role.operator)
    assert {a.id for a in panel.model.pending} >= {first, second}
    panel.model.select(first)
    panel.throttle.flush()
    assert "AAPL is volatile" in panel.warnings.text() and panel.countdown.text().startswith("9:")
    panel.quantity.setValue(12)
    qtbot.keyClick(panel.table, Qt.Key.Key_A)
    arun(until(lambda: service.get(first)["status"] != "pending", what="the approval to be recorded"))
    stored = service.get(first)
    assert (stored["status"], stored["decided_quantity"], stored["decided_by"]) == ("approved", 12, "operator")

    panel.model.select(second)
    qtbot.keyClick(panel.table, Qt.Key.Key_R)
    assert service.get(second)["status"] == "pending"  # nothing before the confirmation
    panel.dialog.reason.setText("too big today")
    panel.dialog.confirm.click()
    arun(until(lambda: service.get(second)["status"] != "pending", what="the rejection to be recorded"))
    assert service.get(second)["reason"] == "too big today"
    arun(until(lambda: second in {a.id for a in panel.model.history}, what="the history row"))
    panel.throttle.flush()
    assert panel.history.rowCount() >= 2


def test_a_decision_that_lost_the_race_shows_the_current_state(arun: Any, service: Service, panel_for: Any) -> None:
    approval_id = service.file("NVDA")
    panel = panel_for(Role.operator)
    other = httpx.post(f"{service.url}/approvals/{approval_id}/decision", timeout=10,
                       json={"decision": "reject", "reason": "first"},
                       headers={"Authorization": f"Bearer {service.tokens[Role.admin]}"})
    assert other.status_code == 200
    assert not arun(panel.model.approve(approval_id))  # our view was stale: a 409
    assert panel.model.message == "NVDA was already rejected by admin"
    assert panel.model.item(approval_id).status == "rejected" and approval_id not in {a.id for a in panel.model.pending}


def test_a_viewer_is_refused_by_the_server_too(arun: Any, service: Service, panel_for: Any) -> None:
    approval_id = service.file("TSLA")
    panel = panel_for(Role.viewer)
    panel.set_read_only("read-only: viewer token on 'remote'")
    assert not panel.approve_button.isEnabled()
    assert not arun(panel.model.approve(approval_id))  # forced past the disabled button
    assert "403" in panel.model.message and service.get(approval_id)["status"] == "pending"


def test_attached_to_a_session_it_loads_the_queue_and_follows_the_role(qtbot: Any, arun: Any,
                                                                      service: Service) -> None:
    from app.models.profile import Profile
    from app.session import Session

    approval_id = service.file("META")
    panels = {}
    for role in ("viewer", "operator"):
        session = Session(Profile("prod", agent_url=service.url, token=service.tokens[Role[role]], role=role))
        panel = ApprovalsPanel()
        qtbot.addWidget(panel)
        session.runs.run_id = "desk-run"  # the watched run, as if its Gateway's hello had said so
        panel.attach(session)
        panel.set_read_only(session.read_only_reason)
        arun(until(lambda p=panel: approval_id in {a.id for a in p.model.pending}, what="the queue"))
        panel.throttle.flush()
        panels[role] = (panel, session)
    viewer, operator = panels["viewer"][0], panels["operator"][0]
    assert not viewer.approve_button.isEnabled() and viewer.approve_button.toolTip() == "read-only: viewer token on 'prod'"
    assert operator.approve_button.isEnabled() and operator.model.selected is not None
    for _, session in panels.values():
        arun(session.close())
