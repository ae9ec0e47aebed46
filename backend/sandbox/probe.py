"""Run the built-in probe skill in a sandbox mode and report what it saw.

``run_probe("docker", settings)`` answers "does this mode work here, and what
can a skill do in it?" (Python version, platform, uid, network reachability,
writable working directory and root). runtime_service exposes it as
``POST /sandbox/probe``.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import BaseModel

from backend.paths import RESOURCES_DIR
from backend.skills.spec import load_skill
from backend.sandbox.executor import SkillExecutor
from backend.sandbox.factory import make_backend
from backend.sandbox.limits import limits_from_settings
from backend.schema.sandbox import SkillResult

if TYPE_CHECKING:
    from backend.config import Settings

PROBE_SKILL_DIR = RESOURCES_DIR / "skills" / "probe"
PROBE_TIMEOUT_S = 30.0  # the probe itself needs ~1 s; never wait the full skill timeout


class ProbeResult(BaseModel):
    """What one probe run found.

    ``ok`` is the skill call's success; ``result`` carries the probe's output
    (or the typed error, e.g. ``backend_unavailable`` with the fix);
    ``duration_ms`` is the whole round trip including backend start-up.
    """

    mode: str
    ok: bool
    result: SkillResult
    duration_ms: float
    confined: bool | None = None
    note: str = ""


async def run_probe(mode: str, settings: Settings | None = None, *, skill_dir: Path = PROBE_SKILL_DIR) -> ProbeResult:
    """Run the probe skill once with the sandbox ``mode`` and the settings' limits."""
    if settings is None:
        from backend.config import get_settings

        settings = get_settings()
    started = time.perf_counter()
    spec = load_skill(skill_dir)
    limits = limits_from_settings(settings)
    if limits.timeout_s > PROBE_TIMEOUT_S:
        from dataclasses import replace

        limits = replace(limits, timeout_s=PROBE_TIMEOUT_S)
    backend = make_backend(mode, settings=settings)
    if hasattr(backend, "warm_pool"):
        backend.warm_pool = 0  # a one-off call: do not leave workers behind
    executor = SkillExecutor(backend, limits)
    try:
        result = await executor.run(spec, {})
    finally:
        await executor.close()
    isolation = getattr(backend, "isolation", None)
    return ProbeResult(
        mode=mode, ok=result.ok, result=result, duration_ms=(time.perf_counter() - started) * 1000,
        confined=isolation.confined if isolation is not None else None,
        note=isolation.note if isolation is not None else "",
    )


__all__ = ["PROBE_SKILL_DIR", "ProbeResult", "run_probe"]
