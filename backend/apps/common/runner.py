"""``python -m backend.apps.<service>``: argument parsing, safety checks, uvicorn.

    # backend/apps/trading_service/__main__.py
    sys.exit(run_service(create_app, "trading_service", "trading_service_port"))

``create_app(settings, registry)`` builds the app. Before serving, the
runner refuses, in one line on stderr and with exit code 2: invalid
settings, an unusable tokens file, a non-loopback bind without tokens, and a
port already in use (naming the process holding it). SIGTERM shuts down
gracefully and exits 0; access logs are off unless ``--access-log``.
"""

from __future__ import annotations

import argparse
import copy
import signal
import sys
from collections.abc import Callable, Sequence
from types import FrameType
from typing import Any

import uvicorn
from fastapi import FastAPI
from uvicorn.config import LOGGING_CONFIG

from backend.config import SettingsError, load_settings
from backend.supervisor.ports import PortError, check_port_free
from backend.security.tokens import TokenConfigError, TokenRegistry, check_bind_allowed, registry_from_settings

EXIT_REFUSED = 2  # configuration refused before serving (like a usage error)

AppFactory = Callable[[Any, TokenRegistry], FastAPI]


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"port {value} is out of range 0-65535")
    return value


def build_parser(name: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=f"python -m backend.apps.{name}", description=f"Run {name}.")
    parser.add_argument("--host", help="address to listen on (default: EVOTRADERS_HOST, 127.0.0.1)")
    parser.add_argument("--port", type=_port, help="port to listen on (default: from settings)")
    parser.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"])
    parser.add_argument("--access-log", action="store_true", help="log every request")
    return parser


def logging_config(level: str) -> dict[str, Any]:
    """uvicorn's logging setup, plus the service's own loggers (with their names) at ``level``."""
    config = copy.deepcopy(LOGGING_CONFIG)
    config["formatters"]["named"] = {
        "()": "uvicorn.logging.DefaultFormatter",
        "fmt": "%(levelprefix)s %(name)s: %(message)s",
        "use_colors": None,
    }
    config["handlers"]["named"] = {"formatter": "named", "class": "logging.StreamHandler", "stream": "ext://sys.stderr"}
    config["root"] = {"handlers": ["named"], "level": level.upper()}
    return config


def run_service(app_factory: AppFactory, name: str, port_setting: str,
                argv: Sequence[str] | None = None) -> int:
    """Parse ``--host/--port``, check it is safe to serve, run uvicorn; returns the exit code."""
    args = build_parser(name).parse_args(argv)

    def refuse(message: str) -> int:
        print(f"{name}: {message}", file=sys.stderr)
        return EXIT_REFUSED

    try:
        settings = load_settings()
        registry = registry_from_settings(settings)
    except (SettingsError, TokenConfigError) as err:
        return refuse(str(err))
    host = args.host or settings.evotraders_host
    port = args.port if args.port is not None else getattr(settings, port_setting)
    try:
        check_bind_allowed(host, registry)
        check_port_free(host, port)
    except (TokenConfigError, PortError) as err:
        return refuse(str(err))

    app = app_factory(settings, registry)
    server = uvicorn.Server(uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level=args.log_level,
        log_config=logging_config(args.log_level),
        access_log=args.access_log,
        # The peer address decides loopback trust for open servers: never take it from a header.
        proxy_headers=False,
        server_header=False,
        timeout_graceful_shutdown=5,
        # Longer than clients keep idle connections (httpx: 5 s), so a client
        # never reuses a connection the server is closing at that moment.
        timeout_keep_alive=30,
        lifespan="on",
    ))

    # uvicorn re-raises the SIGTERM it handled once shutdown is complete, with
    # this handler back in place: then it is a no-op and the exit status is 0.
    # A SIGTERM before uvicorn took over simply ends the process (status 0 too).
    def on_sigterm(signum: int, frame: FrameType | None) -> None:
        if not server.should_exit:
            raise SystemExit(0)

    previous = signal.signal(signal.SIGTERM, on_sigterm)
    try:
        server.run()
    except KeyboardInterrupt:
        return 130
    finally:
        signal.signal(signal.SIGTERM, previous)
    return 0 if server.started else 1


def service_main(app_factory: AppFactory, name: str, port_setting: str) -> Callable[[Sequence[str] | None], int]:
    """A ``main(argv=None) -> int`` for a service module (e.g. a console-script entry point)."""

    def main(argv: Sequence[str] | None = None) -> int:
        return run_service(app_factory, name, port_setting, argv)

    main.__name__ = f"{name}_main"
    return main
