"""``workspaces/<name>/``: the design-time registry runs are created from.

A workspace is a folder with ``BOOTSTRAP.md`` and ``agents/``. The default
workspace ships in ``resources/workspaces/default`` and is copied into the
registry on first use. Every path taken from user input is resolved and
checked to stay inside its workspace.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from backend.errors import BadRequestError, ConflictError, ForbiddenPathError, NotFoundError
from backend.paths import DEFAULT_WORKSPACE_TEMPLATE
from backend.storage.atomic import atomic_write_text
from backend.storage.bootstrap_file import parse_bootstrap
from backend.storage.ids import validate_workspace_name

DEFAULT_WORKSPACE = "default"
_IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", "memory.jsonl")


NAME_MAX = 255  # bytes in one path segment (Linux; more is ENAMETOOLONG)
PATH_MAX = 4096  # bytes in a whole path


def safe_join(root: Path, relative: str) -> Path:
    """``root/relative``, refusing anything that resolves outside ``root`` or that no file system can hold."""
    if not relative or relative.startswith(("/", "\\")) or "\x00" in relative:
        raise ForbiddenPathError(f"invalid path {relative!r}")
    _check_lengths(root, relative)
    root = root.resolve()
    target = (root / relative).resolve()
    if target != root and root not in target.parents:
        raise ForbiddenPathError(f"path {relative!r} points outside its folder")
    return target


def _check_lengths(root: Path, relative: str) -> None:
    try:
        segments = [len(os.fsencode(part)) for part in relative.split("/")]
        total = len(os.fsencode(str(root.resolve() / relative)))
    except UnicodeEncodeError:
        raise BadRequestError(f"path {relative[:80]!r} is not valid text") from None
    for index, size in enumerate(segments, 1):
        if size > NAME_MAX:
            raise BadRequestError(f"path segment {index} of {relative[:80]!r}... is {size} bytes long; "
                                  f"at most {NAME_MAX} bytes per segment")
    if total >= PATH_MAX:
        raise BadRequestError(f"path {relative[:80]!r}... is too long ({total} bytes with its folder; "
                              f"at most {PATH_MAX - 1})")


class WorkspaceStore:
    """CRUD over ``workspaces/``.

    Args:
        root: the ``WORKSPACES_DIR`` folder.
        template: the default workspace shipped with the project.
    """

    def __init__(self, root: Path, template: Path = DEFAULT_WORKSPACE_TEMPLATE) -> None:
        self.root = Path(root)
        self.template = template

    def ensure_default(self) -> Path:
        """Copy the shipped default workspace into the registry if it is missing."""
        target = self.root / DEFAULT_WORKSPACE
        if not (target / "BOOTSTRAP.md").is_file():
            self._copy_into_place(self.template, target)
        return target

    def _copy_into_place(self, source: Path, target: Path) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=self.root))
        try:
            shutil.copytree(source, staging / "ws", ignore=_IGNORE)
            (staging / "ws").rename(target)
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    def path(self, name: str) -> Path:
        return self.root / validate_workspace_name(name)

    def require(self, name: str) -> Path:
        if name == DEFAULT_WORKSPACE:
            self.ensure_default()
        folder = self.path(name)
        if not (folder / "BOOTSTRAP.md").is_file():
            raise NotFoundError(f"unknown workspace {name!r}")
        return folder

    def names(self) -> list[str]:
        self.ensure_default()
        return sorted(p.name for p in self.root.iterdir()
                      if p.is_dir() and not p.name.startswith(".") and (p / "BOOTSTRAP.md").is_file())

    def create(self, name: str, source: str = DEFAULT_WORKSPACE) -> Path:
        """A new workspace copied from ``source`` (default: the shipped template)."""
        target = self.path(name)
        if target.exists():
            raise ConflictError(f"workspace {name!r} already exists")
        origin = self.template if source == DEFAULT_WORKSPACE and not (self.root / source).exists() \
            else self.require(source)
        self._copy_into_place(origin, target)
        return target

    def rename(self, name: str, new_name: str) -> Path:
        source = self.require(name)
        target = self.path(new_name)
        if target.exists():
            raise ConflictError(f"workspace {new_name!r} already exists")
        source.rename(target)
        return target

    def delete(self, name: str) -> None:
        folder = self.require(name)
        # Rename first so a half-deleted folder is never mistaken for a workspace.
        trash = Path(tempfile.mkdtemp(prefix=".deleted.", dir=self.root))
        folder.rename(trash / name)
        shutil.rmtree(trash, ignore_errors=True)

    def read_file(self, name: str, relative: str) -> str:
        target = safe_join(self.require(name), relative)
        if not target.is_file():
            raise NotFoundError(f"no file {relative!r} in workspace {name!r}")
        return target.read_text(encoding="utf-8")

    def write_file(self, name: str, relative: str, text: str) -> None:
        """Write a workspace file atomically; BOOTSTRAP.md is validated first."""
        folder = self.require(name)
        target = safe_join(folder, relative)
        if target == (folder / "BOOTSTRAP.md").resolve():
            parse_bootstrap(text, f"workspaces/{name}/BOOTSTRAP.md")
        elif target.suffix not in {".md", ".py", ".json", ".yaml", ".yml", ".txt"}:
            raise BadRequestError(f"refusing to write {relative!r}: only .md, .py, .json, .yaml and .txt files")
        atomic_write_text(target, text)
