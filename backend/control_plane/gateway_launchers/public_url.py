"""The URL clients reach a run's Gateway at (``gateway_info["url"]``).

``GATEWAY_PUBLIC_URL`` is a template with ``{run_id}``, ``{port}`` and
``{host}`` (checked by :class:`~backend.config.Settings`); ``{host}`` and
``{port}`` are the launcher's natural address of that Gateway (the bind host
and port of a subprocess, the published host port of a container, the
Service's DNS name and port of a Pod). Without a template the natural
address is the URL.
"""

from __future__ import annotations

import ipaddress


def advertised_host(host: str) -> str:
    """A host a client can dial: a wildcard bind address becomes loopback, an IPv6 literal gets brackets."""
    if host in ("0.0.0.0", ""):
        return "127.0.0.1"
    if host == "::":
        return "[::1]"
    try:
        if ipaddress.ip_address(host).version == 6:
            return f"[{host}]"
    except ValueError:
        pass  # a DNS name
    return host


def gateway_url(template: str | None, run_id: str, host: str, port: int) -> str:
    """The Gateway's WebSocket URL: ``template`` filled in, else ``ws://<host>:<port>/``."""
    host = advertised_host(host)
    if template:
        return template.format(run_id=run_id, host=host, port=port)
    return f"ws://{host}:{port}/"
