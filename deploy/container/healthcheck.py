"""The image's HEALTHCHECK: ``GET /health`` of the component PID 1 runs.

The component and its port come from PID 1's command line (``--port``), else
from the settings' default port variable (AGENT_SERVICE_PORT, ..., GATEWAY_PORT).
A container running anything else has nothing to check and counts as healthy.
Exit 0 = healthy, 1 = unhealthy (the reason on stdout, shown by docker inspect).
"""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request

PORTS = {  # module -> (port variable, default port)
    "backend.apps.agent_service": ("AGENT_SERVICE_PORT", 8000),
    "backend.apps.trading_service": ("TRADING_SERVICE_PORT", 8001),
    "backend.apps.news_service": ("NEWS_SERVICE_PORT", 8002),
    "backend.apps.runtime_service": ("RUNTIME_SERVICE_PORT", 8003),
    "gateway": ("GATEWAY_PORT", 8765),
}


def target(cmdline: list[str]) -> tuple[str, int] | None:
    """(module, port) of the component in ``cmdline``, or None."""
    if "-m" not in cmdline:
        return None
    module = cmdline[cmdline.index("-m") + 1] if cmdline.index("-m") + 1 < len(cmdline) else ""
    if module not in PORTS:
        return None
    variable, default = PORTS[module]
    port = int(os.environ.get(variable) or default)
    for i, arg in enumerate(cmdline):
        if arg == "--port" and i + 1 < len(cmdline):
            port = int(cmdline[i + 1])
        elif arg.startswith("--port="):
            port = int(arg.split("=", 1)[1])
    return module, port


def main() -> int:
    with open("/proc/1/cmdline", "rb") as fh:
        cmdline = [part.decode() for part in fh.read().split(b"\0") if part]
    found = target(cmdline)
    if found is None:
        print("no component to check")
        return 0
    module, port = found
    if port == 0:
        print(f"{module} listens on a random port: nothing to check")
        return 0
    url = f"http://127.0.0.1:{port}/health"
    try:
        with urllib.request.urlopen(url, timeout=4) as response:
            print(f"{module}: {url} -> {response.status}")
            return 0 if response.status == 200 else 1
    except (urllib.error.URLError, OSError) as err:
        print(f"{module}: {url} -> {err}")
        return 1


if __name__ == "__main__":
    sys.exit(main())
