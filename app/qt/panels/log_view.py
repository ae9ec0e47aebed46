"""LogView: the live log of one process -- follow, search, copy.

Lines come either from a local ``ManagedProcess`` (its ring buffer, then each
new line through a listener, batched into the widget by a throttle so a
chatty process costs one repaint per frame at most) or from an async fetcher
(a Gateway's log through runtime_service, polled while the view is open).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QColor, QGuiApplication, QTextCharFormat, QTextCursor, QTextDocument
from PySide6.QtWidgets import (
    QCheckBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QTextEdit,
    QVBoxLayout,
    QWidget,
)

from app.qt.async_helpers import spawn
from app.qt.bridge import Throttle
from app.qt.observe import observe

MAX_LINES = 5000


class LogView(QWidget):
    """A read-only log with Follow, Search and Copy.

    Args:
        name: the process name (object names derive from it, for tests).
        parent: owner widget.
    """

    def __init__(self, name: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.name = name
        self.setObjectName(f"log_{name}")
        self.text = QPlainTextEdit()
        self.text.setReadOnly(True)
        self.text.setMaximumBlockCount(MAX_LINES)  # older lines scroll out: bounded memory
        self.text.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.text.setObjectName("log_text")
        font = self.text.font()
        font.setFamily("monospace")
        font.setStyleHint(font.StyleHint.Monospace)
        self.text.setFont(font)
        self.follow = QCheckBox("Follow")
        self.follow.setChecked(True)
        self.follow.setToolTip("Keep scrolled to the newest line")
        self.search = QLineEdit()
        self.search.setPlaceholderText("Search (Enter: next, Shift+Enter: previous)")
        self.search.setObjectName("log_search")
        self.search.setClearButtonEnabled(True)
        self.matches = QLabel()
        self.copy_button = QPushButton("Copy")
        self.copy_button.setToolTip("Copy the selection, or the whole log when nothing is selected")
        row = QHBoxLayout()
        row.addWidget(self.follow)
        row.addWidget(self.search, 1)
        row.addWidget(self.matches)
        row.addWidget(self.copy_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(row)
        layout.addWidget(self.text, 1)
        self._pending: list[str] = []
        self._throttle = Throttle(self._flush, hz=20, parent=self)
        self._unsubscribe: Callable[[], None] | None = None
        self._poll = QTimer(self)
        self._poll.timeout.connect(self._fetch)
        self._fetcher: Callable[[], Awaitable[list[str]]] | None = None
        self.search.returnPressed.connect(lambda: self.find(self.search.text()))
        self.search.textChanged.connect(self._highlight)
        self.copy_button.clicked.connect(lambda *_: self.copy())
        self.follow.toggled.connect(lambda on: on and self._scroll_to_end())

    # -- sources --------------------------------------------------------------

    def attach_process(self, proc: Any) -> None:
        """Show a ManagedProcess's buffered lines, then every new one."""
        self.detach()
        self.set_lines(proc.lines())
        observe(proc.line, self, self._on_event)
        self._unsubscribe = lambda: proc.line.disconnect(self._on_event, missing_ok=True)

    def attach_fetcher(self, fetch: Callable[[], Awaitable[list[str]]], interval_ms: int = 2000) -> None:
        """Poll ``await fetch()`` (the latest lines) while attached."""
        self.detach()
        self._fetcher = fetch
        self._poll.start(interval_ms)
        self._fetch()

    def detach(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        self._poll.stop()
        self._fetcher = None

    # -- content --------------------------------------------------------------

    def set_lines(self, lines: list[str]) -> None:
        self._pending = []
        self.text.setPlainText("\n".join(lines[-MAX_LINES:]))
        self._after_change()

    def append_lines(self, lines: list[str]) -> None:
        self._pending.extend(lines)
        self._throttle.mark()

    def lines(self) -> list[str]:
        self._throttle.flush()
        text = self.text.toPlainText()
        return text.split("\n") if text else []

    def copy(self) -> str:
        cursor = self.text.textCursor()
        text = cursor.selectedText().replace("\u2029", "\n") if cursor.hasSelection() else self.text.toPlainText()
        QGuiApplication.clipboard().setText(text)
        return text

    def find(self, needle: str, backward: bool = False) -> bool:
        """Select the next (or previous) occurrence, wrapping around; stops following."""
        if not needle:
            return False
        self.follow.setChecked(False)
        flags = QTextDocument.FindFlag.FindBackward if backward else QTextDocument.FindFlag(0)
        if self.text.find(needle, flags):
            return True
        cursor = self.text.textCursor()
        cursor.movePosition(QTextCursor.MoveOperation.End if backward else QTextCursor.MoveOperation.Start)
        self.text.setTextCursor(cursor)
        return self.text.find(needle, flags)

    def keyPressEvent(self, event: Any) -> None:  # noqa: N802 - Qt override
        if self.search.hasFocus() and event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and (
                event.modifiers() & Qt.KeyboardModifier.ShiftModifier):
            self.find(self.search.text(), backward=True)
            return
        super().keyPressEvent(event)

    # -- internals ------------------------------------------------------------

    def _on_event(self, event: Any) -> None:
        if getattr(event, "kind", None) == "line" and event.line is not None:
            self.append_lines([event.line])

    def _flush(self) -> None:
        if not self._pending:
            return
        lines, self._pending = self._pending[-MAX_LINES:], []
        bar = self.text.verticalScrollBar()
        keep = bar.value()
        cursor = QTextCursor(self.text.document())
        cursor.movePosition(QTextCursor.MoveOperation.End)
        cursor.insertText(("\n" if not self.text.document().isEmpty() else "") + "\n".join(lines))
        if not self.follow.isChecked():
            bar.setValue(keep)
        self._after_change()

    def _after_change(self) -> None:
        if self.follow.isChecked():
            self._scroll_to_end()
        if self.search.text():
            self._highlight(self.search.text())

    def _scroll_to_end(self) -> None:
        bar = self.text.verticalScrollBar()
        bar.setValue(bar.maximum())

    def _highlight(self, needle: str) -> None:
        selections = []
        if needle:
            fmt = QTextCharFormat()
            fmt.setBackground(QColor("#d29922"))
            fmt.setForeground(QColor("#000000"))
            cursor = self.text.document().find(needle)
            while not cursor.isNull() and len(selections) < 1000:
                sel = QTextEdit.ExtraSelection()
                sel.cursor, sel.format = cursor, fmt
                selections.append(sel)
                cursor = self.text.document().find(needle, cursor)
        self.text.setExtraSelections(selections)
        self.matches.setText(f"{len(selections)} match{'es' if len(selections) != 1 else ''}" if needle else "")

    def _fetch(self) -> None:
        if self._fetcher is None:
            return
        fetcher = self._fetcher

        async def go() -> None:
            try:
                lines = await fetcher()
            except Exception as err:  # noqa: BLE001 - a down service is shown, not raised
                self.matches.setText(f"log unavailable: {err}")
                return
            if self._fetcher is fetcher:
                self.set_lines(list(lines))

        spawn(go())
