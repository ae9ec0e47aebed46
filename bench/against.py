"""Run bench/backtest.py's 1-year backtest on another revision of this repository, alternated
with this tree, in the same minutes (used by ``bench/backtest.py --against REV``).

This machine kind's speed drifts: the same tree has run the 1-year backtest
at 150 and at 310 days/s on different days, and by 1.8x within an hour. A
figure is only comparable with one measured beside it, so each revision is
checked out into a temporary ``git worktree`` (no network) and the same
script runs the backtest there and here in turn, each in a fresh process
(``--child``), round after round. The older tree's engine must take the
arguments ``in_process_once`` passes (every revision from 9e5d5e1, the tree
issue 13 measured, on).
"""

from __future__ import annotations

import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = Path(__file__).resolve().with_name("backtest.py")
TREE_ENV = "EVOTRADERS_BENCH_TREE"  # the child imports backend/ from this tree instead of ROOT


@contextlib.contextmanager
def worktree(rev: str) -> Iterator[Path]:
    """``rev`` checked out (detached) in a temporary worktree, removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="bench-tree-") as tmp:
        path = Path(tmp) / "tree"
        made = subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", "--quiet", str(path), rev],
                              capture_output=True, text=True)
        if made.returncode != 0:
            raise SystemExit(f"cannot check out {rev!r}: {made.stderr.strip()}")
        try:
            yield path
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(path)],
                           check=False, capture_output=True)


def child_run(tree: Path, repeat: int) -> dict[str, float]:
    """The median of ``repeat`` 1-year runs of ``tree``'s engine, in a fresh process."""
    env = {**os.environ, TREE_ENV: str(tree)}
    env.pop("PYTHONPATH", None)
    # Bytecode first, as ./dev does for this tree: neither side pays for compiling.
    subprocess.run([sys.executable, "-m", "compileall", "-q", "backend", "gateway"], cwd=tree,
                   check=False, capture_output=True)
    done = subprocess.run([sys.executable, str(SCRIPT), "--child", "--repeat", str(repeat)], cwd=tree, env=env,
                          capture_output=True, text=True)
    if done.returncode != 0:
        last = "\n".join(done.stderr.strip().splitlines()[-5:])
        raise SystemExit(f"the backtest of {tree} failed (exit {done.returncode}); is its engine older than "
                         f"9e5d5e1?\n{last}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def alternate(revs: list[str], rounds: int, repeat: int) -> None:
    """Print each round's figures for this tree and each revision, then the medians and ratios."""
    with contextlib.ExitStack() as stack:
        trees = {"this tree": ROOT, **{rev: stack.enter_context(worktree(rev)) for rev in revs}}
        figures: dict[str, list[dict[str, float]]] = {name: [] for name in trees}
        for i in range(rounds):
            for name, tree in trees.items():
                result = child_run(tree, repeat)
                figures[name].append(result)
                print(f"round {i + 1}: {name:>12}  {result['rate']:7.1f} days/s  {result['cpu_rate']:7.1f} per CPU second",
                      flush=True)
        ours = {key: statistics.median(r[key] for r in figures["this tree"]) for key in ("rate", "cpu_rate")}
        print(f"\nthis tree, median of {rounds} rounds: {ours['rate']:.1f} days/s ({ours['cpu_rate']:.1f} per CPU second)")
        for rev in revs:
            theirs = {key: statistics.median(r[key] for r in figures[rev]) for key in ("rate", "cpu_rate")}
            pairs = [a["cpu_rate"] / b["cpu_rate"] for a, b in zip(figures["this tree"], figures[rev])]
            print(f"{rev}: {theirs['rate']:.1f} days/s ({theirs['cpu_rate']:.1f} per CPU second); this tree is "
                  f"{ours['rate'] / theirs['rate']:.2f}x its days/s, {ours['cpu_rate'] / theirs['cpu_rate']:.2f}x per "
                  f"CPU second (round by round {min(pairs):.2f}-{max(pairs):.2f}x)")
