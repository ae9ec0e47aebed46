"""The in-process crash of issue 16, in a few lines (run by ``test_gc_policy.py`` as a subprocess).

Qt objects with running timers -- QTimers and pyqtgraph plots, as the desk's
panels have -- are left in reference cycles, so only the cyclic collector can
free them. A worker thread then allocates cyclic garbage, as qasync's address
resolver threads and asyncio's child watcher do, until collections happen.
The Qt event loop runs a few timer intervals afterwards and the script prints
one JSON line: which threads collected, and in which thread each cycle's
QObject was destroyed.

    python gc_scenario.py [--policy] [--cycles N]

With ``--policy`` the desk's ``collect_on_gui_thread()`` is in force first.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import sys
import threading
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import pyqtgraph as pg  # noqa: E402
from PySide6.QtCore import QTimer  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from tests.support.cyclic_garbage import allocate_in_thread  # noqa: E402


class Owner:
    """Holds a Qt object that holds it back: a cycle only the collector frees."""


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--policy", action="store_true")
    parser.add_argument("--cycles", type=int, default=60)
    args = parser.parse_args()

    app = QApplication([])
    if args.policy:
        from app.qt.gc_policy import collect_on_gui_thread

        collect_on_gui_thread(interval_s=0.05)

    collections: dict[str, int] = {}

    def count(phase: str, info: dict) -> None:
        if phase == "start":
            name = threading.current_thread().name
            collections[name] = collections.get(name, 0) + 1

    gc.callbacks.append(count)
    # Everything so far (Qt, pyqtgraph, numpy) goes to the permanent generation:
    # otherwise those long-lived objects make CPython skip full collections
    # (a gen-2 pass runs only once pending objects reach a quarter of the
    # long-lived ones), and whether the worker's collections reach the cycles
    # below would be left to chance.
    gc.collect()
    gc.freeze()
    destroyed_in: dict[str, int] = {}

    def note_destroyed(*_: object) -> None:
        name = threading.current_thread().name
        destroyed_in[name] = destroyed_in.get(name, 0) + 1

    for i in range(args.cycles):
        owner = Owner()
        if i % 2:
            owner.qt = QTimer()
            owner.qt.start(20)
        else:
            owner.qt = pg.PlotWidget()  # a scene, items and their update timers
            owner.qt.plot([1, 2, 3])
        owner.qt.owner = owner
        owner.qt.destroyed.connect(note_destroyed)
    del owner

    allocate_in_thread("worker", 200_000)
    QTimer.singleShot(400, app.quit)  # twenty timer intervals of the freed timers
    app.exec()
    gc.collect()  # on the main thread: whatever is left goes now
    print(json.dumps({"collections": collections, "destroyed_in": destroyed_in}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
