"""The image's entrypoint: the first argument chooses the component.

    agent_service | trading_service | news_service | runtime_service [--host H] [--port P] ...
    gateway --run-id ID [...]          (python -m gateway)
    evotraders ...                     (the CLI)
    help                               (this text)
    anything else                      executed as given (python -c ..., sh, ...)

The component replaces this process (exec), so it is PID 1's program and gets
the container's SIGTERM itself.
"""

from __future__ import annotations

import os
import sys

COMMANDS: dict[str, list[str]] = {
    "agent_service": ["-m", "backend.apps.agent_service"],
    "trading_service": ["-m", "backend.apps.trading_service"],
    "news_service": ["-m", "backend.apps.news_service"],
    "runtime_service": ["-m", "backend.apps.runtime_service"],
    "gateway": ["-m", "gateway"],
    "evotraders": ["-m", "backend.cli.main"],
}


def main(argv: list[str]) -> int:
    if not argv or argv[0] in ("help", "--help", "-h"):
        print(__doc__.strip())
        print("\ncommands: " + ", ".join(COMMANDS))
        return 0
    command, rest = argv[0], argv[1:]
    if command in COMMANDS:
        os.execv(sys.executable, [sys.executable, *COMMANDS[command], *rest])
    try:
        os.execvp(command, argv)
    except FileNotFoundError:
        print(f"entrypoint: unknown command {command!r} (one of: {', '.join(COMMANDS)}, or a program)",
              file=sys.stderr)
        return 127
    return 0  # not reached: exec replaced the process


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
