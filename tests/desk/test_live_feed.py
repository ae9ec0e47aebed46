"""The Live panel's activity feed as a trader reads it: the message always visible (elided, whole on hover
and in the detail pane), every row timed, and the view following a flood without starting over."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QFontMetrics

from app.models.live_model import LiveModel
from app.qt.panels.live import LivePanel
from app.qt.panels.live_feed import MESSAGE, TIME

LONG = ("AAPL: the services segment keeps compounding while hardware margins hold; the valuation gap to the "
        "sector median is 18 % and the last three quarters beat the consensus, so the signal is bullish with "
        "a confidence of 0.72 -- the risk is the China exposure and the buy-back pace slowing next year.")
T0 = 1_736_000_000_000  # epoch ms


def _iso(epoch_ms: int) -> str:
    return dt.datetime.fromtimestamp(epoch_ms / 1000, dt.timezone.utc).isoformat()


def _panel(qtbot: Any, width: int = 1100, height: int = 700, **model_args: Any) -> LivePanel:
    panel = LivePanel(LiveModel(**model_args))
    qtbot.addWidget(panel)
    panel.resize(width, height)
    panel.show()
    panel.tabs.setCurrentWidget(panel.feed_view)
    qtbot.waitExposed(panel)
    return panel


def _message(agent: str, text: str, ms: int) -> dict[str, Any]:
    return {"type": "agent_message", "agentId": agent, "content": text, "ts": ms, "timestamp": _iso(ms)}


def test_a_long_message_is_elided_to_its_column_and_whole_in_tooltip_and_detail(qtbot: Any) -> None:
    panel = _panel(qtbot)
    panel.model.apply_frame(_message("fundamentals_analyst", LONG, T0))
    panel.flush()
    tree, rows = panel.feed, panel.feed_view.rows
    index = rows.index(0, MESSAGE)
    column = tree.header()
    # The message column ends inside the view: nothing is cut off at the window's edge.
    assert column.sectionPosition(MESSAGE) + column.sectionSize(MESSAGE) <= tree.viewport().width()
    assert tree.horizontalScrollBar().maximum() == 0
    shown = QFontMetrics(tree.font()).elidedText(LONG, Qt.TextElideMode.ElideRight, tree.visualRect(index).width())
    assert shown.endswith("\u2026") and len(shown) < len(LONG)  # elided, with an ellipsis
    assert tree.textElideMode() == Qt.TextElideMode.ElideRight
    assert rows.data(index, Qt.ItemDataRole.ToolTipRole) == LONG  # whole on hover

    assert panel.feed_view.detail.toPlainText() == ""
    panel.feed_view.select(0)
    detail = panel.feed_view.detail.toPlainText()
    assert LONG in detail and "Agent: fundamentals_analyst" in detail and "Type: agent_message" in detail
    stamp = dt.datetime.fromtimestamp(T0 / 1000).strftime("%Y-%m-%d %H:%M:%S")
    assert f"Time: {stamp}" in detail


def test_a_conference_in_the_detail_pane_shows_every_message_as_it_arrives(qtbot: Any) -> None:
    panel = _panel(qtbot)
    m = panel.model
    m.apply_frame({"type": "conference_start", "conferenceId": "c", "title": "Morning conference", "date": "d",
                   "participants": [], "ts": T0})
    m.apply_frame({"type": "conference_message", "agentId": "risk_manager", "content": "too concentrated",
                   "ts": T0 + 1000})
    panel.flush()
    panel.feed_view.select(0)
    assert "too concentrated" in panel.feed_view.detail.toPlainText()
    m.apply_frame({"type": "conference_message", "agentId": "technical_analyst", "content": LONG, "ts": T0 + 2000})
    m.apply_frame({"type": "conference_end", "ts": T0 + 3000})
    panel.flush()
    detail = panel.feed_view.detail.toPlainText()
    assert "Morning conference - 2 messages" in detail and "too concentrated" in detail and LONG in detail
    assert panel.feed.topLevelItem(0).childCount() == 2
    assert panel.feed.topLevelItem(0).child(1).text(1) == "technical_analyst"


def _hm(epoch_s: float) -> str:
    return dt.datetime.fromtimestamp(epoch_s).strftime("%m-%d %H:%M")


def test_every_row_has_a_time_the_desks_marked_as_such(qtbot: Any) -> None:
    received = 1_800_000_000.0
    panel = _panel(qtbot, clock=lambda: received)
    m = panel.model
    m.apply_frame({"type": "day_start", "date": "2025-01-02", "progress": 0.0})
    m.apply_frame(_message("technical_analyst", "NVDA momentum", T0))
    m.apply_frame({"type": "system", "content": "Paused"})
    m.apply_frame({"type": "error", "message": "pace must be >= 0"})
    m.apply_frame({"type": "approval_requested", "approval_id": "a1", "run_id": "r", "date": "2025-01-02",
                   "ticker": "AAPL", "action": "long", "quantity": 80, "price": 240.0, "notional": 19200.0,
                   "confidence": 0.7, "reasoning": "r", "expires_at": _iso(T0 + 3_600_000)})
    panel.flush()
    rows = panel.feed_view.rows
    times = [panel.feed.topLevelItem(i).text(TIME) for i in range(panel.feed.topLevelItemCount())]
    # Before any timed event: when the desk received it; after one: the run's time at that event.
    at_run = "~" + _hm(T0 / 1000)
    assert times == ["~" + _hm(received), _hm(T0 / 1000), at_run, at_run, at_run]
    assert "carries no time" in rows.data(rows.index(0, TIME), Qt.ItemDataRole.ToolTipRole)
    assert "carries no time" not in rows.data(rows.index(1, TIME), Qt.ItemDataRole.ToolTipRole)
    assert [panel.feed.topLevelItem(i).text(1) for i in (1, 2)] == ["technical", ""]  # short, whole on hover
    assert rows.data(rows.index(1, 1), Qt.ItemDataRole.ToolTipRole) == "technical_analyst"
    assert panel.feed.topLevelItem(4).text(2) == "approval"
    panel.feed_view.select(2)
    detail = panel.feed_view.detail.toPlainText()
    assert "the event carries no time" in detail and "Type: system" in detail and "Paused" in detail


def test_in_a_replay_an_untimed_row_takes_the_time_of_the_event_before_it(qtbot: Any, tmp_path: Path) -> None:
    panel = _panel(qtbot, clock=lambda: 1_900_000_000.0)
    events = tmp_path / "events.jsonl"
    frames = [_message("sentiment_analyst", "calm tape", T0), {"type": "day_start", "date": "2025-01-03",
                                                              "progress": 0.5},
              {"type": "system", "content": "Run complete"}]
    events.write_text("".join(json.dumps(f) + "\n" for f in frames))
    asyncio.run(panel.model.replay(events, speed=0))
    panel.flush()
    times = [panel.feed.topLevelItem(i).text(TIME) for i in range(panel.feed.topLevelItemCount())]
    assert times == [_hm(T0 / 1000), "~" + _hm(T0 / 1000), "~" + _hm(T0 / 1000)]


def test_a_flood_appends_rows_keeps_the_selection_and_never_starts_over(qtbot: Any) -> None:
    panel = _panel(qtbot, max_feed=100)
    rows = panel.feed_view.rows
    resets, inserted, removed = [], [], []
    rows.modelReset.connect(lambda: resets.append(1))
    rows.rowsInserted.connect(lambda parent, first, last: inserted.append(last - first + 1))
    rows.rowsRemoved.connect(lambda parent, first, last: removed.append(last - first + 1))
    n = 0
    for burst in range(10):
        for _ in range(30):
            panel.model.apply_frame(_message("risk_manager", f"m{n}", T0 + n))
            n += 1
        panel.flush()
        if burst == 7:
            panel.feed_view.select(90)  # the user reads m230 while the flood goes on
            assert "m230" in panel.feed_view.detail.toPlainText()
    assert resets == [] and sum(inserted) == 300 and sum(removed) == 200  # appended, rolled out, never rebuilt
    assert [panel.feed.topLevelItem(i).text(MESSAGE) for i in (0, 99)] == ["m200", "m299"]
    # Older rows rolled out above it and newer ones came below: the selection stayed on m230.
    assert panel.feed_view.selected().text == "m230" and panel.feed.currentIndex().row() == 30
    assert "m230" in panel.feed_view.detail.toPlainText()
