"""Fixtures shared by every test area."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from backend.config import Settings, load_settings
from backend.storage.run_store import RunStore
from backend.storage.workspaces import WorkspaceStore

PROJECT_ROOT = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings whose runs/ and workspaces/ live in the test's temporary folder."""
    return load_settings(runs_dir=tmp_path / "runs", workspaces_dir=tmp_path / "workspaces")


@pytest.fixture
def store(settings: Settings) -> RunStore:
    return RunStore(settings.runs_dir, WorkspaceStore(settings.workspaces_dir))


@pytest.fixture
def cli_env(tmp_path: Path) -> dict[str, str]:
    """Environment for running `evotraders` as a subprocess against tmp folders."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("EVOTRADERS_", "AGENT_"))}
    env.update(RUNS_DIR=str(tmp_path / "runs"), WORKSPACES_DIR=str(tmp_path / "workspaces"),
               PYTHONUNBUFFERED="1")
    return env


@pytest.hookimpl(trylast=True)
def pytest_runtest_teardown(item: pytest.Item) -> None:
    """Once a Qt test has run, automatic garbage collection is off for the session
    (``app/qt/gc_policy.py``): collect here, on the main (GUI) thread, after every test."""
    policy = sys.modules.get("app.qt.gc_policy")
    if policy is not None:
        policy.collect_if_due()
