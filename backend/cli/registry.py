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


def _desk_args(parser: argparse.ArgumentParser) -> None:
    from app.main import add_arguments

    add_arguments(parser)


EXTRA_COMMANDS["desk"] = ("open the desktop control center (PySide6)", _desk_args)
