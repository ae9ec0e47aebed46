"""`evotraders import-legacy PATH`: import run folders of the earlier EvoTraders layout into runs/.

PATH is one legacy run folder (``live/``, ``production/``, ``backtest/`` or
``<config_name>/``) or a folder holding several; see ``backend.legacy.importer``.
Prints one line per run (imported or already there) and one per file left
out; exit status 0 when every run is in ``runs/``, 2 when PATH holds none.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from backend.legacy.importer import LegacyImportError, import_legacy


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("path", type=Path, help="a legacy run folder, or a folder of them")
    parser.add_argument("--runs-dir", type=Path, default=None, help="where runs live (default: RUNS_DIR)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    runs_dir = args.runs_dir
    if runs_dir is None:
        from backend.config import get_settings

        runs_dir = Path(get_settings().runs_dir)
    try:
        results = import_legacy(args.path, runs_dir)
    except LegacyImportError as err:
        print(f"evotraders import-legacy: {err}", file=sys.stderr)
        return 2
    for result in results:
        if not result.imported:
            print(f"{result.source}: already imported as run {result.run_id} (nothing done)")
            continue
        print(f"{result.source}: imported as run {result.run_id} ({result.trades} trades, "
              f"{result.feed_events} feed events{f', {result.feed_skipped} unreadable feed events left out' if result.feed_skipped else ''})")
        for problem in result.problems:
            print(f"  left out {problem}", file=sys.stderr)
    return 0
