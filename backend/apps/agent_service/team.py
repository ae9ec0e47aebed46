"""What agent_service shows of workspaces and teams, read from their folders (no web framework here).

A workspace or a run is a folder with BOOTSTRAP.md (the roster) and
``agents/<id>/`` (AGENT.md persona, ``skills/``, and for runs
``memory.jsonl``). These functions turn them into the API models.
"""

from __future__ import annotations

from pathlib import Path

from backend.agents.memory import AgentMemory
from backend.agents.profile import AgentProfileError, load_profile
from backend.errors import NotFoundError
from backend.schema.api_agents import (
    AgentProfileView,
    AgentSummary,
    BootstrapIssue,
    BootstrapValidation,
    SkillInfo,
    WorkspaceDetail,
    WorkspaceSummary,
)
from backend.schema.bootstrap import BootstrapConfig
from backend.skills.spec import SkillSpecError
from backend.storage.bootstrap_file import BootstrapError, parse_bootstrap, read_bootstrap
from backend.storage.workspaces import WorkspaceStore

HIDDEN_PARTS = {"__pycache__", ".git"}
MEMORY_PREVIEW = 5


def validate_text(text: str) -> BootstrapValidation:
    """As-you-type validation of a BOOTSTRAP.md text."""
    try:
        config, _ = parse_bootstrap(text, "BOOTSTRAP.md")
    except BootstrapError as err:
        message = str(err).split(": ", 1)[1] if ": " in str(err) else str(err)
        if err.field:
            message = message.removeprefix(f"field '{err.field}': ")
        return BootstrapValidation(ok=False, error=BootstrapIssue(line=err.line, field=err.field, message=message))
    return BootstrapValidation(ok=True, config=config.model_dump(mode="json", exclude_none=True))


def team(folder: Path, config: BootstrapConfig) -> list[AgentSummary]:
    """The roster of a workspace or run, each with the skills its folder provides."""
    rows = []
    for spec in config.agents:
        profile = load_profile(folder / "agents" / spec.id, spec.id, spec.role)
        rows.append(AgentSummary(id=spec.id, role=spec.role, policy=spec.policy,
                                 model=spec.model or profile.model, provider=spec.provider,
                                 skills=profile.skills or sorted(profile.skill_specs)))
    return rows


def profile(folder: Path, config: BootstrapConfig, agent_id: str, memory: int | None = None) -> AgentProfileView:
    """One agent in full; with ``memory`` (runs), its latest reflections too."""
    try:
        spec = config.agent(agent_id)
    except KeyError:
        raise NotFoundError(f"no agent {agent_id!r} in the roster") from None
    agent_dir = folder / "agents" / spec.id
    loaded = load_profile(agent_dir, spec.id, spec.role)
    names = loaded.skills or sorted(loaded.skill_specs)
    skills = [SkillInfo(name=s.name, description=s.description, version=s.version, entry=s.entry,
                        input_schema=s.input_schema, output_schema=s.output_schema)
              for s in (loaded.skill_specs[n] for n in names)]
    view = AgentProfileView(id=spec.id, role=spec.role, policy=spec.policy, model=spec.model or loaded.model,
                            provider=spec.provider, persona=loaded.persona, skills=skills)
    if memory is not None:
        view.memory = AgentMemory(agent_dir / "memory.jsonl").recent(memory)
    return view


def files(folder: Path) -> list[str]:
    """Relative paths of every ordinary file of a workspace (no caches, no hidden files)."""
    out = []
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder)
        if path.is_file() and not any(p in HIDDEN_PARTS or p.startswith(".") for p in rel.parts) \
                and path.suffix != ".pyc":
            out.append(rel.as_posix())
    return out


def summary(store: WorkspaceStore, name: str) -> WorkspaceSummary:
    folder = store.require(name)
    try:
        config, _ = read_bootstrap(folder / "BOOTSTRAP.md")
    except BootstrapError as err:
        return WorkspaceSummary(name=name, error=str(err))
    return WorkspaceSummary(name=name, mode=config.mode, tickers=config.tickers,
                            start_date=config.start_date.isoformat(), end_date=config.end_date.isoformat(),
                            agents=[a.id for a in config.agents])


def detail(store: WorkspaceStore, name: str) -> WorkspaceDetail:
    folder = store.require(name)
    text = (folder / "BOOTSTRAP.md").read_text(encoding="utf-8", errors="replace")
    view = WorkspaceDetail(name=name, bootstrap=text, files=files(folder))
    try:
        config, _ = parse_bootstrap(text, f"workspaces/{name}/BOOTSTRAP.md")
    except BootstrapError as err:
        view.error = str(err)
        return view
    view.config = config.model_dump(mode="json", exclude_none=True)
    try:
        view.agents = team(folder, config)
    except (AgentProfileError, SkillSpecError) as err:
        view.error = str(err)
    return view


def workspace_config(store: WorkspaceStore, name: str) -> tuple[Path, BootstrapConfig]:
    folder = store.require(name)
    config, _ = read_bootstrap(folder / "BOOTSTRAP.md")
    return folder, config


def memory(agent_dir: Path, limit: int) -> list[dict]:
    """The agent's latest ``limit`` reflections, newest last."""
    return AgentMemory(agent_dir / "memory.jsonl").recent(limit)
