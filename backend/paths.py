"""Where the project's shipped files live."""

from __future__ import annotations

from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
RESOURCES_DIR = PROJECT_ROOT / "resources"
DEFAULT_WORKSPACE_TEMPLATE = RESOURCES_DIR / "workspaces" / "default"
SAMPLE_DATA_DIR = RESOURCES_DIR / "sample_data"
