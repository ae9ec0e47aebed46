"""The operator's sandbox setting is a floor: a run may ask for more isolation, never less.

Strength: ``none`` (in-process) < ``process`` (a confined child process) <
``docker`` = ``kubernetes`` (a container). Docker and Kubernetes isolate
equally, so a run asking for one under a floor of the other gets the floor's
backend: the operator chose it because it is the one that exists here.
"""

from __future__ import annotations

from backend.schema.sandbox import EffectiveSandbox, FloorSource, SandboxMode

STRENGTH: dict[str, int] = {"none": 0, "process": 1, "docker": 2, "kubernetes": 2}


def choose_sandbox(requested: SandboxMode | None, floor: SandboxMode,
                   floor_source: FloorSource = "environment") -> EffectiveSandbox:
    """The mode a run's skills run in: ``requested`` if it is stronger than ``floor``, else ``floor``."""
    if floor not in STRENGTH:
        raise ValueError(f"unknown sandbox mode {floor!r} for the floor; expected one of {', '.join(STRENGTH)}")
    if requested is not None and requested not in STRENGTH:
        raise ValueError(f"unknown sandbox mode {requested!r}; expected one of {', '.join(STRENGTH)}")
    source = "the saved sandbox settings" if floor_source == "sandbox_settings" else "SKILL_SANDBOX_MODE"
    if requested is None or requested == floor:
        return EffectiveSandbox(mode=floor, floor=floor, floor_source=floor_source, requested=requested,
                                reason="floor", note=f"skills run in {floor}, the floor set by {source}")
    if STRENGTH[requested] > STRENGTH[floor]:
        return EffectiveSandbox(mode=requested, floor=floor, floor_source=floor_source, requested=requested,
                                reason="requested",
                                note=f"skills run in {requested} as the run's BOOTSTRAP asks "
                                     f"(more isolated than the floor {floor} set by {source})")
    if STRENGTH[requested] == STRENGTH[floor]:
        return EffectiveSandbox(mode=floor, floor=floor, floor_source=floor_source, requested=requested,
                                reason="floor",
                                note=f"the run's BOOTSTRAP asks for {requested}; skills run in {floor}, "
                                     f"equally isolated and the backend set by {source}")
    return EffectiveSandbox(mode=floor, floor=floor, floor_source=floor_source, requested=requested,
                            reason="raised_to_floor",
                            note=f"the run's BOOTSTRAP asks for sandbox_mode {requested}, less isolated than "
                                 f"the floor {floor} set by {source}: skills run in {floor}")


__all__ = ["STRENGTH", "choose_sandbox"]
