"""`python -m backend.apps.runtime_service [--host] [--port]`."""

import sys

from backend.apps.common import run_service
from backend.apps.common.runner import EXIT_REFUSED
from backend.apps.runtime_service.app import create_app
from backend.control_plane.gateway_launchers import LauncherError


def _create_app(settings, registry):  # type: ignore[no-untyped-def]
    """create_app, with an unusable Gateway launcher (no engine, no tokens) as one line, not a traceback."""
    try:
        return create_app(settings, registry)
    except LauncherError as err:
        print(f"runtime_service: {err}", file=sys.stderr)
        sys.exit(EXIT_REFUSED)


sys.exit(run_service(_create_app, "runtime_service", "runtime_service_port"))
