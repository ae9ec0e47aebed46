"""Where each run's Gateway runs, chosen by ``GATEWAY_LAUNCHER``.

- ``subprocess`` (:mod:`.subprocess`, the default): a child process through the process supervisor;
- ``docker`` (:mod:`.docker`): one container per run through the docker SDK;
- ``kubernetes`` (:mod:`.kubernetes`): one Pod plus a Service per run through the official client.

Every launcher returns handles with a ManagedProcess's observable state, so
``RuntimeController.gateway_info`` has one shape (:mod:`.base`), and every
Gateway gets the URL clients reach it at (:mod:`.public_url`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from backend.control_plane.gateway_launchers.base import GATEWAY_PREFIX, GatewayLaunch, LauncherError

if TYPE_CHECKING:
    from backend.config import Settings
    from backend.supervisor.supervisor import ProcessSupervisor


def make_launcher(settings: Settings, supervisor: ProcessSupervisor, host: str = "127.0.0.1",
                  preferred_port: int | None = None) -> Any:
    """The launcher ``settings.gateway_launcher`` names (LauncherError when it cannot be used)."""
    kind = settings.gateway_launcher
    if kind == "docker":
        from backend.control_plane.gateway_launchers.docker import DockerGatewayLauncher

        return DockerGatewayLauncher(settings)
    if kind == "kubernetes":
        from backend.control_plane.gateway_launchers.kubernetes import KubernetesGatewayLauncher

        return KubernetesGatewayLauncher(settings)
    from backend.control_plane.gateway_launchers.subprocess import SubprocessLauncher

    return SubprocessLauncher(supervisor, host, settings.gateway_public_url, preferred_port)


__all__ = ["GATEWAY_PREFIX", "GatewayLaunch", "LauncherError", "make_launcher"]
