"""Build a sandbox backend by mode name, and the executor of a run.

:func:`make_executor` raises the run's requested mode to the operator's
floor (:mod:`backend.sandbox.floor`, :mod:`backend.sandbox.settings_store`).
The isolating backends are imported on demand: the docker and kubernetes
clients load only when their mode is chosen.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

from backend.sandbox.base import SandboxBackend
from backend.sandbox.executor import SkillExecutor
from backend.sandbox.floor import choose_sandbox
from backend.sandbox.in_process import NoSandboxBackend
from backend.sandbox.limits import limits_from_settings
from backend.sandbox.settings_store import SandboxSettingsStore, operator_floor

if TYPE_CHECKING:
    from backend.config import Settings

MODES = ("none", "process", "docker", "kubernetes")


def make_backend(mode: str, *, on_first_use: Callable[[str], None] | None = None,
                 settings: Settings | None = None, scrub_environ: bool = False) -> SandboxBackend:
    """The backend for ``SKILL_SANDBOX_MODE`` = ``mode`` (none, process, docker or kubernetes)."""
    if mode == "none":
        return NoSandboxBackend(on_first_use=on_first_use, scrub_environ=scrub_environ)
    if mode not in MODES:
        raise ValueError(f"unknown SKILL_SANDBOX_MODE {mode!r}; expected none, process, docker or kubernetes")
    if settings is None:
        from backend.config import get_settings

        settings = get_settings()
    if mode == "process":
        from backend.sandbox.process import ProcessSandboxBackend

        return ProcessSandboxBackend()
    if mode == "docker":
        from backend.sandbox.docker_backend import DockerSandboxBackend

        return DockerSandboxBackend(image=settings.skill_sandbox_image,
                                    pull_policy=settings.skill_sandbox_pull_policy)
    from backend.sandbox.kubernetes_backend import KubernetesSandboxBackend

    return KubernetesSandboxBackend(
        image=settings.skill_sandbox_image, namespace=settings.skill_sandbox_namespace,
        context=settings.skill_sandbox_kube_context,
        service_account=settings.skill_sandbox_service_account,
        pull_policy=settings.skill_sandbox_pull_policy,
    )


def make_executor(requested: str | None = None, settings: Settings | None = None,
                  on_first_use: Callable[[str], None] | None = None) -> SkillExecutor:
    """The executor of a run: ``requested`` (its BOOTSTRAP's ``sandbox_mode``) raised to the floor.

    The floor is the mode of the saved sandbox settings (``PUT /sandbox/settings``),
    else ``SKILL_SANDBOX_MODE``; the saved limits and image apply as well. A
    request for less isolation runs at the floor: ``executor.sandbox`` says
    so (``reason == "raised_to_floor"``). With the effective mode ``none``,
    secrets are removed from this process's environment first.
    """
    if settings is None:
        from backend.config import get_settings

        settings = get_settings()
    floor, source = operator_floor(settings)
    if source == "sandbox_settings":
        settings = SandboxSettingsStore(settings).apply(settings)
    sandbox = choose_sandbox(requested, floor, source)  # type: ignore[arg-type]
    backend = make_backend(sandbox.mode, on_first_use=on_first_use, settings=settings, scrub_environ=True)
    return SkillExecutor(backend, limits_from_settings(settings), sandbox=sandbox)


__all__ = ["MODES", "make_backend", "make_executor"]
