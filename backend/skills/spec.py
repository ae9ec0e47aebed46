"""Loading a skill folder: ``SKILL.md`` front matter plus its Python code.

A skill folder looks like::

    technical_indicators/
        SKILL.md     # front matter: name, description, entry, input_schema, output_schema
        main.py      # def run(payload: dict) -> dict   (standard library only)

``entry`` is ``<file>.py:<function>``. Skills use only the standard library so
that every sandbox backend (in-process, subprocess, container, pod) can run
them with nothing but a Python interpreter.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import frontmatter
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

SKILL_NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
ENTRY_RE = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*\.py):([A-Za-z_][A-Za-z0-9_]*)$")


class SkillSpecError(ValueError):
    """A skill folder or its SKILL.md is invalid; the message names the file."""


class SkillSpec(BaseModel):
    """A loaded skill: its metadata and where its code lives."""

    model_config = ConfigDict(extra="forbid")
    name: str
    description: str = ""
    version: str = "1"
    entry: str = "main.py:run"
    input_schema: dict[str, Any] = Field(default_factory=lambda: {"type": "object"})
    output_schema: dict[str, Any] = Field(default_factory=lambda: {"type": "object"})
    path: Path

    @field_validator("name")
    @classmethod
    def _check_name(cls, value: str) -> str:
        if not SKILL_NAME_RE.match(value):
            raise ValueError("skill name must be lowercase letters, digits and _")
        return value

    @field_validator("entry")
    @classmethod
    def _check_entry(cls, value: str) -> str:
        if not ENTRY_RE.match(value):
            raise ValueError("entry must look like main.py:run")
        return value

    @property
    def entry_file(self) -> str:
        return self.entry.split(":", 1)[0]

    @property
    def entry_function(self) -> str:
        return self.entry.split(":", 1)[1]

    @property
    def code_path(self) -> Path:
        return self.path / self.entry_file


def load_skill(folder: Path) -> SkillSpec:
    """Read and validate ``folder/SKILL.md``; the entry file must exist."""
    md = folder / "SKILL.md"
    if not md.is_file():
        raise SkillSpecError(f"{md}: missing SKILL.md")
    try:
        post = frontmatter.loads(md.read_text(encoding="utf-8"))
    except yaml.YAMLError as err:
        raise SkillSpecError(f"{md}: invalid front matter: {err}") from None
    meta = dict(post.metadata)
    meta.setdefault("description", post.content.strip().splitlines()[0] if post.content.strip() else "")
    try:
        spec = SkillSpec(path=folder.resolve(), **meta)
    except ValidationError as err:
        first = err.errors()[0]
        field = ".".join(str(p) for p in first["loc"])
        raise SkillSpecError(f"{md}: field '{field}': {first['msg']}") from None
    if not spec.code_path.is_file():
        raise SkillSpecError(f"{md}: entry file {spec.entry_file} not found in {folder}")
    return spec


def discover_skills(skills_dir: Path) -> dict[str, SkillSpec]:
    """All skills directly below ``skills_dir`` by name (empty if it does not exist)."""
    found: dict[str, SkillSpec] = {}
    if not skills_dir.is_dir():
        return found
    for child in sorted(skills_dir.iterdir()):
        if child.is_dir() and (child / "SKILL.md").is_file():
            spec = load_skill(child)
            found[spec.name] = spec
    return found
