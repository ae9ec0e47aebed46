from __future__ import annotations

from pathlib import Path

import pytest

from backend.storage.run_store import RunStore
from backend.storage.workspaces import WorkspaceStore


def make_runs(root: Path) -> RunStore:
    return RunStore(root / "runs", WorkspaceStore(root / "ws"))


@pytest.fixture
def runs(tmp_path: Path) -> RunStore:
    store = make_runs(tmp_path)
    store.create_run("default", run_id="r1", overrides={"approval": {"mode": "all", "timeout_seconds": 60}})
    store.create_run("default", run_id="r2", overrides={"approval": {
        "mode": "all", "timeout_seconds": 30, "on_timeout": "approve", "allow_quantity_change": False}})
    return store
