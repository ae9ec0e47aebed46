"""FeedView: the Live panel's activity feed -- filters by agent and type, conferences as blocks.

The view follows the bounded :class:`LiveModel` feed incrementally: each
refresh appends the items newer than the last one shown, drops the ones the
model rolled out, and extends conference blocks that received messages; a
filter change rebuilds it. It keeps following the newest line unless the
user scrolled up.
"""

from __future__ import annotations

from datetime import datetime

from PySide6.QtWidgets import QComboBox, QHBoxLayout, QHeaderView, QTreeWidget, QTreeWidgetItem, QVBoxLayout, QWidget

from app.models.live_model import FeedItem, LiveModel, feed_matches

FEED_TYPES = ("agent_message", "conference", "memory", "system", "day_start", "day_complete", "day_error",
              "approval_requested", "approval_resolved", "error")


def _time(ts: float | None) -> str:
    return datetime.fromtimestamp(ts).strftime("%m-%d %H:%M") if ts else ""


class FeedView(QWidget):
    """Filters above a tree of feed items.

    Args:
        model: the Live model whose ``feed`` is shown.
    """

    def __init__(self, model: LiveModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = model
        self.tree = QTreeWidget()
        self.tree.setObjectName("live_feed")
        self.tree.setHeaderLabels(("Time", "Agent", "Type", "Message"))
        self.tree.setUniformRowHeights(True)
        self.tree.header().setSectionResizeMode(3, QHeaderView.ResizeMode.Stretch)
        self.agent_filter = QComboBox()
        self.agent_filter.setObjectName("feed_agent_filter")
        self.agent_filter.addItem("All agents", None)
        self.type_filter = QComboBox()
        self.type_filter.setObjectName("feed_type_filter")
        self.type_filter.addItem("All types", None)
        for kind in FEED_TYPES:
            self.type_filter.addItem(kind, kind)
        self.agent_filter.currentIndexChanged.connect(lambda *_: self.rebuild())
        self.type_filter.currentIndexChanged.connect(lambda *_: self.rebuild())
        filters = QHBoxLayout()
        filters.addWidget(self.agent_filter)
        filters.addWidget(self.type_filter)
        filters.addStretch(1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(filters)
        layout.addWidget(self.tree)
        self._items: dict[int, QTreeWidgetItem] = {}
        self._shown_seq = 0

    def filters(self) -> tuple[str | None, set[str] | None]:
        kind = self.type_filter.currentData()
        return self.agent_filter.currentData(), ({kind} if kind else None)

    def refresh(self) -> None:
        """Bring the tree up to date with the model (incrementally)."""
        model = self.model
        known = {self.agent_filter.itemData(i) for i in range(1, self.agent_filter.count())}
        for agent in model.feed_agents():
            if agent not in known:
                self.agent_filter.addItem(agent, agent)
        agent, types = self.filters()
        bar = self.tree.verticalScrollBar()
        follow = bar.value() >= bar.maximum() - 2  # keep following only if the user has not scrolled up
        oldest = model.feed[0].seq if model.feed else model.feed_seq + 1
        # Rolled out of the bounded model: the oldest shown, so the first rows (the tree
        # holds the shown items in order); removed as one block, one signal for the view.
        stale = [seq for seq in self._items if seq < oldest]
        for seq in stale:
            del self._items[seq]
        if stale:
            self.tree.model().removeRows(0, len(stale))
        fresh = []
        for item in reversed(model.feed):  # the new ones are at the end
            if item.seq <= self._shown_seq:
                break
            if feed_matches(item, agent, types):
                fresh.append(item)
        fresh.reverse()
        widgets = [self._widget(item) for item in fresh]
        self.tree.addTopLevelItems(widgets)  # one insertion for the view, not one per item
        for item, widget in zip(fresh, widgets):
            self._items[item.seq] = widget
            if item.children:
                self._sync_children(widget, item, agent)
        self._shown_seq = model.feed_seq
        for seq in model.take_feed_touched():
            widget = self._items.get(seq)
            block = next((i for i in model.feed if i.seq == seq), None)
            if widget is not None and block is not None:
                self._sync_children(widget, block, agent)
        if follow:
            self.tree.scrollToBottom()

    def rebuild(self) -> None:
        """Start over (filters changed, or the model was reset)."""
        self.tree.clear()
        self._items = {}
        self._shown_seq = 0
        self.model.take_feed_touched()
        self.refresh()

    @staticmethod
    def _widget(item: FeedItem) -> QTreeWidgetItem:
        title = item.text if item.type != "conference" else f"{item.text}{' (in progress)' if item.open else ''}"
        widget = QTreeWidgetItem([_time(item.ts), item.agent, item.type, title])
        widget.setToolTip(3, item.text)
        return widget

    def _sync_children(self, widget: QTreeWidgetItem, block: FeedItem, agent: str | None) -> None:
        children = [c for c in block.children if agent is None or c.agent == agent]
        for child in children[widget.childCount():]:
            sub = QTreeWidgetItem([_time(child.ts), child.agent, child.type, child.text])
            sub.setToolTip(3, child.text)
            widget.addChild(sub)
        widget.setText(3, f"{block.text}{' (in progress)' if block.open else ''} - {len(block.children)} messages")
