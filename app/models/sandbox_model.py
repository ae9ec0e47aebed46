"""Skill sandbox settings of the runtime: a validated draft, saving, and the backend probe (Qt-free).

The draft is checked field by field with the shared ``SandboxSettings``
schema (the same model runtime_service validates a ``PUT`` with), so the form
shows what is wrong before anything is sent.
"""

from __future__ import annotations

from typing import Any

from pydantic import ConfigDict, ValidationError

from backend.clients.http import ServiceError
from backend.clients.services import RuntimeServiceClient
from backend.schema.api_runtime import ProbeResponse, SandboxSettings
from app.models.observable import ObservableModel

MODES = ("none", "process", "docker", "kubernetes")
# Which settings matter in each mode (the form shows only these).
MODE_FIELDS: dict[str, tuple[str, ...]] = {
    "none": (),
    "process": ("memory_limit", "cpu_limit", "network", "timeout"),
    "docker": ("image", "memory_limit", "cpu_limit", "network", "timeout", "pull_policy"),
    "kubernetes": ("image", "memory_limit", "cpu_limit", "timeout", "namespace", "kube_context",
                   "service_account"),
}
NONE_WARNING = ("Skills run in-process without isolation (sandbox mode 'none'): development only. "
                "Choose process, docker or kubernetes for anything else.")
# What the probe skill reports that a user cares about, in display order: key -> (if true, if false),
# or a label for a plain value.
PROBE_FACTS: dict[str, str | tuple[str, str]] = {
    "python_version": "Python", "uid": "uid", "network_reachable": ("network reachable", "no network"),
    "cwd_writable": ("cwd writable", "cwd read-only"), "root_writable": ("root writable", "root read-only"),
}


class ProbeOutcome(ProbeResponse):
    """What ``POST /sandbox/probe`` reported (runtime_service's ``ProbeResponse``), with a one-line summary.

    ``failure`` is set instead when the probe could not be asked at all.
    """

    model_config = ConfigDict(frozen=True)
    failure: str | None = None

    @classmethod
    def from_api(cls, data: dict[str, Any]) -> "ProbeOutcome":
        return cls.model_validate(data)

    @classmethod
    def unreachable(cls, mode: str, failure: str) -> "ProbeOutcome":
        return cls(mode=mode, ok=False, duration_ms=0.0, result={}, failure=failure)

    @property
    def summary(self) -> str:
        if self.failure is not None:
            return self.failure
        if self.ok:
            output = self.result.get("output") or {}
            facts = [(label[0] if output[key] else label[1]) if isinstance(label, tuple) else f"{label} {output[key]}"
                     for key, label in PROBE_FACTS.items() if key in output]
            summary = "works" + (f": {', '.join(facts)}" if facts else "")
        else:
            error = self.result.get("error") or {}
            summary = f"{error.get('kind', 'failed')}: {error.get('message', 'no detail')}"
        return summary + (f" ({self.note})" if self.note else "")


class SandboxModel(ObservableModel):
    """The sandbox settings in effect, an edited draft with per-field errors, and probe results.

    Args:
        runtime: runtime_service client.

    Listeners ``cb(kind, payload)`` are told ``loaded`` (settings in effect
    changed), ``draft`` (the draft or its errors changed), ``probe``
    (:class:`ProbeOutcome` or None while running), ``message`` (str).
    """

    def __init__(self, runtime: RuntimeServiceClient | None = None) -> None:
        self.runtime = runtime
        self.saved: SandboxSettings | None = None
        self.draft: dict[str, Any] = SandboxSettings().model_dump()
        self.errors: dict[str, str] = {}
        self.probe_result: ProbeOutcome | None = None
        self.probing = False
        super().__init__()


    # -- state --------------------------------------------------------------------
    @property
    def mode(self) -> str | None:
        """The mode in effect on the runtime (None until loaded)."""
        return self.saved.mode if self.saved is not None else None

    @property
    def banner(self) -> str | None:
        """The persistent warning while the runtime runs skills without a sandbox."""
        return NONE_WARNING if self.mode == "none" else None

    @property
    def valid(self) -> bool:
        return not self.errors

    @property
    def dirty(self) -> bool:
        return self.saved is None or self.saved.model_dump() != self._clean_draft()

    def visible_fields(self, mode: str | None = None) -> tuple[str, ...]:
        return MODE_FIELDS.get(mode or str(self.draft.get("mode")), ())

    # -- editing ------------------------------------------------------------------
    def set_field(self, name: str, value: Any) -> None:
        """Change one draft field and re-validate the whole draft."""
        if name not in SandboxSettings.model_fields:
            raise KeyError(f"no sandbox setting {name!r}")
        if isinstance(value, str) and name in ("kube_context", "service_account"):
            value = value.strip() or None  # an empty box means "not set"
        self.draft[name] = value
        self._validate()
        self._emit("draft")

    def _clean_draft(self) -> dict[str, Any]:
        return {k: v for k, v in self.draft.items() if k in SandboxSettings.model_fields}

    def _validate(self) -> SandboxSettings | None:
        try:
            settings = SandboxSettings.model_validate(self._clean_draft())
        except ValidationError as err:
            self.errors = {}
            for problem in err.errors():
                name = str(problem["loc"][0]) if problem.get("loc") else "settings"
                self.errors.setdefault(name, _message(name, problem))
            return None
        self.errors = {}
        return settings

    def reset(self) -> None:
        """Drop the edits: the draft is the settings in effect again."""
        self.draft = (self.saved or SandboxSettings()).model_dump()
        self.errors = {}
        self._emit("draft")

    # -- service ------------------------------------------------------------------
    async def load(self) -> bool:
        if self.runtime is None:
            return False
        try:
            data = await self.runtime.sandbox_settings()
            self.saved = SandboxSettings.model_validate(data)
        except ServiceError as err:
            self._say(f"cannot load sandbox settings: {err}")
            return False
        except ValidationError as err:
            self._say(f"runtime sent unreadable sandbox settings: {err.errors()[0].get('msg')}")
            return False
        self._loaded()
        self._emit("loaded", self.saved)
        self.reset()
        return True

    async def save(self) -> bool:
        """Validate the draft, then ``PUT`` it; the answer becomes the settings in effect."""
        settings = self._validate()
        if settings is None:
            self._emit("draft")
            first = next(iter(self.errors.items()))
            self._say(f"not saved: {first[0]}: {first[1]}")
            return False
        if self.runtime is None:
            self._say("not saved: runtime service not connected")
            return False
        try:
            answer = await self.runtime.put_sandbox_settings(settings.model_dump(mode="json"))
        except ServiceError as err:
            self._say(f"not saved: {err.detail or err}")
            return False
        self.saved = SandboxSettings.model_validate(answer or settings.model_dump())
        self._emit("loaded", self.saved)
        self.reset()
        self._say(f"saved: sandbox mode {self.saved.mode}")
        return True

    async def probe(self, mode: str | None = None) -> ProbeOutcome | None:
        """Run the probe skill in ``mode`` (default: the draft's mode) on the runtime."""
        if self.runtime is None:
            self._say("runtime service not connected")
            return None
        mode = mode or str(self.draft.get("mode") or "none")
        self.probing, self.probe_result = True, None
        self._emit("probe", None)
        try:
            outcome = ProbeOutcome.from_api(await self.runtime.probe_sandbox(mode))
        except ServiceError as err:
            outcome = ProbeOutcome.unreachable(mode, f"probe failed: {err.detail or err}")
        finally:
            self.probing = False
        self.probe_result = outcome
        self._emit("probe", outcome)
        return outcome


def _message(name: str, problem: dict[str, Any]) -> str:
    """A readable message for one field (pydantic's regex messages mean little to a user)."""
    if problem.get("type") == "string_pattern_mismatch":
        return {
            "memory_limit": "expected a size like 512m or 1g",
            "network": "expected a network name (letters, digits, _ . -)",
            "namespace": "expected a Kubernetes namespace (lowercase letters, digits and -)",
        }.get(name, "invalid format")
    return str(problem.get("msg", "invalid value")).removeprefix("Value error, ")
