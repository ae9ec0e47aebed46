"""BootstrapEditor: a plain-text editor for BOOTSTRAP.md that marks the line an error points at."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtGui import QColor, QFontDatabase, QTextCursor, QTextFormat
from PySide6.QtWidgets import QLabel, QPlainTextEdit, QTextEdit, QVBoxLayout, QWidget

ERROR_BACKGROUND = QColor(248, 81, 73, 70)  # translucent red: readable in both themes


class BootstrapEditor(QWidget):
    """A monospace editor plus a one-line status under it.

    :meth:`show_error` highlights a whole line (1-based) and shows the message
    under the editor; :meth:`clear_error` removes both. The widget knows
    nothing of validation: its owner validates and calls these.

    Signals:
        edited(str): the text changed by the user (not by :meth:`set_text`).
    """

    edited = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.editor = QPlainTextEdit()
        self.editor.setObjectName("bootstrap_text")
        self.editor.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.editor.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.editor.setTabChangesFocus(False)
        self.status = QLabel()
        self.status.setObjectName("bootstrap_status")
        self.status.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.editor, 1)
        layout.addWidget(self.status)
        self.error_line: int | None = None
        self._loading = False
        self.editor.textChanged.connect(self._changed)

    def text(self) -> str:
        return self.editor.toPlainText()

    def set_text(self, text: str) -> None:
        """Replace the text without emitting :attr:`edited`."""
        self._loading = True
        try:
            self.editor.setPlainText(text)
        finally:
            self._loading = False

    def set_read_only(self, read_only: bool) -> None:
        self.editor.setReadOnly(read_only)

    def _changed(self) -> None:
        if not self._loading:
            self.edited.emit(self.editor.toPlainText())

    def show_error(self, line: int | None, message: str) -> None:
        """Mark ``line`` (1-based; None: no particular line) and show ``message``."""
        self.error_line = line
        selections = []
        block = self.editor.document().findBlockByNumber(line - 1) if line else None
        if block is not None and block.isValid():
            selection = QTextEdit.ExtraSelection()
            selection.format.setBackground(ERROR_BACKGROUND)
            selection.format.setProperty(QTextFormat.Property.FullWidthSelection, True)
            selection.cursor = QTextCursor(block)
            selections.append(selection)
        self.editor.setExtraSelections(selections)
        where = f"Line {line}: " if line else ""
        self.status.setText(f"\u26a0 {where}{message}")
        self.status.setStyleSheet("color: #f85149;")

    def clear_error(self, note: str = "\u2713 valid") -> None:
        self.error_line = None
        self.editor.setExtraSelections([])
        self.status.setText(note)
        self.status.setStyleSheet("color: #3fb950;")

    def marked_lines(self) -> list[int]:
        """1-based numbers of the lines currently marked (for tests and accessibility)."""
        return [s.cursor.blockNumber() + 1 for s in self.editor.extraSelections()]

    def go_to_line(self, line: int) -> None:
        block = self.editor.document().findBlockByNumber(max(0, line - 1))
        if block.isValid():
            self.editor.setTextCursor(QTextCursor(block))
            self.editor.centerCursor()
