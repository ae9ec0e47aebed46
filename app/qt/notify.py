"""Desktop notifications through the system tray (with a taskbar alert where there is no tray)."""

from __future__ import annotations

from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QApplication, QStyle, QSystemTrayIcon, QWidget


class Notifier:
    """Shows a tray balloon when the user is looking elsewhere.

    One tray icon is created lazily on the first notification and reused.
    Where no tray exists (some desktops, offscreen tests) the window's
    taskbar entry is alerted instead; :attr:`sent` records every
    notification either way, so tests can assert on it.

    Args:
        window: the widget whose focus decides (its top-level window is checked).
        app_name: the tray icon tooltip.
    """

    def __init__(self, window: QWidget, app_name: str = "EvoTraders Control Center") -> None:
        self.window = window
        self.app_name = app_name
        self.sent: list[tuple[str, str]] = []
        self._tray: QSystemTrayIcon | None = None

    def user_is_away(self) -> bool:
        """True when the app's window is not the active one (minimised, behind, another app focused)."""
        top = self.window.window()
        return not (top.isVisible() and top.isActiveWindow() and not top.isMinimized())

    def notify(self, title: str, message: str, *, only_when_away: bool = True) -> bool:
        """Notify unless the user is looking at the window; True when a notification went out."""
        if only_when_away and not self.user_is_away():
            return False
        self.sent.append((title, message))
        tray = self._tray_icon()
        if tray is not None:
            tray.showMessage(title, message, QSystemTrayIcon.MessageIcon.Information, 10_000)
        else:
            QApplication.alert(self.window.window(), 0)
        return True

    def _tray_icon(self) -> QSystemTrayIcon | None:
        if self._tray is None and QSystemTrayIcon.isSystemTrayAvailable():
            icon = QApplication.windowIcon()
            if icon.isNull():
                icon = self.window.style().standardIcon(QStyle.StandardPixmap.SP_MessageBoxInformation)
            self._tray = QSystemTrayIcon(QIcon(icon), self.window)
            self._tray.setToolTip(self.app_name)
            self._tray.show()
        return self._tray

    def close(self) -> None:
        if self._tray is not None:
            self._tray.hide()
            self._tray.deleteLater()
            self._tray = None
