"""EvoAgent: one agent abstraction for all six roles.

An agent is its roster entry (id, role, policy, model), its profile from
AGENT.md (persona, skills), its memory (memory.jsonl) and its adaptive state:
feature weights for analysts, trust in each analyst for the portfolio
manager. The role behaviour itself lives in ``backend/agents/rules/`` (and
``llm_policy`` for the `llm` policy); the pipeline calls it for each agent.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from backend.agents.memory import AgentMemory
from backend.agents.profile import AgentProfile, load_profile
from backend.schema.bootstrap import ANALYST_ROLES, AgentSpec
from backend.skills.spec import SkillSpec

DEFAULT_FEATURE_WEIGHT = 1.0


@dataclass
class EvoAgent:
    """One team member.

    Args:
        spec: the roster entry from BOOTSTRAP.md.
        profile: AGENT.md and the skills found in the agent's folder.
        memory: the agent's reflections.
    """

    spec: AgentSpec
    profile: AgentProfile
    memory: AgentMemory
    weights: dict[str, float] = field(default_factory=dict)
    trust: dict[str, float] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return self.spec.id

    @property
    def role(self) -> str:
        return self.spec.role

    @property
    def policy(self) -> str:
        return self.spec.policy

    @property
    def is_analyst(self) -> bool:
        return self.spec.role in ANALYST_ROLES

    @property
    def primary_skill(self) -> SkillSpec | None:
        names = self.profile.skills or list(self.profile.skill_specs)
        return self.profile.skill(names[0]) if names else None

    def state_dict(self) -> dict[str, Any]:
        return {"weights": dict(self.weights), "trust": dict(self.trust)}

    def load_state(self, data: dict[str, Any]) -> None:
        self.weights = dict(data.get("weights", {}))
        self.trust = dict(data.get("trust", {}))


def load_team(agents_dir: Path, roster: list[AgentSpec]) -> list[EvoAgent]:
    """Build every agent of the roster from its folder under ``agents_dir``."""
    team = []
    for spec in roster:
        folder = agents_dir / spec.id
        profile = load_profile(folder, spec.id, spec.role)
        team.append(EvoAgent(spec=spec, profile=profile, memory=AgentMemory(folder / "memory.jsonl")))
    return team
