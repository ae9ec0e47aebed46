"""A per-call folder holding the runner, its request and a copy of the skill.

Container backends bind-mount this folder instead of the skill's own folder:
the copy is a snapshot (edits during a call do not leak in) and is made
world-readable, so the sandbox's unprivileged user can read it whatever the
permissions of the original checkout.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from backend.sandbox.outcome import RUNNER_PATH

IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc", ".git")


class StagedCall:
    """``root/sandbox/{runner.py,request.json}`` and ``root/skill/...``, removed by :meth:`cleanup`."""

    def __init__(self, skill_dir: Path, request: dict[str, Any], prefix: str = "evotraders-stage-") -> None:
        self.root = Path(tempfile.mkdtemp(prefix=prefix))
        try:
            self.sandbox_dir = self.root / "sandbox"
            self.skill_dir = self.root / "skill"
            self.sandbox_dir.mkdir()
            shutil.copy(RUNNER_PATH, self.sandbox_dir / "runner.py")
            (self.sandbox_dir / "request.json").write_text(json.dumps(request), encoding="utf-8")
            shutil.copytree(skill_dir, self.skill_dir, ignore=IGNORED)
            _make_world_readable(self.root)
        except BaseException:
            self.cleanup()
            raise

    def cleanup(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


def _make_world_readable(root: Path) -> None:
    for dirpath, dirnames, filenames in os.walk(root):
        os.chmod(dirpath, 0o755)
        for name in filenames:
            path = os.path.join(dirpath, name)
            if not os.path.islink(path):
                os.chmod(path, 0o644)


def skill_files(skill_dir: Path) -> dict[str, bytes]:
    """Every file of a skill folder by relative POSIX path (caches and VCS folders skipped)."""
    files: dict[str, bytes] = {}
    for dirpath, dirnames, filenames in os.walk(skill_dir):
        dirnames[:] = sorted(d for d in dirnames if d not in ("__pycache__", ".git"))
        for name in sorted(filenames):
            if name.endswith(".pyc"):
                continue
            path = Path(dirpath) / name
            files[path.relative_to(skill_dir).as_posix()] = path.read_bytes()
    return files
