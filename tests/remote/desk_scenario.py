"""The remote desk's scenario, run against any :class:`tests.remote.remote_flow.Deployment`.

A viewer desk attaches with the four service URLs and its token, follows the
live run through the Gateway URL runtime_service returns, has every
mutating control disabled with the reason, and every forced mutation (each
write route every service documents, a WebSocket command to the Gateway) is
refused with 403 / an ``error`` event while the connection stays up. An
operator desk then approves the run's held orders from its Approvals panel
and both desks see the trades execute. The finished run is listed in the
viewer's Run history and replayed there.
"""

from __future__ import annotations

import asyncio
from typing import Any

from PySide6.QtCore import Qt

from app.net.gateway_client import GatewayCommandError
from app.session import Session
from backend.schema.commands import Pause, SetPace
from tests.remote.remote_flow import SERVICES, Deployment, forced_writes, mutating_controls, run_status
from tests.support.waiting import until


def window_for(qtbot: Any, session: Session) -> Any:
    from app.models.settings_store import AppSettings, MemorySettings
    from app.qt.main_window import MainWindow
    from app.qt.panels import load_panels

    window = MainWindow(session, AppSettings(MemorySettings()), panel_classes=load_panels(), demo_run=None)
    qtbot.addWidget(window)
    window.show()
    return window


async def attach(session: Session, deployment: Deployment, role: str, run_id: str) -> None:
    """Open the role's profile (URLs and token only) and wait until the run is followed and drawn."""
    await session.open(deployment.profile(role))
    await until(lambda: session.run_id == run_id and session.gateway is not None and session.gateway.connected,
                timeout=60, what=f"the {role} desk following run {run_id} at the URL runtime_service returned")
    await until(lambda: session.role == role, timeout=20, what=f"the Gateway's hello granting {role}")


async def viewer_is_read_only_and_refused(qtbot: Any, window: Any, session: Session, deployment: Deployment,
                                          run_id: str, gateway_url: str) -> None:
    # Followed at the URL runtime_service returned (no hand-set Gateway URL in the profile).
    assert session.profile.gateway_url == ""
    assert session.gateway.url.split("?")[0].rstrip("/") == gateway_url.split("?")[0].rstrip("/")
    live = window.panel("live")
    await until(lambda: live.model.run_id == run_id, timeout=20, what="the Live panel drawing the run's initial_state")

    # Every mutating control is disabled and says why; the title and status bar say viewer.
    reason = session.read_only_reason
    assert reason and "viewer" in reason, reason
    controls = mutating_controls(window)
    assert {panel for panel, _ in controls} >= {"stack", "live", "workspaces", "agents", "approvals", "sandbox"}
    for panel_id, control in controls:
        assert not control.isEnabled(), f"{panel_id}: {control.objectName() or control!r} is enabled for a viewer"
        assert reason in control.toolTip() or "needs the" in control.toolTip(), (panel_id, control.toolTip())
    assert "viewer" in window.windowTitle() and window.role_label.text() == "Role: viewer"
    # No local stack is started or stopped from a remote profile either.
    assert not window.action("start_stack").isEnabled() and not window.action("stop_stack").isEnabled()
    # ... and a locked panel with nothing else to say says it on its message line, not only in tooltips.
    await until(lambda: window.panel("approvals").message.text() == reason, timeout=5,
                what="the Approvals panel's message line naming the lock")

    # Forced anyway: every write route of every service answers 403 (the servers decide, not the desk).
    refused: dict[str, dict[tuple[str, str], int]] = {}
    for service in SERVICES:
        refused[service] = await forced_writes(session.client(service))
    assert refused["agent"] and refused["runtime"], "agent and runtime services document write routes"
    for service, statuses in refused.items():
        assert all(code == 403 for code in statuses.values()), (service, statuses)
    # trading_service and news_service are read models: they document no write route at all.
    assert refused["trading"] == {} and refused["news"] == {}
    assert all(session.state(s).status == "up" for s in SERVICES)

    # A WebSocket command to the Gateway: an error event, and the connection stays up.
    gateway = session.gateway
    for command in (Pause(), SetPace(seconds=0.5)):
        try:
            await gateway.request(command)
        except GatewayCommandError as err:
            assert "read-only" in str(err) or "operator" in str(err), err
        else:
            raise AssertionError(f"the Gateway accepted {command.type} from a viewer")
    assert gateway.connected and session.gateway is gateway
    state = await gateway.get_state()
    assert state.type == "initial_state"


async def operator_approves(qtbot: Any, window: Any, session: Session, run_id: str) -> list[str]:
    """Approve every held order of the run from the Approvals panel (keyboard A) until the run completes."""
    approvals = window.panel("approvals")
    window.show_panel("approvals")
    await until(lambda: approvals.model.pending, timeout=90, what="a held order in the operator's Approvals panel")
    assert approvals.read_only_reason() is None, approvals.read_only_reason()
    approved: list[str] = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 120
    while loop.time() < deadline:
        pending = [a for a in approvals.model.pending if a.run_id == run_id]
        if not pending:
            if approved and window.panel("live").model.status == "completed":
                break
            await asyncio.sleep(0.05)
            continue
        item = pending[0]
        approvals.model.select(item.id)
        approvals.table.setFocus()
        qtbot.keyClick(approvals.table, Qt.Key.Key_A)
        approved.append(item.id)
        await until(lambda i=item.id: all(a.id != i for a in approvals.model.pending), timeout=20,
                    what="the decision to land")
    assert approved, "no order was held for approval"
    decided = {a.id: a for a in approvals.model.history}
    assert all(decided[i].status == "approved" for i in approved)
    return approved


async def run_completes(deployment: Deployment, run_id: str) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 120
    while (status := await run_status(deployment, run_id)) != "completed":
        assert status not in ("failed", "stopped", "crashed"), status
        assert loop.time() < deadline, f"run {run_id} still {status}"
        await asyncio.sleep(0.2)


async def history_lists_and_replays(window: Any, run_id: str, approved: list[str]) -> None:
    history = window.panel("history")
    window.show_panel("history")

    async def listed() -> Any:
        await history.model.refresh()
        row = history.model.row(run_id)
        return row if row is not None and row.status == "completed" else None

    row = None
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 30
    while row is None and loop.time() < deadline:
        row = await listed()
        if row is None:
            await asyncio.sleep(0.2)
    assert row is not None, f"run {run_id} not listed as completed in Run history"
    history.refresh()
    history.select_runs([run_id])
    await until(lambda: history.replay_button.isEnabled(), timeout=10,
                what=f"Replay enabled for the finished remote run ({history.replay_button.toolTip()})")
    live = window.panel("live")
    history.speed.setValue(0)  # as fast as possible
    history.replay_button.click()
    await until(lambda: live.replaying, timeout=10, what="the Live panel replaying")
    await until(lambda: live.model.status == "completed" and {t.approval_id for t in live.model.trades} & set(approved),
                timeout=60, what="the replay reaching the approved trades and the run's end")


async def switching_down_never_keeps_the_role(window: Any, session: Session, deployment: Deployment,
                                              run_id: str) -> None:
    """An operator desk switched to the viewer profile is never an operator there, not even before the hello."""
    assert session.role == "operator"
    viewer = deployment.profile("viewer")
    seen: list[str | None] = []  # the role at every session event once the viewer profile is looked at
    session.changed.connect(lambda event: seen.append(session.role) if session.profile.name == viewer.name else None)
    await session.open(viewer)
    assert session.role is None and "not confirmed" in (session.read_only_reason or "")
    assert not window.panel("approvals").approve_button.isEnabled()
    await until(lambda: session.role == "viewer" and session.run_id == run_id, timeout=30,
                what="the viewer's hello on the switched desk")
    assert "operator" not in seen, seen
    assert all(not control.isEnabled() for _, control in mutating_controls(window))


async def viewer_and_operator(qtbot: Any, deployment: Deployment, run_id: str, gateway_url: str) -> None:
    """The whole remote scenario on a run held at an approval: a viewer desk follows it read-only and
    is refused every write, an operator desk approves, the viewer sees the trades, lists and replays the
    run, and an operator switched to the viewer profile is never an operator there."""
    viewer = Session(health_interval=0.5)
    operator = Session(health_interval=0.5)
    viewer_window = window_for(qtbot, viewer)
    operator_window = window_for(qtbot, operator)
    try:
        await attach(viewer, deployment, "viewer", run_id)
        await viewer_is_read_only_and_refused(qtbot, viewer_window, viewer, deployment, run_id, gateway_url)
        await attach(operator, deployment, "operator", run_id)
        approved = await operator_approves(qtbot, operator_window, operator, run_id)
        await run_completes(deployment, run_id)
        # The viewer desk saw the approved trades execute live.
        live = viewer_window.panel("live")
        await until(lambda: {t.approval_id for t in live.model.trades} & set(approved), timeout=30,
                    what="the approved trades in the viewer's Live panel")
        await history_lists_and_replays(viewer_window, run_id, approved)
        await switching_down_never_keeps_the_role(operator_window, operator, deployment, run_id)
    finally:
        await viewer_window.shutdown()
        await operator_window.shutdown()
        await viewer.close()
        await operator.close()
