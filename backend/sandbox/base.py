"""The interface every sandbox backend implements."""

from __future__ import annotations

import abc
from typing import Any

from backend.sandbox.limits import SandboxLimits
from backend.schema.sandbox import SkillResult
from backend.skills.spec import SkillSpec


class SandboxBackend(abc.ABC):
    """Runs one skill call in some isolation and reports a :class:`SkillResult`."""

    name: str = "abstract"

    @abc.abstractmethod
    async def run(self, spec: SkillSpec, payload: dict[str, Any], limits: SandboxLimits) -> SkillResult:
        """Run ``spec`` on ``payload``; never raise for skill failures."""

    async def close(self) -> None:
        """Release pools, clients and the like."""


__all__ = ["SandboxBackend"]
