"""Subcommands contributed by other packages (gateway, desk) and the stack command.

Each entry: name -> (help text, function adding arguments and ``func``).
``gateway`` and ``desk`` are ``evotraders.commands`` entry points
(pyproject.toml): ``gateway`` and ``app`` import ``backend``, so ``backend``
finds them by name at run time and never imports them (no import cycle).
"""

from __future__ import annotations

import argparse
from typing import Callable

AddArguments = Callable[[argparse.ArgumentParser], None]

PLUGIN_HELP = {
    "gateway": "serve one run over WebSocket (the Gateway)",
    "desk": "open the desktop control center (PySide6)",
}
# Listed in this order in --help; other entry points follow.
PLUGIN_ORDER = ("gateway", "stack", "deploy", "import-legacy", "desk")


def _stack_args(parser: argparse.ArgumentParser) -> None:
    from backend.cli.stack_cmd import add_arguments

    add_arguments(parser)


def _deploy_args(parser: argparse.ArgumentParser) -> None:
    from backend.cli.deploy import add_arguments

    add_arguments(parser)


def _import_legacy_args(parser: argparse.ArgumentParser) -> None:
    from backend.cli.import_legacy import add_arguments

    add_arguments(parser)


def _plugin_commands() -> dict[str, tuple[str, AddArguments]]:
    """Subcommands other packages declare as ``evotraders.commands`` entry points (loaded when chosen)."""
    from importlib.metadata import entry_points

    found: dict[str, tuple[str, AddArguments]] = {}
    for ep in entry_points(group="evotraders.commands"):
        if ep.name in found:
            continue

        def add(parser: argparse.ArgumentParser, ep=ep) -> None:
            ep.load()(parser)

        found[ep.name] = (PLUGIN_HELP.get(ep.name, f"provided by {ep.module}"), add)
    return found


def extra_commands() -> dict[str, tuple[str, AddArguments]]:
    """Every subcommand beyond ``backtest``: the stack command and the entry points."""
    commands = {"stack": ("start, inspect or stop the local split-service stack", _stack_args),
                "deploy": ("bring the compose deployment (deploy/compose) up or down", _deploy_args),
                "import-legacy": ("import run folders of the earlier EvoTraders layout into runs/",
                                  _import_legacy_args),
                **_plugin_commands()}
    ranked = sorted(commands, key=lambda name: (PLUGIN_ORDER.index(name) if name in PLUGIN_ORDER
                                                else len(PLUGIN_ORDER), name))
    return {name: commands[name] for name in ranked}

