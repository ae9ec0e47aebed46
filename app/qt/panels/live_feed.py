"""FeedView: the Live panel's activity feed -- filters, a model/view table, and a detail pane.

:class:`FeedModel` is a ``QAbstractTableModel`` over the rows shown: a bounded
list (the :class:`LiveModel` feed's own ring buffer, at most ``max_feed``
rows) of the feed items that pass the filters; a conference is one row
("title - N messages"), its messages read in the detail pane. Each refresh
only appends the items newer than the last one shown (``beginInsertRows``),
drops the rows the LiveModel rolled out (one ``beginRemoveRows``) and updates
the rows of conference blocks that grew; nothing is re-added on a refresh or
during a replay. A filter change resets the model (the only full rebuild).

Every row has a time: the event's own, or (``~``, dimmed) the desk's when the
event carried none: the run's time of the event before it (simulated in a
backtest), or when the desk received it (see ``FeedItem.ts_received``).
Agents read without ``_analyst`` and types as a short word (whole names in
tooltips and the detail pane). The message column is elided to its width,
with the full text as tooltip; the detail pane under
the feed shows the selected row's fields and whole message (a conference:
all its messages). The view keeps following the newest line unless the user
scrolled up.
"""

from __future__ import annotations

from bisect import bisect_left
from datetime import datetime
from functools import lru_cache
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtGui import QColor, QFontMetrics
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QPlainTextEdit,
    QSplitter,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from app.models.live_model import FeedItem, LiveModel, feed_matches

FEED_TYPES = ("agent_message", "conference", "memory", "system", "day_start", "day_complete", "day_error",
              "approval_requested", "approval_resolved", "error")
COLUMNS = ("Time", "Agent", "Type", "Message")
TIME, AGENT, TYPE, MESSAGE = range(4)
RECEIVED_NOTE = "the event carries no time: the run's time at the event before it, or when the desk received it"
TYPE_LABELS = {"agent_message": "message", "conference_message": "message", "day_start": "day start",
               "day_complete": "day end", "day_error": "day error", "approval_requested": "approval",
               "approval_resolved": "decision"}
TIME_FORMAT = "%m-%d %H:%M"
_DIM = QColor("#8b949e")
Index = QModelIndex | QPersistentModelIndex
_FOREGROUND = Qt.ItemDataRole.ForegroundRole
_ROOT = QModelIndex()
_ROLES = frozenset({Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ToolTipRole, _FOREGROUND})


def feed_time(item: FeedItem) -> str:
    """The Time column: ``MM-DD HH:MM``, ``~MM-DD HH:MM`` when the time is the desk's."""
    if item.ts is None:
        return ""
    return _time_text(item.ts, bool(item.ts_received))


@lru_cache(maxsize=4096)  # asked for every row at each paint of the feed: formatted once per time
def _time_text(ts: float, received: bool) -> str:
    text = datetime.fromtimestamp(ts).strftime(TIME_FORMAT)
    return f"~{text}" if received else text


def _stamp(item: FeedItem) -> str:
    if item.ts is None:
        return ""
    text = datetime.fromtimestamp(item.ts).strftime("%Y-%m-%d %H:%M:%S")
    return f"{text} ({RECEIVED_NOTE})" if item.ts_received else text


def feed_detail(item: FeedItem, messages: list[FeedItem] | None = None) -> str:
    """The detail pane's text for one row: its fields, then the whole message (a conference: its messages)."""
    lines = [f"Time: {_stamp(item)}", f"Agent: {item.agent or '-'}", f"Type: {item.type}", ""]
    if item.type == "conference":
        shown = item.children if messages is None else messages
        lines.append(f"{item.text}{' (in progress)' if item.open else ''} - {len(shown)} messages")
        for child in shown:
            lines += ["", f"{feed_time(child)}  {child.agent or '-'}:", child.text]
    else:
        lines.append(item.text)
    return "\n".join(lines)


class FeedModel(QAbstractTableModel):
    """The shown feed rows (see the module docstring); a conference block's messages are kept for its row's
    title and the detail pane (those of the agent filtered on, when one is)."""

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self.rows: list[FeedItem] = []  # oldest first, seq ascending
        self._kids: dict[int, list[FeedItem]] = {}  # block seq -> its messages shown (agent filter)
        self._kids_seen: dict[int, int] = {}  # block seq -> its messages looked at so far

    # -- Qt model API ---------------------------------------------------------------
    def rowCount(self, parent: Index = _ROOT) -> int:  # noqa: N802 - Qt API
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent: Index = _ROOT) -> int:  # noqa: N802
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation,  # noqa: N802
                   role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return COLUMNS[section]
        return None

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        # The view asks for a dozen roles per cell and paint: the ones not answered return at once.
        if role not in _ROLES or (role == _FOREGROUND and index.column() != TIME):
            return None
        row = index.row()
        if not 0 <= row < len(self.rows):
            return None
        item = self.rows[row]
        column = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            if column == TIME:
                return feed_time(item)
            if column == AGENT:
                return item.agent.removesuffix("_analyst")
            if column == TYPE:
                return TYPE_LABELS.get(item.type, item.type)
            return self.title(item)
        if role == Qt.ItemDataRole.ToolTipRole:
            if column == TIME:
                return _stamp(item)
            return {AGENT: item.agent, TYPE: item.type}.get(column, item.text)
        return _DIM if item.ts_received else None

    # -- feed API -------------------------------------------------------------------
    def item(self, index: Index) -> FeedItem | None:
        row = index.row() if index.isValid() else -1
        return self.rows[row] if 0 <= row < len(self.rows) else None

    def messages(self, block: FeedItem) -> list[FeedItem]:
        """A conference block's messages shown (all, or the filtered agent's)."""
        return self._kids.get(block.seq, [])

    def title(self, item: FeedItem) -> str:
        if item.type != "conference":
            return item.text
        return f"{item.text}{' (in progress)' if item.open else ''} - {len(self.messages(item))} messages"

    def _row_of(self, seq: int) -> int | None:
        row = bisect_left(self.rows, seq, key=lambda item: item.seq)
        return row if row < len(self.rows) and self.rows[row].seq == seq else None

    def drop_older(self, oldest: int) -> None:
        """Remove the rows older than seq ``oldest`` (rolled out of the LiveModel): one removal."""
        stale = bisect_left(self.rows, oldest, key=lambda item: item.seq)
        if not stale:
            return
        self.beginRemoveRows(_ROOT, 0, stale - 1)
        for item in self.rows[:stale]:
            self._kids.pop(item.seq, None)
            self._kids_seen.pop(item.seq, None)
        del self.rows[:stale]
        self.endRemoveRows()

    def append(self, items: list[FeedItem], agent: str | None) -> None:
        """Append new rows (one insertion), with the messages of the blocks among them."""
        if not items:
            return
        first = len(self.rows)
        self.beginInsertRows(_ROOT, first, first + len(items) - 1)
        self.rows.extend(items)
        for item in items:
            if item.type == "conference":
                self._kids[item.seq] = [c for c in item.children if agent is None or c.agent == agent]
                self._kids_seen[item.seq] = len(item.children)
        self.endInsertRows()

    def sync_block(self, seq: int, agent: str | None) -> bool:
        """Take a conference block's new messages and update its row; False if the block is not shown."""
        row = self._row_of(seq)
        if row is None:
            return False
        block = self.rows[row]
        seen = self._kids_seen.get(seq, 0)
        self._kids.setdefault(seq, []).extend(c for c in block.children[seen:] if agent is None or c.agent == agent)
        self._kids_seen[seq] = len(block.children)
        title = self.index(row, MESSAGE)
        self.dataChanged.emit(title, title, [Qt.ItemDataRole.DisplayRole])
        return True

    def clear(self) -> None:
        self.beginResetModel()
        self.rows = []
        self._kids = {}
        self._kids_seen = {}
        self.endResetModel()


class _Message:
    """One message of a conference block, read like a ``QTreeWidgetItem`` child."""

    def __init__(self, item: FeedItem) -> None:
        self._texts = (feed_time(item), item.agent, item.type, item.text)

    def text(self, column: int) -> str:
        return self._texts[column]


class _Row:
    """One row as ``QTreeWidgetItem`` reads it (``text``, ``toolTip``, ``childCount``, ``child``); a block's
    children are its messages (shown in the detail pane)."""

    def __init__(self, model: FeedModel, row: int) -> None:
        self._model, self._row = model, row

    def text(self, column: int) -> str:
        return self._model.data(self._model.index(self._row, column)) or ""

    def toolTip(self, column: int) -> str:  # noqa: N802 - QTreeWidgetItem's name
        return self._model.data(self._model.index(self._row, column), Qt.ItemDataRole.ToolTipRole) or ""

    def childCount(self) -> int:  # noqa: N802
        return len(self._model.messages(self._model.rows[self._row]))

    def child(self, index: int) -> _Message:
        return _Message(self._model.messages(self._model.rows[self._row])[index])


class FeedTable(QTableView):
    """The feed's view (a table: laying out 500 rows costs Qt nothing per row, a tree asks the model for
    each); also reads like a ``QTreeWidget`` (``topLevelItem(i).text(c)``) for tests and scripts.

    The Time, Agent and Type columns take their natural widths while the message keeps at
    least half the view; in a narrow view Agent and Type give way (elided, whole on hover).
    """

    MESSAGE_SHARE = 0.5

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        metrics = QFontMetrics(self.font())
        pad = 3 * metrics.averageCharWidth()
        self.natural = {TIME: metrics.horizontalAdvance("~00-00 00:00") + pad,
                        AGENT: metrics.horizontalAdvance("portfolio_manager") + pad,
                        TYPE: metrics.horizontalAdvance("conference") + pad}
        self.smallest = {TIME: self.natural[TIME], AGENT: metrics.horizontalAdvance("technical") + pad,
                         TYPE: metrics.horizontalAdvance("memory") + pad}
        rows = self.verticalHeader()
        rows.hide()
        rows.setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        rows.setDefaultSectionSize(metrics.height() + 6)
        self.setShowGrid(False)

    def header(self) -> QHeaderView:
        return self.horizontalHeader()

    def fit_columns(self) -> None:
        """Column widths for the view's width (see the class docstring)."""
        header = self.horizontalHeader()
        if header.count() < len(COLUMNS):
            return
        room = self.viewport().width() * (1 - self.MESSAGE_SHARE) - self.natural[TIME]
        flexible = self.natural[AGENT] + self.natural[TYPE]
        scale = min(1.0, max(0.0, room) / flexible)
        for column in (AGENT, TYPE):
            header.resizeSection(column, max(self.smallest[column], int(self.natural[column] * scale)))
        header.resizeSection(TIME, self.natural[TIME])

    def resizeEvent(self, event: Any) -> None:  # noqa: N802 - Qt override
        super().resizeEvent(event)
        self.fit_columns()

    def topLevelItemCount(self) -> int:  # noqa: N802
        return self.model().rowCount()

    def topLevelItem(self, row: int) -> _Row:  # noqa: N802
        return _Row(self.model(), row)


class FeedView(QWidget):
    """Filters above the feed, the selected row's detail below it.

    Args:
        model: the Live model whose ``feed`` is shown.
    """

    def __init__(self, model: LiveModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = model
        self.rows = FeedModel(self)
        self.tree = FeedTable()
        self.tree.setObjectName("live_feed")
        self.tree.setModel(self.rows)
        self.tree.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.tree.setWordWrap(False)
        self.tree.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.tree.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)  # the message elides
        header = self.tree.header()
        header.setStretchLastSection(True)
        for column in (TIME, AGENT, TYPE):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.Interactive)
        header.setSectionResizeMode(MESSAGE, QHeaderView.ResizeMode.Stretch)
        header.setMinimumSectionSize(min(self.tree.smallest.values()))
        self.tree.fit_columns()
        metrics = QFontMetrics(self.tree.font())
        self.detail = QPlainTextEdit()
        self.detail.setObjectName("live_feed_detail")
        self.detail.setReadOnly(True)
        self.detail.setPlaceholderText("Select a row to read its whole message")
        self.tree.selectionModel().currentRowChanged.connect(lambda *_: self._show_detail())
        self.agent_filter = QComboBox()
        self.agent_filter.setObjectName("feed_agent_filter")
        self.agent_filter.addItem("All agents", None)
        self.agent_filter.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
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
        self.splitter = QSplitter(Qt.Orientation.Vertical)
        self.splitter.setObjectName("live_feed_splitter")
        self.splitter.addWidget(self.tree)
        self.splitter.addWidget(self.detail)
        self.splitter.setStretchFactor(0, 3)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setChildrenCollapsible(False)
        self.detail.setMinimumHeight(3 * metrics.lineSpacing())
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(filters)
        layout.addWidget(self.splitter, 1)
        self._shown_seq = 0

    def filters(self) -> tuple[str | None, set[str] | None]:
        kind = self.type_filter.currentData()
        return self.agent_filter.currentData(), ({kind} if kind else None)

    def selected(self) -> FeedItem | None:
        return self.rows.item(self.tree.currentIndex())

    def select(self, row: int) -> None:
        """Make a row the current one; the detail pane shows it."""
        self.tree.setCurrentIndex(self.rows.index(row, 0))

    def refresh(self) -> None:
        """Bring the view up to date with the model (incrementally)."""
        model = self.model
        known = {self.agent_filter.itemData(i) for i in range(1, self.agent_filter.count())}
        for agent in model.feed_agents():
            if agent not in known:
                self.agent_filter.addItem(agent, agent)
        agent, types = self.filters()
        bar = self.tree.verticalScrollBar()
        follow = bar.value() >= bar.maximum() - 2  # keep following only if the user has not scrolled up
        self.rows.drop_older(model.feed[0].seq if model.feed else model.feed_seq + 1)
        fresh = []
        for item in reversed(model.feed):  # the new ones are at the end
            if item.seq <= self._shown_seq:
                break
            if feed_matches(item, agent, types):
                fresh.append(item)
        fresh.reverse()
        self.rows.append(fresh, agent)
        self._shown_seq = model.feed_seq
        touched = model.take_feed_touched()
        for seq in sorted(touched):
            if not self.rows.sync_block(seq, agent) and agent is not None:
                # A block that had no message of this agent may have one now.
                block = next((i for i in model.feed if i.seq == seq), None)
                if block is not None and feed_matches(block, agent, types):
                    self.rebuild()
                    return
        current = self.selected()
        if current is not None and current.seq in touched and current.type == "conference":
            self._show_detail()
        if follow:
            self.tree.scrollToBottom()

    def rebuild(self) -> None:
        """Start over (filters changed, or the model was reset)."""
        self.rows.clear()
        self._shown_seq = 0
        self.model.take_feed_touched()
        self.detail.clear()
        self.refresh()

    def _show_detail(self) -> None:
        item = self.selected()
        self.detail.setPlainText(feed_detail(item, self.rows.messages(item)) if item is not None else "")
