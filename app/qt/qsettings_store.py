"""The QSettings-backed :class:`app.models.settings_store.SettingsStore`."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QByteArray, QSettings


class QSettingsStore:
    """Preferences in the platform's settings store (``~/.config/EvoTraders/...`` on Linux).

    Args:
        settings: a QSettings (default: organisation EvoTraders, application Control Center);
            tests pass one on an INI file in a temporary directory.
    """

    def __init__(self, settings: QSettings | None = None) -> None:
        self.qsettings = settings or QSettings("EvoTraders", "Control Center")

    def value(self, key: str, default: Any = None) -> Any:
        value = self.qsettings.value(key, default)
        if isinstance(value, QByteArray):
            return bytes(value.data())
        return value

    def set_value(self, key: str, value: Any) -> None:
        if isinstance(value, (bytes, bytearray)):
            value = QByteArray(bytes(value))
        self.qsettings.setValue(key, value)

    def remove(self, key: str) -> None:
        self.qsettings.remove(key)

    def sync(self) -> None:
        self.qsettings.sync()
