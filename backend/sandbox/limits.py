"""What a sandbox may use for one call: time, memory, CPU, network, output."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from backend.config import Settings

OUTPUT_LIMIT = 16_384  # characters of stdout/stderr kept in a result


@dataclass(frozen=True)
class SandboxLimits:
    """Resource limits a backend applies to one call."""

    timeout_s: float = 60.0
    memory_bytes: int = 512 * 1024 * 1024
    cpu_limit: float = 1.0
    network: str = "none"
    max_output_chars: int = OUTPUT_LIMIT


def parse_memory(text: str) -> int:
    """``512m`` -> bytes (k/m/g suffixes, binary units, as Docker reads them)."""
    text = text.strip().lower()
    units = {"k": 1024, "m": 1024**2, "g": 1024**3}
    if text and text[-1] in units:
        return int(float(text[:-1]) * units[text[-1]])
    return int(float(text))


def truncate(text: str, limit: int = OUTPUT_LIMIT) -> str:
    if len(text) <= limit:
        return text
    return text[:limit] + f"\n... [truncated {len(text) - limit} characters]"


def limits_from_settings(settings: Settings) -> SandboxLimits:
    """The limits the ``SKILL_SANDBOX_*`` settings ask for."""
    return SandboxLimits(
        timeout_s=float(settings.skill_sandbox_timeout),
        memory_bytes=parse_memory(settings.skill_sandbox_memory_limit),
        cpu_limit=float(settings.skill_sandbox_cpu_limit),
        network=settings.skill_sandbox_network,
    )


__all__ = ["OUTPUT_LIMIT", "SandboxLimits", "limits_from_settings", "parse_memory", "truncate"]
