"""ApprovalsPanel with qtbot: countdown, keyboard decisions, confirmation, read-only, notifications.

The HTTP side is the stub agent_service of ``test_approvals_model`` (see there why).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from PySide6.QtCore import Qt

from app.models.approvals_model import ApprovalsModel
from backend.clients.http import ServiceClient
from backend.clients.services import AgentServiceClient
from app.qt.panels.approvals import ApprovalsPanel
from tests.support.waiting import until
from tests.desk.test_approvals_model import NOW, StubAgentService, approval, requested


@pytest.fixture
def stub() -> Iterator[StubAgentService]:
    server = StubAgentService()
    server.approvals = {"a1": approval("a1", "AAPL", expires=NOW + 60),
                        "a2": approval("a2", "NVDA", expires=NOW + 300)}
    yield server
    server.close()


@pytest.fixture
def panel(qtbot: Any, arun: Any, stub: StubAgentService) -> Iterator[ApprovalsPanel]:
    clock = {"now": NOW}
    http = ServiceClient("agent", stub.url)
    model = ApprovalsModel(AgentServiceClient(http), clock=lambda: clock["now"])
    model.set_run("r1")
    view = ApprovalsPanel(model)
    view.clock = clock
    qtbot.addWidget(view)
    arun(model.refresh())
    view.throttle.flush()
    yield view
    arun(http.aclose())


def test_shows_queue_details_and_countdown(panel: ApprovalsPanel) -> None:
    assert panel.table.rowCount() == 2
    assert [panel.table.item(r, 0).text() for r in range(2)] == ["AAPL", "NVDA"]
    assert panel.tabs.tabText(0) == "Pending (2)"
    assert panel.headline.text().startswith("LONG 40 AAPL @ 190.50 = 7,620")
    assert panel.countdown.text() == "1:00"
    assert panel.table.item(0, 6).text() == "1:00"
    assert "PM: buy 40" in panel.pm.text() and "volatility 38%" in panel.warnings.text()
    assert panel.signals.item(0, 0).text() == "technical_analyst" and panel.signals.item(0, 1).text() == "bull"
    panel.clock["now"] = NOW + 45  # time passes: the countdown turns urgent
    panel.countdown.tick()
    panel._tick()
    assert panel.countdown.text() == "0:15" and "f85149" in panel.countdown.styleSheet()
    assert panel.table.item(0, 6).text() == "0:15"


def test_keys_move_and_a_approves_the_selected_row(qtbot: Any, arun: Any, panel: ApprovalsPanel,
                                                   stub: StubAgentService) -> None:
    qtbot.keyClick(panel.table, Qt.Key.Key_J)
    assert panel.model.selected_id == "a2" and panel.headline.text().startswith("LONG 40 NVDA")
    qtbot.keyClick(panel.table, Qt.Key.Key_K)
    qtbot.keyClick(panel.table, Qt.Key.Key_Down)
    assert panel.model.selected_id == "a2"
    panel.quantity.setValue(15)  # approve a smaller quantity
    qtbot.keyClick(panel.table, Qt.Key.Key_A)
    arun(until(lambda: stub.decisions, what="the decision to reach the service"))
    assert stub.decisions == [("a2", {"decision": "approve", "reason": "", "quantity": 15})]
    arun(until(lambda: panel.model.message, what="the outcome message"))
    panel.throttle.flush()
    assert panel.table.rowCount() == 1 and panel.history.rowCount() == 1
    assert panel.history.item(0, 4).text() == "15" and panel.history.item(0, 6).text() == "operator"
    assert "approved 15 of 40 long NVDA" in panel.message.text()


def test_r_asks_for_confirmation_before_rejecting(qtbot: Any, arun: Any, panel: ApprovalsPanel,
                                                  stub: StubAgentService) -> None:
    qtbot.keyClick(panel.table, Qt.Key.Key_R)
    dialog = panel.dialog
    assert dialog is not None and dialog.isVisible() and "Reject long 40 AAPL" in dialog.findChild(
        type(panel.message)).text()
    arun(until(lambda: True))  # let the loop turn: nothing may be sent before the confirmation
    assert stub.decisions == []
    dialog.reason.setText("earnings tomorrow")
    qtbot.mouseClick(dialog.confirm, Qt.MouseButton.LeftButton)
    arun(until(lambda: stub.decisions, what="the rejection"))
    assert stub.decisions == [("a1", {"decision": "reject", "reason": "earnings tomorrow"})]
    assert panel.dialog is None


def test_cancelled_confirmation_sends_nothing(qtbot: Any, arun: Any, panel: ApprovalsPanel,
                                              stub: StubAgentService) -> None:
    panel.ask_reject()
    panel.dialog.reject()
    arun(until(lambda: True))
    assert stub.decisions == [] and panel.dialog is None and panel.model.selected_id == "a1"


def test_read_only_disables_decisions_with_the_reason(qtbot: Any, arun: Any, panel: ApprovalsPanel,
                                                      stub: StubAgentService) -> None:
    reason = "read-only: viewer token on 'prod'"
    panel.set_read_only(reason)
    for button in (panel.approve_button, panel.reject_button, panel.quantity, panel.reason):
        assert not button.isEnabled() and button.toolTip() == reason
    qtbot.keyClick(panel.table, Qt.Key.Key_A)  # the keyboard is refused too, saying why
    qtbot.keyClick(panel.table, Qt.Key.Key_R)
    arun(until(lambda: True))
    assert stub.decisions == [] and panel.dialog is None and panel.message.text() == reason
    panel.set_read_only(None)
    assert panel.approve_button.isEnabled() and panel.approve_button.toolTip() == "Approve the selected order (A)"


def test_new_approval_notifies_when_window_is_not_focused(panel: ApprovalsPanel) -> None:
    assert panel.notifier.user_is_away()  # never shown, so not the active window
    # The first load found two: one notification for the burst.
    assert panel.notifier.sent == [("2 approvals needed", "long 40 AAPL, long 40 NVDA")]
    panel.model.apply_event(requested("e9", "META"))
    panel.throttle.flush()
    assert panel.notifier.sent[1:] == [("Approval needed: META", "short 10 META @ 400.00 (4,000 USD)")]
    panel.model.apply_event(requested("e9", "META"))  # the same approval again is no news
    panel.throttle.flush()
    assert len(panel.notifier.sent) == 2


def test_no_notification_while_the_window_is_focused(qtbot: Any, panel: ApprovalsPanel) -> None:
    panel.show()
    panel.activateWindow()
    qtbot.waitUntil(lambda: not panel.notifier.user_is_away(), timeout=2000)
    before = len(panel.notifier.sent)
    panel.model.apply_event(requested("e10", "META"))
    panel.throttle.flush()
    assert len(panel.notifier.sent) == before and panel.table.rowCount() == 3
    panel.close()
