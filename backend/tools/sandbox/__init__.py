"""The isolating skill sandboxes: ``process``, ``docker`` and ``kubernetes``.

Every backend starts :mod:`runner` (standard library only) next to the skill's
code and maps what comes back to a :class:`SkillResult` in :mod:`outcome`, so
all modes report the same error kinds. ``make_backend`` in
``backend/tools/sandboxed_executor.py`` calls :func:`make_isolating_backend`
for every mode except ``none``. Backend modules are imported on demand: the
docker and kubernetes clients are only loaded when their mode is chosen.
"""

from __future__ import annotations

from typing import Any

from backend.tools.sandboxed_executor import SandboxBackend

MODES = ("process", "docker", "kubernetes")


def make_isolating_backend(mode: str, settings: Any | None = None) -> SandboxBackend:
    """The backend for ``SKILL_SANDBOX_MODE`` = ``mode`` (process, docker or kubernetes)."""
    if settings is None:
        from backend.config import get_settings

        settings = get_settings()
    if mode == "process":
        from backend.tools.sandbox.process import ProcessSandboxBackend

        return ProcessSandboxBackend()
    if mode == "docker":
        from backend.tools.sandbox.docker_backend import DockerSandboxBackend

        return DockerSandboxBackend(image=settings.skill_sandbox_image,
                                    pull_policy=settings.skill_sandbox_pull_policy)
    if mode == "kubernetes":
        from backend.tools.sandbox.kubernetes_backend import KubernetesSandboxBackend

        return KubernetesSandboxBackend(
            image=settings.skill_sandbox_image, namespace=settings.skill_sandbox_namespace,
            context=settings.skill_sandbox_kube_context,
            service_account=settings.skill_sandbox_service_account,
            pull_policy=settings.skill_sandbox_pull_policy,
        )
    raise ValueError(f"unknown SKILL_SANDBOX_MODE {mode!r}; expected none, {', '.join(MODES[:-1])} or {MODES[-1]}")


__all__ = ["MODES", "make_isolating_backend"]
