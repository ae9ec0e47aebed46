"""Subcommands contributed by other packages (gateway, stack, desk).

Each entry: name -> (help text, function adding arguments and ``func``).
"""

from __future__ import annotations

import argparse
from typing import Callable

EXTRA_COMMANDS: dict[str, tuple[str, Callable[[argparse.ArgumentParser], None]]] = {}


def _gateway_args(parser: argparse.ArgumentParser) -> None:
    from gateway.cli import add_arguments

    add_arguments(parser)


EXTRA_COMMANDS["gateway"] = ("serve one run over WebSocket (the Gateway)", _gateway_args)


def _stack_args(parser: argparse.ArgumentParser) -> None:
    from backend.cli.stack_cmd import add_arguments

    add_arguments(parser)


EXTRA_COMMANDS["stack"] = ("start, inspect or stop the local split-service stack", _stack_args)


def _plugin_commands() -> None:
    """Subcommands other packages declare as ``evotraders.commands`` entry points.

    The desktop app registers ``desk`` this way (see pyproject.toml), so the
    Qt-free backend can offer ``evotraders desk`` without importing ``app``.
    """
    from importlib.metadata import entry_points

    for ep in entry_points(group="evotraders.commands"):
        if ep.name in EXTRA_COMMANDS:
            continue

        def add(parser: argparse.ArgumentParser, ep=ep) -> None:
            ep.load()(parser)

        EXTRA_COMMANDS[ep.name] = (PLUGIN_HELP.get(ep.name, f"provided by {ep.module}"), add)


PLUGIN_HELP = {"desk": "open the desktop control center (PySide6)"}
_plugin_commands()
