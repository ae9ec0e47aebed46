"""An excepthook that keeps the app alive: an error in a slot is logged and shown, never fatal.

PySide6 hands an exception raised in a slot (or a virtual override such as
``paintEvent``) to ``sys.excepthook`` and carries on; the default hook only
prints it. :class:`ErrorReporter` replaces the hook (and the asyncio loop's
exception handler, which sees errors of callbacks and tasks nobody awaited)
with one that logs the traceback and shows it in a non-modal dialog. Errors
arriving while the dialog is open are appended to it, so a slot raising in a
loop cannot stack hundreds of dialogs.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import traceback
from types import TracebackType
from typing import Any

from PySide6.QtWidgets import QApplication, QMessageBox, QWidget

log = logging.getLogger("app.errors")

_MAX_SHOWN = 20  # errors kept in one dialog's details


class ErrorReporter:
    """Installs itself as ``sys.excepthook``; shows each error in a non-modal dialog.

    Args:
        parent: the dialog's parent (the main window), or None.
        show_dialog: False to only log (headless benchmarks).
    """

    def __init__(self, parent: QWidget | None = None, show_dialog: bool = True) -> None:
        self.parent = parent
        self.show_dialog = show_dialog
        self.errors: list[str] = []  # one-line summaries, oldest first
        self.dialog: QMessageBox | None = None
        self._details: list[str] = []
        self._previous_hook = sys.excepthook
        self._loop: asyncio.AbstractEventLoop | None = None

    def install(self, loop: asyncio.AbstractEventLoop | None = None) -> "ErrorReporter":
        sys.excepthook = self.excepthook
        if loop is not None:
            self._loop = loop
            loop.set_exception_handler(self._loop_handler)
        return self

    def uninstall(self) -> None:
        if sys.excepthook == self.excepthook:
            sys.excepthook = self._previous_hook
        if self._loop is not None:
            self._loop.set_exception_handler(None)
            self._loop = None
        dialog, self.dialog = self.dialog, None
        if dialog is not None:
            dialog.close()
            dialog.deleteLater()

    def excepthook(self, kind: type[BaseException], value: BaseException, tb: TracebackType | None) -> None:
        if issubclass(kind, KeyboardInterrupt):
            QApplication.quit()
            return
        text = "".join(traceback.format_exception(kind, value, tb))
        summary = f"{kind.__name__}: {value}"
        log.error("unhandled error: %s\n%s", summary, text)
        self.report(summary, text)

    def report(self, summary: str, details: str = "") -> None:
        """Record and show one error (also usable directly by panels)."""
        self.errors.append(summary)
        self._details = (self._details + [details or summary])[-_MAX_SHOWN:]
        if not self.show_dialog or QApplication.instance() is None:
            return
        if self.dialog is None:
            self.dialog = QMessageBox(QMessageBox.Icon.Critical, "EvoTraders: unexpected error", summary,
                                      QMessageBox.StandardButton.Close, self.parent)
            self.dialog.setModal(False)
            self.dialog.setObjectName("error_dialog")
            self.dialog.finished.connect(self._on_closed)
            self.dialog.setInformativeText("The app keeps running; the error is also in the log.")
            self.dialog.show()  # non-modal, and never exec(): that would re-enter the event loop
        else:
            count = len(self.errors)
            self.dialog.setText(f"{summary}\n\n({count} errors since this window opened)")
        self.dialog.setDetailedText("\n\n".join(self._details))

    def _on_closed(self, *_: Any) -> None:
        if self.dialog is not None:
            self.dialog.deleteLater()
        self.dialog = None
        self._details = []

    def _loop_handler(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        err = context.get("exception")
        if isinstance(err, (asyncio.CancelledError, KeyboardInterrupt)):
            return
        if err is None:
            log.warning("asyncio: %s", context.get("message"))
            return
        self.excepthook(type(err), err, err.__traceback__)
