"""End to end: the desktop app runs a real local stack and a trader works it.

One click on the Stack panel brings up the app's own stack (agent, trading
and news services as subprocesses, the runtime controller embedded); a run
with approval policy ``all`` is started from the Workspaces panel; its order
is approved from the Approvals panel with the keyboard; the trade shows in
the Live pipeline panel and the run in Run history; stopping the stack
leaves no process. Then a remote viewer profile against a stack: every
mutating control is disabled with a reason, and a forced call is refused.
"""

from __future__ import annotations

import asyncio
from typing import Any

import psutil
import pytest
from PySide6.QtCore import QDate, Qt

from app.models.profile import Profile
from backend.clients.http import ServiceError
from app.qt.main_window import MainWindow
from app.qt.panels import load_panels
from app.session import Session
from backend.config import load_settings
from backend.stack.local_stack import LocalStack
from backend.security.tokens import Role
from tests.support.waiting import until

pytestmark = pytest.mark.slow


def make_stack(tmp_path) -> LocalStack:
    settings = load_settings(runs_dir=tmp_path / "runs", workspaces_dir=tmp_path / "ws")
    return LocalStack(settings, state_dir=tmp_path / ".stack", embed_runtime=True,
                      ports={"agent": 0, "trading": 0, "news": 0, "runtime": 0})


def window_for(qtbot: Any, session: Session, **kwargs: Any) -> MainWindow:
    from app.models.settings_store import AppSettings, MemorySettings

    kwargs.setdefault("demo_run", None)  # the test starts its own run
    window = MainWindow(session, AppSettings(MemorySettings()), panel_classes=load_panels(), **kwargs)
    qtbot.addWidget(window)
    window.show()
    return window


def children() -> list[int]:
    return [c.pid for c in psutil.Process().children(recursive=True) if c.status() != psutil.STATUS_ZOMBIE]


def test_trader_runs_and_approves_on_a_local_stack(qtbot, arun, tmp_path):
    stack = make_stack(tmp_path)
    session = Session()
    window = window_for(qtbot, session, stack_factory=lambda: stack)

    async def scenario() -> None:
        # 1. One click on the Stack panel starts the app's own stack.
        stack_panel = window.panel("stack")
        window.show_panel("stack")
        await until(lambda: stack_panel.start_all_button.isEnabled(), what="Start all enabled")
        qtbot.mouseClick(stack_panel.start_all_button, Qt.MouseButton.LeftButton)
        await until(lambda: session.stack is stack and stack.embedded is not None and stack.embedded.running,
                    timeout=60, what="local stack up")
        await until(lambda: {r.name: r.status for r in stack_panel.model.rows()}.get("runtime") == "healthy"
                    and all(r.status == "healthy" for r in stack_panel.model.rows() if r.kind == "service"),
                    timeout=30, what="stack rows healthy")

        # 2. Start a one-day run with approval policy "all" from the Workspaces panel.
        workspaces = window.panel("workspaces")
        window.show_panel("workspaces")
        await until(lambda: any(w.name == "default" for w in workspaces.model.workspaces), timeout=30,
                    what="default workspace listed")
        await workspaces.model.select("default")
        form = workspaces.form
        form.start.setDate(QDate(2025, 2, 3))
        form.end.setDate(QDate(2025, 2, 3))
        form.tickers.setText("AAPL,MSFT,NVDA")
        form.approval.setCurrentText("all")
        qtbot.mouseClick(form.button, Qt.MouseButton.LeftButton)

        # 3. Approve from the Approvals panel with the keyboard: select, press A, for each order.
        approvals = window.panel("approvals")
        window.show_panel("approvals")
        first = await until(lambda: approvals.model.pending, timeout=60, what="an approval request")
        ticker = first[0].ticker
        approved: list[str] = []
        while approvals.model.pending or not approved:
            if not approvals.model.pending:
                await asyncio.sleep(0.05)
                continue
            item = approvals.model.pending[0]
            approvals.model.select(item.id)
            approvals.table.setFocus()
            qtbot.keyClick(approvals.table, Qt.Key.Key_A)
            approved.append(item.id)
            await until(lambda i=item.id: all(a.id != i for a in approvals.model.pending), timeout=20,
                        what="the decision to land")
        decided = {a.id: a for a in approvals.model.history}
        assert all(decided[i].status == "approved" for i in approved)

        # 4. The trade shows in the Live pipeline panel ...
        live = window.panel("live")
        trades = await until(lambda: [t for t in live.model.trades if t.approval_id in approved],
                             timeout=60, what="the approved trades in the Live panel")
        assert ticker in {t.ticker for t in trades}
        # ... and the finished run in Run history.
        history = window.panel("history")
        run_id = session.run_id

        async def listed() -> Any:
            await history.model.refresh()
            row = history.model.run(run_id) if hasattr(history.model, "run") else next(
                (r for r in history.model.runs if r.run_id == run_id), None)
            return row if row is not None and row.status == "completed" else None

        for _ in range(200):
            row = await listed()
            if row:
                break
            await asyncio.sleep(0.1)
        assert row and row.status == "completed"

        # 5. Stop the stack: nothing the app started is left.
        await window.stop_local_stack()
        await until(lambda: not children(), timeout=15, what="no child process left")
        # ... and the desk says it is stopped, not that it lost its services: no "last known data" bars.
        await until(lambda: session.state("agent").down, timeout=20, what="the stopped services probed")
        window._refresh_connection()
        assert "local stack is stopped" in window.top_banner.text()
        assert [b.text() for b in window._dock_banners.values() if b.isVisible()] == []
        assert "stopped" in window.service_labels["agent"].toolTip()

    arun(scenario(), timeout=240)
    assert children() == []


def test_remote_viewer_profile_is_read_only_and_refused(qtbot, arun, tmp_path):
    stack = make_stack(tmp_path)
    arun(stack.up(), timeout=60)
    try:
        viewer = stack.tokens.tokens[Role.viewer]
        profile = Profile(name="prod (viewer)", agent_url=stack.urls["agent"], trading_url=stack.urls["trading"],
                          news_url=stack.urls["news"], runtime_url=stack.urls["runtime"], token=viewer)
        session = Session()
        window = window_for(qtbot, session)

        async def scenario() -> None:
            await session.open(profile)
            await until(lambda: session.read_only_reason, timeout=20, what="read-only mode")
            disabled = 0
            for panel_id, panel in window.panels.items():
                controls = getattr(panel, "controls", None)
                for control in getattr(controls, "_controls", []):
                    assert not control.isEnabled(), f"{panel_id}: {control!r} is enabled for a viewer"
                    assert control.toolTip(), f"{panel_id}: {control!r} does not say why it is disabled"
                    disabled += 1
            assert disabled >= 10
            assert "viewer" in window.windowTitle().lower() or "read-only" in window.windowTitle().lower()
            # The servers refuse it anyway.
            with pytest.raises(ServiceError) as refused:
                await session.client("runtime").post("/runs", {"workspace": "default"})
            assert refused.value.status == 403
            with pytest.raises(ServiceError) as refused:
                await session.client("agent").post("/workspaces", {"name": "mine"})
            assert refused.value.status == 403
            await session.close()

        arun(scenario(), timeout=60)
    finally:
        arun(stack.down(), timeout=30)
