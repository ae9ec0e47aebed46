"""Child for test_headless_kill: runs (or resumes) one run headless, as `evotraders backtest` does,
snapshotting after every day so that a kill lands near a snapshot as often as between two.

    python tests/core/headless_child.py ROOT RUN_ID
"""

import asyncio
import sys
from pathlib import Path

from backend.config import load_settings
from backend.pipeline import engine as engine_module
from backend.pipeline.engine import RunEngine
from backend.storage.run_store import RunStore
from backend.storage.workspaces import WorkspaceStore

engine_module.HEADLESS_SNAPSHOT_DAYS = 1
engine_module.HEADLESS_SNAPSHOT_SHARE = 0.0
engine_module.HEADLESS_SNAPSHOT_MIN_S = 0.0
engine_module.HEADLESS_SNAPSHOT_COST_RATIO = 0.0

root, run_id = Path(sys.argv[1]), sys.argv[2]
settings = load_settings(runs_dir=root / "runs", workspaces_dir=root / "workspaces")
engine = RunEngine(RunStore(settings.runs_dir, WorkspaceStore(settings.workspaces_dir)), run_id, settings,
                   write_every_stage=False)
print("resumed after", engine.resumed_from, flush=True)


async def go() -> str:
    try:  # a line per completed day: the parent picks the day to kill in, then the moment
        return await engine.run(on_day=lambda done, total, date: print("day", date, flush=True))
    finally:
        await engine.close()


print(asyncio.run(go()), flush=True)
