"""The Live panel shows where a real Gateway's skills run and why (the operator's floor)."""

from __future__ import annotations

from typing import Any

from app.models.profile import LOCAL, Profile
from app.qt.panels.live import LivePanel
from app.session import Session
from tests.support.waiting import until


def test_live_panel_shows_the_effective_sandbox_of_a_real_gateway(qtbot: Any, arun: Any, gateway_process: Any) -> None:
    gateway_process.env["SKILL_SANDBOX_MODE"] = "process"
    url = gateway_process.start("--run-id", "desk-sandbox", "--create", "--end", "2025-01-06", "--paused")
    session = Session(Profile(LOCAL))
    panel = LivePanel()
    qtbot.addWidget(panel)
    panel.attach(session)

    async def scenario() -> None:
        client = session.watch_gateway(url)
        await client.wait_connected(15)
        await until(lambda: panel.model.sandbox is not None, what="the run's sandbox in its initial state")
        panel.flush()
        await session.close()

    arun(scenario(), 60)
    sandbox = panel.model.sandbox
    assert (sandbox.mode, sandbox.floor, sandbox.floor_source, sandbox.reason) == \
        ("process", "process", "environment", "floor")
    assert "skills: process (floor from SKILL_SANDBOX_MODE)" in panel.run_label.text()
    assert panel.run_label.toolTip() == sandbox.note


def test_a_state_without_a_sandbox_shows_no_sandbox_line() -> None:
    from app.models.live_model import LiveModel

    model = LiveModel()
    model.apply_frame({"type": "initial_state", "state": {"run_id": "old", "status": "running"}})
    assert model.sandbox is None and model.sandbox_summary is None
    model.apply_frame({"type": "initial_state", "state": {"run_id": "odd", "sandbox": {"mode": "chroot"}}})
    assert model.sandbox is None  # an unreadable value is not shown as a wrong one
