"""Subcommands contributed by other packages (gateway, stack, desk).

Each entry: name -> (help text, function adding arguments and ``func``).
"""

from __future__ import annotations

import argparse
from typing import Callable

EXTRA_COMMANDS: dict[str, tuple[str, Callable[[argparse.ArgumentParser], None]]] = {}
