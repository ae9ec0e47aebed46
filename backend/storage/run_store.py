"""``runs/<run_id>/``: the source of truth of every run.

Layout of one run::

    BOOTSTRAP.md                 front matter (BootstrapConfig) + run prompt
    agents/<agent_id>/           AGENT.md, skills/<skill>/, memory.jsonl
    state/runtime_state.json     status, current date, progress, stage, gateway pid
    state/server_state.json      backend.schema.state.ServerStateFile: portfolio, holdings, trades, ...
    state/trades.jsonl           every executed trade, one per line
    team_dashboard/*.json        compatibility exports (optional)
    logs/events.jsonl            every emitted event; logs/<process>.log

A run is created from a workspace template into a temporary folder that is
renamed into place, so a failed creation leaves nothing behind.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from pydantic import ValidationError

from backend.errors import ConflictError, NotFoundError
from backend.schema.bootstrap import BootstrapConfig
from backend.schema.state import ServerStateFile
from backend.storage.atomic import atomic_write_text
from backend.storage.bootstrap_file import parse_bootstrap, read_bootstrap, render_bootstrap
from backend.storage.ids import new_run_id, validate_run_id
from backend.storage.jsonl import read_jsonl
from backend.storage.run_index import RunIndex
from backend.storage.workspaces import WorkspaceStore

if TYPE_CHECKING:
    from backend.config import Settings


@dataclass(frozen=True)
class RunPaths:
    """Every well-known path of one run."""

    root: Path

    @property
    def bootstrap(self) -> Path:
        return self.root / "BOOTSTRAP.md"

    @property
    def agents_dir(self) -> Path:
        return self.root / "agents"

    def agent_dir(self, agent_id: str) -> Path:
        return self.agents_dir / agent_id

    @property
    def state_dir(self) -> Path:
        return self.root / "state"

    @property
    def runtime_state(self) -> Path:
        return self.state_dir / "runtime_state.json"

    @property
    def server_state(self) -> Path:
        return self.state_dir / "server_state.json"

    @property
    def trades(self) -> Path:
        return self.state_dir / "trades.jsonl"

    @property
    def dashboard_dir(self) -> Path:
        return self.root / "team_dashboard"

    @property
    def logs_dir(self) -> Path:
        return self.root / "logs"

    @property
    def events_log(self) -> Path:
        return self.logs_dir / "events.jsonl"


def parse_server_state(data: dict[str, Any], source: str) -> ServerStateFile:
    """Validate a parsed ``server_state.json``; a bad one is a ConflictError naming ``source`` and the field."""
    try:
        return ServerStateFile.model_validate(data)
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "(top level)"
        raise ConflictError(f"{source} has an unexpected shape ({where}: {first['msg']})") from None


def _read_json_or_none(path: Path) -> dict[str, Any] | None:
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except (FileNotFoundError, json.JSONDecodeError):
        return None
    return data if isinstance(data, dict) else None


class RunStore:
    """Lists, reads and creates runs under ``runs_dir``.

    Args:
        runs_dir: the ``RUNS_DIR`` root.
        workspaces: the workspace registry runs are created from.
    """

    def __init__(self, runs_dir: Path, workspaces: WorkspaceStore) -> None:
        self.runs_dir = Path(runs_dir)
        self.workspaces = workspaces
        self._index: RunIndex | None = None
        self._paths: dict[str, RunPaths] = {}

    @classmethod
    def from_settings(cls, settings: Settings) -> "RunStore":
        return cls(Path(settings.runs_dir), WorkspaceStore(Path(settings.workspaces_dir)))

    def paths(self, run_id: str) -> RunPaths:
        """Paths of a run (the id is validated; the run need not exist)."""
        paths = self._paths.get(run_id)
        if paths is None:  # validated and joined once per id (listing 1,000 runs asks for each one's paths)
            paths = RunPaths(self.runs_dir / validate_run_id(run_id))
            if len(self._paths) >= 50_000:
                self._paths.clear()
            self._paths[run_id] = paths
        return paths

    def exists(self, run_id: str) -> bool:
        return self.paths(run_id).bootstrap.is_file()

    def require(self, run_id: str) -> RunPaths:
        paths = self.paths(run_id)
        if not paths.bootstrap.is_file():
            raise NotFoundError(f"unknown run {run_id!r}")
        return paths

    def run_ids(self) -> list[str]:
        """Ids of every run folder with a BOOTSTRAP.md, newest (sorted last) first."""
        if not self.runs_dir.is_dir():
            return []
        ids = [p.name for p in self.runs_dir.iterdir() if p.is_dir() and (p / "BOOTSTRAP.md").is_file()]
        return sorted(ids, reverse=True)

    def read_bootstrap(self, run_id: str) -> tuple[BootstrapConfig, str]:
        return read_bootstrap(self.require(run_id).bootstrap)

    def read_runtime_state(self, run_id: str) -> dict[str, Any] | None:
        return _read_json_or_none(self.require(run_id).runtime_state)

    def read_server_state(self, run_id: str) -> dict[str, Any] | None:
        """``state/server_state.json`` as parsed JSON (None before the first snapshot)."""
        return _read_json_or_none(self.require(run_id).server_state)

    def load_server_state(self, run_id: str) -> ServerStateFile | None:
        """``state/server_state.json`` as the schema's model (None before the first snapshot).

        Raises:
            ConflictError: the file is JSON but not a server state, naming the first bad field.
        """
        path = self.require(run_id).server_state
        data = _read_json_or_none(path)
        return None if data is None else parse_server_state(data, f"run {run_id!r}: {path.name}")

    def read_trades(self, run_id: str) -> list[dict[str, Any]]:
        # A corrupt line (an older writer's) is skipped and logged, a torn tail skipped.
        return read_jsonl(self.require(run_id).trades, "trades")[0]

    def create_run(self, workspace: str = "default", run_id: str | None = None,
                   overrides: dict[str, Any] | None = None) -> str:
        """Create ``runs/<run_id>/`` from a workspace; returns the run id.

        ``overrides`` are front-matter fields (tickers, start_date, ...) applied
        on top of the workspace's BOOTSTRAP.md and validated together.
        """
        run_id = validate_run_id(run_id) if run_id else new_run_id()
        target = self.paths(run_id).root
        if target.exists():
            raise ConflictError(f"run {run_id!r} already exists")
        source = self.workspaces.require(workspace)
        config, body = read_bootstrap(source / "BOOTSTRAP.md")
        data = config.model_dump(mode="json", exclude_none=True)
        data.update({k: v for k, v in (overrides or {}).items() if v is not None})
        data["run_id"] = run_id
        # Validate through the same parser that reads it back, so a bad
        # override is reported with the field (and line) it would have.
        draft = "---\n" + yaml.safe_dump(data, sort_keys=False) + "---\n"
        config, _ = parse_bootstrap(draft, f"{target}/BOOTSTRAP.md")
        text = render_bootstrap(config, body)
        self.runs_dir.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{run_id}.", dir=self.runs_dir))
        try:
            if (source / "agents").is_dir():
                shutil.copytree(source / "agents", staging / "agents",
                                ignore=shutil.ignore_patterns("__pycache__", "memory.jsonl"))
            for sub in ("state", "logs"):
                (staging / sub).mkdir()
            atomic_write_text(staging / "BOOTSTRAP.md", text)
            staging.rename(target)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        return run_id

    @property
    def index(self) -> RunIndex:
        """The history rows of every run, rebuilt per run only when its files change (see ``run_index``)."""
        if self._index is None:
            self._index = RunIndex(self.runs_dir)
        return self._index

    def summary(self, run_id: str) -> dict[str, Any]:
        """One row of run history: mode, dates, status, progress and final metrics (``run_index.build_row``)."""
        self.require(run_id)
        row = self.index.row(run_id)
        if row is None:  # removed between the check and the read
            raise NotFoundError(f"unknown run {run_id!r}")
        return row

    def list_runs(self) -> list[dict[str, Any]]:
        """Every run's history row, newest run id first, without reading an unchanged run's files."""
        return self.index.rows()


def utc_now_iso() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
