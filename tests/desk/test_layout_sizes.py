"""The desk at 1366x768 and 1920x1080: the window fits the screen, and in every panel no table's columns run
past its view and no button or one-line label is narrower than its text."""

from __future__ import annotations

from typing import Any

import pytest
from PySide6.QtWidgets import QAbstractItemView, QLabel, QPushButton, QTableView, QTreeView, QWidget

from app.models.profile import Profile
from app.models.settings_store import AppSettings, MemorySettings
from app.qt.main_window import MainWindow
from app.qt.panels import load_panels
from app.session import Session
from tests.support.service_process import free_port
from tests.support.waiting import until

# The Stack panel's process table scrolls sideways by design (pid, port, uptime, last exit, actions).
SIDEWAYS = {"stack_table"}


def _clipped(panel: QWidget) -> list[str]:
    problems = []
    for view in panel.findChildren(QAbstractItemView):
        if not view.isVisible() or not isinstance(view, (QTableView, QTreeView)) or view.objectName() in SIDEWAYS:
            continue
        header = view.horizontalHeader() if isinstance(view, QTableView) else view.header()
        used = header.length() - header.offset()
        if used > view.viewport().width() + 1:
            problems.append(f"{view.objectName() or type(view).__name__}: columns {used} px in a "
                            f"{view.viewport().width()} px view")
    for widget in panel.findChildren(QWidget):
        if not widget.isVisible() or not isinstance(widget, (QPushButton, QLabel)):
            continue
        if isinstance(widget, QLabel) and (widget.wordWrap() or not widget.text() or widget.pixmap() is not None
                                           and not widget.pixmap().isNull()):
            continue
        if widget.sizePolicy().horizontalPolicy().name == "Ignored":  # a status line that elides by design
            continue
        need = widget.minimumSizeHint().width()
        if widget.width() < need:
            problems.append(f"{type(widget).__name__} {widget.text()!r}: {widget.width()} px < {need} px")
    return problems


@pytest.mark.parametrize("size", [(1366, 768), (1920, 1080)])
def test_every_panel_reads_at_common_screen_sizes(qtbot: Any, arun: Any, size: tuple[int, int]) -> None:
    # A remote profile nobody answers: the panels show their bodies (not the first-run invitation).
    urls = {f"{name}_url": f"http://127.0.0.1:{free_port()}" for name in ("agent", "trading", "news", "runtime")}
    session = Session(Profile("elsewhere", **urls), health_interval=60)
    window = MainWindow(session, AppSettings(MemorySettings()), panel_classes=load_panels(), demo_run=None)
    qtbot.addWidget(window)
    width, height = size
    assert window.minimumSizeHint().width() <= width and window.minimumSizeHint().height() <= height
    window.resize(width, height)
    window.show()

    async def scenario() -> None:
        await until(lambda: window.isVisible() and window.width() == width, 5, "the window at its size")
        window.fit_docks()
        await asyncio_turns(3)
        live, stack, approvals = (window.dock(p) for p in ("live", "stack", "approvals"))
        # The Live pipeline takes the room; the left column and the Approvals strip stay secondary.
        assert live.width() > 2 * stack.width() and stack.width() <= 0.3 * width
        assert approvals.height() < 0.4 * height and live.height() > approvals.height()
        problems = {}
        for panel_id in window.panels:
            window.show_panel(panel_id)
            await asyncio_turns(3)
            found = _clipped(window.panel(panel_id))
            if found:
                problems[panel_id] = found
        assert (window.width(), window.height()) == size  # the window is not taller than the screen
        assert problems == {}
        await window.shutdown()

    arun(scenario(), 30)


async def asyncio_turns(n: int) -> None:
    """Let Qt lay out what was just shown (a few loop turns)."""
    import asyncio

    for _ in range(n):
        await asyncio.sleep(0.02)
