"""`evotraders`: one console script, one subcommand per job.

Errors a user can fix (bad settings, a malformed BOOTSTRAP.md, an unknown
ticker, an invalid run id) are printed as one line and exit with status 2;
never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from typing import Callable, NoReturn

from backend.cli import backtest_cmd

COMMANDS: dict[str, tuple[Callable[[argparse.ArgumentParser], None], str]] = {
    "backtest": (backtest_cmd.add_arguments, "run a whole backtest headless"),
}


def _lazy_subcommands(sub: argparse._SubParsersAction) -> None:
    # Subcommands that live in other packages register themselves here; they
    # are imported only when chosen, so `evotraders backtest` stays light.
    from backend.cli.registry import extra_commands

    for name, (help_text, add_args) in extra_commands().items():
        parser = sub.add_parser(name, help=help_text)
        add_args(parser)


class OneLineParser(argparse.ArgumentParser):
    """Reports a usage error as one line (``--help`` still shows the usage)."""

    def error(self, message: str) -> "NoReturn":  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="evotraders", description="EvoTraders Control Center")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=OneLineParser)
    for name, (add_args, help_text) in COMMANDS.items():
        add_args(sub.add_parser(name, help=help_text))
    _lazy_subcommands(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    from backend.cli.errors import user_errors

    parser = build_parser()
    args = parser.parse_args(argv)
    with user_errors() as outcome:
        outcome.code = args.func(args)
    return outcome.code


if __name__ == "__main__":
    sys.exit(main())
