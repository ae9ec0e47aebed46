"""AGENT.md: an agent's persona and settings inside a run or workspace."""

from __future__ import annotations

from pathlib import Path

import frontmatter
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from backend.schema.bootstrap import Role
from backend.skills.spec import SkillSpec, discover_skills


class AgentProfileError(ValueError):
    """AGENT.md or an agent folder is invalid; the message names the file."""


class AgentProfile(BaseModel):
    """Front matter of AGENT.md plus the persona text and the skills found."""

    model_config = ConfigDict(extra="ignore", arbitrary_types_allowed=True)
    agent_id: str
    role: Role
    policy: str = "rules"
    model: str | None = None
    skills: list[str] = Field(default_factory=list)
    persona: str = ""
    skill_specs: dict[str, SkillSpec] = Field(default_factory=dict)

    def skill(self, name: str) -> SkillSpec:
        try:
            return self.skill_specs[name]
        except KeyError:
            raise AgentProfileError(f"agent {self.agent_id} has no skill {name!r} in its skills/ folder") from None


def load_profile(agent_dir: Path, agent_id: str, default_role: str) -> AgentProfile:
    """Read ``agent_dir/AGENT.md`` and discover ``agent_dir/skills/*``."""
    md = agent_dir / "AGENT.md"
    meta: dict = {}
    persona = ""
    if md.is_file():
        try:
            post = frontmatter.loads(md.read_text(encoding="utf-8"))
        except yaml.YAMLError as err:
            raise AgentProfileError(f"{md}: invalid front matter: {err}") from None
        meta, persona = dict(post.metadata), post.content
    meta.setdefault("role", default_role)
    meta["skills"] = [s for s in (meta.get("skills") or []) if s]
    try:
        profile = AgentProfile(agent_id=agent_id, persona=persona, **meta)
    except ValidationError as err:
        first = err.errors()[0]
        field = ".".join(str(p) for p in first["loc"])
        raise AgentProfileError(f"{md}: field '{field}': {first['msg']}") from None
    profile.skill_specs = discover_skills(agent_dir / "skills")
    missing = [s for s in profile.skills if s not in profile.skill_specs]
    if missing:
        raise AgentProfileError(f"{md}: skills {', '.join(missing)} not found under {agent_dir / 'skills'}")
    return profile
