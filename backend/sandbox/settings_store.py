"""Persisted skill-sandbox settings: what new Gateways run their skills in.

The environment (``SKILL_SANDBOX_*``) gives the defaults; an admin may change
them through runtime_service, which validates and saves them atomically to
``<RUNS_DIR>/.runtime/sandbox.json``. Gateways started afterwards get them.

The saved settings win over the environment: they are an admin's latest,
explicit choice, and ``GET /sandbox/settings`` shows what new runs get. The
mode is a floor for every run (:func:`operator_floor`,
:mod:`backend.sandbox.floor`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from backend.schema.api_runtime import SandboxSettings
from backend.schema.sandbox import FloorSource, SandboxMode
from backend.storage.atomic import atomic_write_json

if TYPE_CHECKING:
    from backend.config import Settings

FIELDS = ("mode", "image", "memory_limit", "cpu_limit", "network", "timeout", "pull_policy", "namespace",
          "kube_context", "service_account")


class SandboxSettingsStore:
    """Defaults from the settings, overridden by the saved file.

    Args:
        settings: the process settings (``skill_sandbox_*`` fields).
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.path = Path(settings.runs_dir) / ".runtime" / "sandbox.json"

    def defaults(self) -> SandboxSettings:
        return SandboxSettings(**{f: getattr(self.settings, f"skill_sandbox_{f}") for f in FIELDS})

    def saved(self) -> dict[str, Any] | None:
        """What an admin saved (the file's fields), or None if nothing valid was saved."""
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            SandboxSettings(**{**self.defaults().model_dump(), **data})
        except (FileNotFoundError, json.JSONDecodeError, ValidationError, TypeError):
            return None
        return data if isinstance(data, dict) else None

    def current(self) -> SandboxSettings:
        try:
            saved = json.loads(self.path.read_text(encoding="utf-8"))
            return SandboxSettings(**{**self.defaults().model_dump(), **saved})
        except (FileNotFoundError, json.JSONDecodeError, ValidationError, TypeError):
            return self.defaults()

    def save(self, value: SandboxSettings) -> SandboxSettings:
        atomic_write_json(self.path, value.model_dump())
        return value

    def apply(self, settings: Settings) -> Settings:
        """A copy of ``settings`` with the current sandbox settings applied."""
        current = self.current()
        return settings.model_copy(update={f"skill_sandbox_{f}": getattr(current, f) for f in FIELDS})


def operator_floor(settings: Settings) -> tuple[SandboxMode, FloorSource]:
    """The least isolation any run may use, and where it was set.

    The saved sandbox settings win over ``SKILL_SANDBOX_MODE``.
    """
    saved = SandboxSettingsStore(settings).saved()
    if saved is not None and saved.get("mode"):
        return saved["mode"], "sandbox_settings"
    return settings.skill_sandbox_mode, "environment"
