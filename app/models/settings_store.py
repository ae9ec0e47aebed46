"""The app's persisted preferences, behind a tiny store interface (Qt-free).

:class:`AppSettings` names every preference and converts types; the storage
is any :class:`SettingsStore`: :class:`MemorySettings` in tests, the
QSettings-backed ``app.qt.qsettings_store.QSettingsStore`` in the app
(QSettings returns strings for bools on some platforms, so conversion
happens here, once).
"""

from __future__ import annotations

import json
from typing import Any, Protocol


class SettingsStore(Protocol):
    """Key/value storage of plain values (str, int, float, bool, bytes)."""

    def value(self, key: str, default: Any = None) -> Any: ...

    def set_value(self, key: str, value: Any) -> None: ...

    def remove(self, key: str) -> None: ...

    def sync(self) -> None: ...


class MemorySettings:
    """A dict-backed :class:`SettingsStore` (tests, and ``--no-settings`` runs)."""

    def __init__(self, initial: dict[str, Any] | None = None) -> None:
        self.data: dict[str, Any] = dict(initial or {})

    def value(self, key: str, default: Any = None) -> Any:
        return self.data.get(key, default)

    def set_value(self, key: str, value: Any) -> None:
        self.data[key] = value

    def remove(self, key: str) -> None:
        self.data.pop(key, None)

    def sync(self) -> None:
        pass


def _as_bool(value: Any, default: bool) -> bool:
    if value is None:
        return default
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)


class AppSettings:
    """Typed access to the preferences of the desktop app.

    Args:
        store: where they live.
    """

    THEME = "ui/theme"
    LAST_PROFILE = "session/last_profile"
    START_AT_LAUNCH = "stack/start_at_launch"
    RELOAD_ON_CHANGE = "stack/reload_on_source_change"
    GEOMETRY = "window/geometry"
    STATE = "window/state"
    PROFILES = "profiles/list"

    def __init__(self, store: SettingsStore) -> None:
        self.store = store

    @property
    def theme(self) -> str:
        value = str(self.store.value(self.THEME, "system") or "system")
        return value if value in ("system", "dark", "light") else "system"

    @theme.setter
    def theme(self, mode: str) -> None:
        if mode not in ("system", "dark", "light"):
            raise ValueError(f"unknown theme {mode!r}: expected system, dark or light")
        self.store.set_value(self.THEME, mode)

    @property
    def last_profile(self) -> str | None:
        value = self.store.value(self.LAST_PROFILE)
        return str(value) if value else None

    @last_profile.setter
    def last_profile(self, name: str | None) -> None:
        if name:
            self.store.set_value(self.LAST_PROFILE, name)
        else:
            self.store.remove(self.LAST_PROFILE)

    @property
    def start_stack_at_launch(self) -> bool:
        return _as_bool(self.store.value(self.START_AT_LAUNCH), False)

    @start_stack_at_launch.setter
    def start_stack_at_launch(self, value: bool) -> None:
        self.store.set_value(self.START_AT_LAUNCH, bool(value))

    @property
    def reload_on_source_change(self) -> bool:
        """Start the local stack with reload on (the Stack panel's "Reload on source change")."""
        return _as_bool(self.store.value(self.RELOAD_ON_CHANGE), False)

    @reload_on_source_change.setter
    def reload_on_source_change(self, value: bool) -> None:
        self.store.set_value(self.RELOAD_ON_CHANGE, bool(value))

    @property
    def geometry(self) -> bytes | None:
        return _as_bytes(self.store.value(self.GEOMETRY))

    @geometry.setter
    def geometry(self, value: bytes) -> None:
        self.store.set_value(self.GEOMETRY, bytes(value))

    @property
    def window_state(self) -> bytes | None:
        return _as_bytes(self.store.value(self.STATE))

    @window_state.setter
    def window_state(self, value: bytes) -> None:
        self.store.set_value(self.STATE, bytes(value))

    @property
    def profiles(self) -> list[dict[str, Any]]:
        """Remote profiles as JSON-ready dicts (no tokens: those are in the keyring)."""
        raw = self.store.value(self.PROFILES)
        if not raw:
            return []
        try:
            data = json.loads(raw)
        except (TypeError, ValueError):
            return []
        return [p for p in data if isinstance(p, dict) and p.get("name")] if isinstance(data, list) else []

    @profiles.setter
    def profiles(self, items: list[dict[str, Any]]) -> None:
        self.store.set_value(self.PROFILES, json.dumps(items))

    def sync(self) -> None:
        self.store.sync()


def _as_bytes(value: Any) -> bytes | None:
    if value is None or value == "":
        return None
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    data = getattr(value, "data", None)  # QByteArray
    return bytes(data()) if callable(data) else None
