"""The activity feed's cost under a flood: this FeedView beside an earlier one, in the same run.

Each round applies a burst of feed events (agent messages, conference blocks
and their messages, memories, day events) to a bounded LiveModel, then has
the view catch up (``refresh()``) and paints its rows (``tree.grab()``), as the Live
panel does at most four times a second. The CPU time of refresh + paint is
measured per round, the two views taking turns on the same events, so a
loaded machine slows both alike. Printed: median and p90 ms per round for
each, their ratio, and the load average.

    QT_QPA_PLATFORM=offscreen .venv/bin/python bench/feed_view.py [--rounds 200] [--burst 150] [--baseline REV]

``--baseline`` is the git revision whose ``app/qt/panels/live_feed.py`` is
the other view (default: the QTreeWidget feed before the model/view one).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
import types
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
BASELINE = "3cbda4f"  # the last commit with the QTreeWidget feed
AGENTS = ("fundamentals_analyst", "technical_analyst", "sentiment_analyst", "valuation_analyst", "risk_manager",
          "portfolio_manager")


def baseline_module(rev: str) -> types.ModuleType:
    source = subprocess.run(["git", "show", f"{rev}:app/qt/panels/live_feed.py"], cwd=ROOT, check=True,
                            capture_output=True, text=True).stdout
    module = types.ModuleType("live_feed_baseline")
    exec(compile(source, f"{rev}:live_feed.py", "exec"), module.__dict__)  # noqa: S102 - our own history
    return module


def burst(n: int, start: int) -> list[dict[str, Any]]:
    """``n`` feed frames: mostly agent messages, a conference every 50, a day's events every 100."""
    frames: list[dict[str, Any]] = []
    for i in range(start, start + n):
        ms = 1_736_000_000_000 + i * 1000
        agent = AGENTS[i % len(AGENTS)]
        if i % 100 == 0:
            frames.append({"type": "day_start", "date": "2025-01-02", "progress": 0.1})
        elif i % 50 == 0:
            frames.append({"type": "conference_start", "conferenceId": f"c{i}", "title": f"Conference {i}",
                           "date": "2025-01-02", "participants": list(AGENTS), "ts": ms})
        elif i % 50 < 8:
            frames.append({"type": "conference_message", "agentId": agent, "content": f"view {i} " * 12, "ts": ms})
        elif i % 50 == 8:
            frames.append({"type": "conference_end", "ts": ms})
        elif i % 7 == 0:
            frames.append({"type": "memory", "agentId": agent, "content": f"lesson {i} " * 8, "ts": ms})
        else:
            frames.append({"type": "agent_message", "agentId": agent, "content": f"signal {i}: " + "why " * 30,
                           "ts": ms, "timestamp": "2025-01-02T14:00:00+00:00"})
    return frames


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--burst", type=int, default=150, help="feed events between two refreshes")
    parser.add_argument("--baseline", default=BASELINE)
    args = parser.parse_args(argv)

    from PySide6.QtWidgets import QApplication

    from app.models.live_model import LiveModel
    from app.qt.panels.live_feed import FeedView

    app = QApplication.instance() or QApplication(sys.argv[:1])
    old = baseline_module(args.baseline)
    views: dict[str, Any] = {}
    for name, cls in (("baseline", old.FeedView), ("this", FeedView)):
        view = cls(LiveModel(max_feed=500))
        view.resize(480, 420)
        view.show()
        views[name] = view
    app.processEvents()
    load_before = os.getloadavg()
    costs: dict[str, list[float]] = {name: [] for name in views}
    for r in range(args.rounds):
        frames = burst(args.burst, r * args.burst)
        order = list(views) if r % 2 == 0 else list(reversed(views))  # take turns going first
        for name in order:
            view = views[name]
            for frame in frames:
                view.model.apply_frame(frame)
            start = time.process_time()
            view.refresh()
            view.tree.grab()  # the paint the refresh costs: the rows (the detail pane repaints only on a click)
            costs[name].append((time.process_time() - start) * 1000)
    load_after = os.getloadavg()
    print(f"feed view: {args.rounds} rounds of {args.burst} feed events (500 kept), refresh + paint, CPU time; "
          f"load average {load_before[0]:.2f} -> {load_after[0]:.2f}")
    for name, values in costs.items():
        values = sorted(values)
        print(f"  {name:9} median {statistics.median(values):6.2f} ms  p90 {values[int(len(values) * 0.9)]:6.2f} ms"
              f"  total {sum(values) / 1000:5.2f} s")
    ratio = statistics.median(costs["this"]) / statistics.median(costs["baseline"])
    print(f"  this / baseline (median): {ratio:.2f}")
    for view in views.values():
        view.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
