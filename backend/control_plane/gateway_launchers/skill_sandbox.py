"""The sandbox a Gateway's skills will run in, worked out before its container or Pod exists.

A Gateway raises its run's BOOTSTRAP ``sandbox_mode`` to the operator's floor
(:func:`backend.sandbox.floor.choose_sandbox`; the floor reaches it as
``SKILL_SANDBOX_MODE`` in its environment). A launcher that runs the Gateway
somewhere else computes the same mode first, so it can give that workload
what the sandbox backend needs there (the docker engine's socket and a
staging folder; a service account token) or refuse to start it with the
reason. It never starts a Gateway whose skills would silently get less
isolation or none.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from backend.control_plane.gateway_launchers.base import GatewayLaunch
from backend.sandbox.floor import choose_sandbox

if TYPE_CHECKING:
    from backend.config import Settings

log = logging.getLogger(__name__)


def requested_mode(settings: Settings, run_id: str) -> str | None:
    """The run's BOOTSTRAP ``sandbox_mode`` (None when it asks for nothing or cannot be read here)."""
    from backend.storage.run_store import RunStore

    try:
        config, _ = RunStore.from_settings(settings).read_bootstrap(run_id)
    except Exception as err:  # noqa: BLE001 - the Gateway itself reports a broken BOOTSTRAP, with its line
        log.info("run %s: BOOTSTRAP not read before launch (%s); its floor decides", run_id, err)
        return None
    return config.sandbox_mode


def effective_mode(settings: Settings, launch: GatewayLaunch) -> str:
    """The mode the Gateway of ``launch`` will run its skills in (none, process, docker or kubernetes)."""
    floor = launch.env.get("SKILL_SANDBOX_MODE") or settings.skill_sandbox_mode
    return choose_sandbox(requested_mode(settings, launch.run_id), floor).mode  # type: ignore[arg-type]


__all__ = ["effective_mode", "requested_mode"]
