"""Connection profiles, persisted: ``Local`` plus any number of named remote runtimes.

The profile fields (service URLs, role) go to the settings store; tokens go
to the system keyring through ``keyring`` (service ``evotraders-desk``, user
= profile name). Where no keyring backend works (a headless box, a locked
session) tokens fall back to a JSON file with 0600 permissions, and
:attr:`TokenVault.warning` says so once (the UI shows it).
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from app.models.profile import LOCAL, Profile, local_profile_from_settings
from app.models.settings_store import AppSettings

log = logging.getLogger(__name__)

KEYRING_SERVICE = "evotraders-desk"
URL_SCHEMES = {"agent_url": ("http", "https"), "trading_url": ("http", "https"), "news_url": ("http", "https"),
               "runtime_url": ("http", "https"), "gateway_url": ("ws", "wss")}


class ProfileError(ValueError):
    """A profile that cannot be saved; the message names the field."""


def validate(profile: Profile) -> None:
    """Raise :class:`ProfileError` naming the first bad field."""
    name = profile.name.strip()
    if not name or len(name) > 64 or any(c in name for c in "/\\\n"):
        raise ProfileError(f"profile name {profile.name!r}: use 1-64 characters without slashes")
    if profile.role is not None and profile.role not in ("viewer", "operator", "admin"):
        raise ProfileError(f"role {profile.role!r}: expected viewer, operator or admin")
    for attr, schemes in URL_SCHEMES.items():
        url = getattr(profile, attr)
        if attr == "gateway_url" and not url:
            continue  # optional: the runtime service can tell which Gateway serves a run
        parts = urlsplit(url or "")
        if parts.scheme not in schemes or not parts.hostname:
            raise ProfileError(f"{attr.replace('_', ' ')} {url!r}: expected {' or '.join(s + '://' for s in schemes)}host:port")


class TokenVault:
    """Tokens by profile name: system keyring first, a 0600 file otherwise.

    Args:
        fallback_path: the file used when the keyring is unavailable.
        backend: a keyring-like module/object (``get_password``, ``set_password``,
            ``delete_password``); default ``keyring``. None-like failures fall back.
    """

    def __init__(self, fallback_path: Path, backend: Any = "default") -> None:
        self.fallback_path = Path(fallback_path)
        self.warning: str | None = None
        if backend == "default":
            try:
                import keyring
                backend = keyring
            except ImportError:
                backend = None
        self._backend = backend

    def get(self, name: str) -> str | None:
        if self._backend is not None:
            try:
                value = self._backend.get_password(KEYRING_SERVICE, name)
                if value is not None:
                    return value
            except Exception as err:  # noqa: BLE001 - any keyring failure means: use the file
                self._fall_back(err)
        return self._read_file().get(name)

    def set(self, name: str, token: str | None) -> None:
        if not token:
            self.delete(name)
            return
        if self._backend is not None:
            try:
                self._backend.set_password(KEYRING_SERVICE, name, token)
                self._drop_from_file(name)
                return
            except Exception as err:  # noqa: BLE001
                self._fall_back(err)
        data = self._read_file()
        data[name] = token
        self._write_file(data)

    def delete(self, name: str) -> None:
        if self._backend is not None:
            try:
                self._backend.delete_password(KEYRING_SERVICE, name)
            except Exception:  # noqa: BLE001 - absent from the keyring, or no keyring
                pass
        self._drop_from_file(name)

    def _fall_back(self, err: Exception) -> None:
        if self.warning is None:
            self.warning = (f"system keyring unavailable ({type(err).__name__}); tokens are stored in "
                            f"{self.fallback_path} (readable by your user only)")
            log.warning(self.warning)
        self._backend = None

    def _read_file(self) -> dict[str, str]:
        try:
            data = json.loads(self.fallback_path.read_text())
        except (FileNotFoundError, ValueError):
            return {}
        return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}

    def _write_file(self, data: dict[str, str]) -> None:
        self.fallback_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.fallback_path.with_name(self.fallback_path.name + ".tmp")
        # Created 0600 from the start: the token is never readable by others, even briefly.
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(data, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, self.fallback_path)

    def _drop_from_file(self, name: str) -> None:
        data = self._read_file()
        if name in data:
            del data[name]
            self._write_file(data)


class ProfileStore:
    """The list of profiles; ``Local`` always exists and comes first.

    Args:
        settings: where profile fields are persisted.
        vault: where tokens are.
    """

    def __init__(self, settings: AppSettings, vault: TokenVault) -> None:
        self.settings = settings
        self.vault = vault

    def names(self) -> list[str]:
        return [LOCAL] + [p["name"] for p in self.settings.profiles if p["name"] != LOCAL]

    def list(self) -> list[Profile]:
        return [self.get(name) for name in self.names()]

    def get(self, name: str) -> Profile:
        """The profile with its token; ``Local`` is the local stack at the ports of ``Settings``."""
        if name == LOCAL:
            return local_profile_from_settings()
        for item in self.settings.profiles:
            if item["name"] == name:
                known = {f.name for f in fields(Profile)} - {"token"}
                profile = Profile(**{k: v for k, v in item.items() if k in known})
                profile.token = self.vault.get(name)
                return profile
        raise KeyError(f"no profile named {name!r} (known: {', '.join(self.names())})")

    def save(self, profile: Profile) -> None:
        """Add or replace a remote profile (validated; the token goes to the vault)."""
        if profile.is_local:
            raise ProfileError("the Local profile is built in and cannot be edited")
        validate(profile)
        item = {k: v for k, v in asdict(profile).items() if k != "token"}
        items = [p for p in self.settings.profiles if p["name"] != profile.name] + [item]
        self.settings.profiles = items
        self.vault.set(profile.name, profile.token)

    def delete(self, name: str) -> None:
        if name == LOCAL:
            raise ProfileError("the Local profile is built in and cannot be deleted")
        self.settings.profiles = [p for p in self.settings.profiles if p["name"] != name]
        self.vault.delete(name)
