"""Dark and light themes, following the system by default.

The theme is a Fusion palette (the platform styles ignore custom palettes
in places); chart colours come from :func:`chart_colors` so pyqtgraph plots
match. ``ThemeManager`` follows the system scheme live while the setting is
``"system"``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

from PySide6.QtCore import QObject, Qt
from PySide6.QtGui import QColor, QGuiApplication, QPalette
from PySide6.QtWidgets import QApplication

ThemeMode = Literal["system", "dark", "light"]
MODES: tuple[str, ...] = ("system", "dark", "light")

# Baseline/series colours readable on both backgrounds.
SERIES = ("#4e9af1", "#f28e2b", "#59a14f", "#e15759", "#b07aa1", "#76b7b2", "#edc948", "#ff9da7", "#9c755f")
# Trade markers' outlines (the fill is the ticker's colour) and the drawdown area.
BUY = "#3fb950"
SELL = "#f85149"
DRAWDOWN = "#b22222"


def system_is_dark() -> bool:
    hints = QGuiApplication.styleHints()
    return hints.colorScheme() == Qt.ColorScheme.Dark


def resolve(mode: str) -> str:
    """``"dark"`` or ``"light"`` for a setting (``system`` asks the platform)."""
    if mode not in MODES:
        raise ValueError(f"unknown theme {mode!r}: expected one of {', '.join(MODES)}")
    if mode == "system":
        return "dark" if system_is_dark() else "light"
    return mode


def _dark_palette() -> QPalette:
    p = QPalette()
    base, window, text = QColor("#1e1f22"), QColor("#2b2d30"), QColor("#dfe1e5")
    disabled = QColor("#7a7e85")
    for role, color in {
        QPalette.ColorRole.Window: window, QPalette.ColorRole.WindowText: text,
        QPalette.ColorRole.Base: base, QPalette.ColorRole.AlternateBase: QColor("#26282b"),
        QPalette.ColorRole.ToolTipBase: QColor("#3c3f41"), QPalette.ColorRole.ToolTipText: text,
        QPalette.ColorRole.Text: text, QPalette.ColorRole.Button: QColor("#3c3f41"),
        QPalette.ColorRole.ButtonText: text, QPalette.ColorRole.BrightText: QColor("#ff6b6b"),
        QPalette.ColorRole.Link: QColor("#589df6"), QPalette.ColorRole.Highlight: QColor("#2f65ca"),
        QPalette.ColorRole.HighlightedText: QColor("#ffffff"), QPalette.ColorRole.PlaceholderText: disabled,
    }.items():
        p.setColor(role, color)
    for role in (QPalette.ColorRole.Text, QPalette.ColorRole.ButtonText, QPalette.ColorRole.WindowText):
        p.setColor(QPalette.ColorGroup.Disabled, role, disabled)
    return p


def apply_theme(app: QApplication, mode: str = "system") -> str:
    """Apply ``mode`` to the whole app; returns the effective ``"dark"``/``"light"``."""
    effective = resolve(mode)
    app.setStyle("Fusion")
    if effective == "dark":
        app.setPalette(_dark_palette())
    else:
        app.setPalette(app.style().standardPalette())
    app.setProperty("evotraders_theme", effective)
    return effective


def current() -> str:
    """The effective theme last applied (``"light"`` before any)."""
    app = QApplication.instance()
    value = app.property("evotraders_theme") if app is not None else None
    return str(value) if value else "light"


def chart_colors() -> dict[str, str]:
    """Background/foreground/grid colours for pyqtgraph in the current theme."""
    if current() == "dark":
        return {"background": "#1e1f22", "foreground": "#dfe1e5", "grid": "#3c3f41"}
    return {"background": "#ffffff", "foreground": "#222222", "grid": "#dddddd"}


def status_color(status: str) -> str:
    """A colour per process/connection status (same in both themes, readable on both)."""
    return {
        "healthy": "#3fb950", "up": "#3fb950", "starting": "#d29922", "restarting": "#d29922",
        "unknown": "#8b949e", "unhealthy": "#db6d28", "crashed": "#f85149", "down": "#f85149",
        "stopped": "#8b949e", "off": "#8b949e",
    }.get(status, "#8b949e")


class ThemeManager(QObject):
    """Keeps the app on the chosen theme, re-applying when the system scheme changes.

    Args:
        app: the application.
        mode: ``system``, ``dark`` or ``light``.
        on_change: called with the effective theme after every change (charts recolour).
    """

    def __init__(self, app: QApplication, mode: str = "system",
                 on_change: Callable[[str], None] | None = None) -> None:
        super().__init__(app)
        self.app = app
        self.mode = mode
        self.on_change = on_change
        self.effective = apply_theme(app, mode)
        QGuiApplication.styleHints().colorSchemeChanged.connect(self._system_changed)

    def set_mode(self, mode: str) -> str:
        self.mode = mode
        self.effective = apply_theme(self.app, mode)
        if self.on_change is not None:
            self.on_change(self.effective)
        return self.effective

    def _system_changed(self, *_: object) -> None:
        if self.mode == "system":
            self.set_mode("system")
