"""Workspaces: the list, the BOOTSTRAP.md editor with live validation, starting runs (Qt-free).

Validation asks agent_service (``POST /bootstrap/validate``) and falls back to
the same parser in-process (``backend.storage.bootstrap_file``) while the
service is unreachable, so the editor keeps pointing at bad lines offline.
Runs are started through a :class:`RunLauncher`: runtime_service over HTTP, or
the app's embedded ``RuntimeController`` for the local profile.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from pydantic import ConfigDict, ValidationError

from backend.clients.http import ServiceError
from backend.clients.services import AgentServiceClient, RuntimeServiceClient
from backend.schema.api_agents import BootstrapIssue, BootstrapValidation, WorkspaceDetail, WorkspaceSummary
from backend.schema.api_runtime import CreateRunRequest
from backend.storage.bootstrap_file import BootstrapError, parse_bootstrap
from backend.storage.ids import InvalidIdError, validate_workspace_name
from app.models.observable import ObservableModel

BOOTSTRAP = "BOOTSTRAP.md"


class WorkspaceRow(WorkspaceSummary):
    """One workspace in the list: agent_service's ``WorkspaceSummary`` itself."""

    model_config = ConfigDict(frozen=True)

    @classmethod
    def from_api(cls, data: dict[str, Any]) -> "WorkspaceRow":
        return cls.model_validate(data)


@dataclass(frozen=True)
class BootstrapCheck:
    """The outcome of validating BOOTSTRAP.md text; ``line`` is 1-based (None: the whole file)."""

    ok: bool
    line: int | None = None
    field: str | None = None
    message: str = ""
    source: Literal["service", "local"] = "service"

    @property
    def summary(self) -> str:
        if self.ok:
            return "valid"
        where = f"line {self.line}: " if self.line else ""
        what = f"{self.field}: " if self.field else ""
        return f"{where}{what}{self.message}"


def check_locally(text: str) -> BootstrapCheck:
    """Validate with the backend's own parser (no service needed)."""
    try:
        parse_bootstrap(text, BOOTSTRAP)
    except BootstrapError as err:
        # str(err) is "BOOTSTRAP.md:7: field 'x': message"; keep just the message.
        message = str(err)
        for prefix in (f"{BOOTSTRAP}:{err.line}: " if err.line else f"{BOOTSTRAP}: ",
                       f"field '{err.field}': " if err.field else ""):
            message = message.removeprefix(prefix)
        return BootstrapCheck(False, err.line, err.field, message, "local")
    return BootstrapCheck(True, source="local")


@dataclass
class RunRequest:
    """What the "start a run" form asks for."""

    workspace: str
    start_date: dt.date | None = None
    end_date: dt.date | None = None
    tickers: list[str] = field(default_factory=list)
    mode: str = "backtest"
    pace: float | None = None
    approval: str = "none"  # none / all / threshold
    notional_threshold: float | None = None
    run_id: str | None = None
    paused: bool = False

    def create_body(self) -> dict[str, Any]:
        """The validated ``POST /runs`` body (raises ValueError with one line naming the field)."""
        approval: dict[str, Any] = {"mode": self.approval}
        if self.notional_threshold is not None:
            approval["notional_threshold"] = self.notional_threshold
        try:
            body = CreateRunRequest(workspace=self.workspace, run_id=self.run_id or None, mode=self.mode,
                                    tickers=self.tickers or None, start_date=self.start_date,
                                    end_date=self.end_date, pace_seconds=self.pace, approval=approval)
        except ValidationError as err:
            first = err.errors()[0]
            where = ".".join(str(p) for p in first.get("loc", ())) or "request"
            raise ValueError(f"{where}: {first.get('msg', 'invalid value')}") from None
        if body.start_date and body.end_date and body.end_date < body.start_date:
            raise ValueError(f"end_date: {body.end_date} is before start date {body.start_date}")
        return body.model_dump(mode="json", exclude_none=True)


class RunLauncher(Protocol):
    """Creates and starts runs; returns the Gateway info (``url``, ``status``, ...)."""

    async def launch(self, body: dict[str, Any], *, paused: bool, pace: float | None) -> tuple[str, dict[str, Any]]: ...


class HttpRunLauncher:
    """Starts runs through runtime_service (``POST /runs`` then ``/runs/{id}/start``)."""

    def __init__(self, runtime: RuntimeServiceClient) -> None:
        self.runtime = runtime

    async def launch(self, body: dict[str, Any], *, paused: bool, pace: float | None) -> tuple[str, dict[str, Any]]:
        run_id = await self.runtime.create_run(body)
        return run_id, await self.runtime.start_run(run_id, paused=paused, pace=pace)


class ControllerRunLauncher:
    """Starts runs with an in-process ``RuntimeController`` (the local profile's own)."""

    def __init__(self, controller: Any) -> None:
        self.controller = controller

    async def launch(self, body: dict[str, Any], *, paused: bool, pace: float | None) -> tuple[str, dict[str, Any]]:
        # The same mapping runtime_service applies to a POST /runs body.
        overrides = {k: v for k, v in body.items() if k not in ("workspace", "run_id", "seed")}
        if "seed" in body:
            overrides["market"] = {"kind": "synthetic", "seed": body["seed"]}
        run_id = self.controller.create_run(body.get("workspace", "default"), run_id=body.get("run_id"),
                                            overrides=overrides)
        return run_id, await self.controller.start_run(run_id, paused=paused, pace=pace)


class WorkspacesModel(ObservableModel):
    """The workspace list, the selected workspace's BOOTSTRAP.md, and run starts.

    Args:
        agent: agent_service client (None: offline, local validation only).
        launcher: how runs are started (None: starting is unavailable).
        debounce: seconds of quiet typing before text is validated.

    Listeners ``cb(kind, payload)`` are told ``list`` (workspaces changed),
    ``selected`` (another workspace / its text loaded), ``check``
    (:class:`BootstrapCheck`), ``dirty`` (bool), ``message`` (str: one-line
    outcome or error), ``started`` ((run_id, gateway info)).
    """

    def __init__(self, agent: AgentServiceClient | None = None, launcher: RunLauncher | None = None,
                 debounce: float = 0.3) -> None:
        self.agent = agent
        self.launcher = launcher
        self.debounce = debounce
        self.workspaces: list[WorkspaceRow] = []
        self.selected: str | None = None
        self.detail: WorkspaceDetail | None = None
        self.saved_text = ""
        self.text = ""
        self.check: BootstrapCheck | None = None
        self._pending: asyncio.Task[BootstrapCheck] | None = None
        super().__init__()


    @property
    def dirty(self) -> bool:
        return self.text != self.saved_text

    @property
    def row(self) -> WorkspaceRow | None:
        return next((w for w in self.workspaces if w.name == self.selected), None)

    # -- list ---------------------------------------------------------------------
    async def refresh(self) -> bool:
        if self.agent is None:
            return False
        try:
            rows = await self.agent.list_workspaces()
        except ServiceError as err:
            self._say(f"cannot list workspaces: {err}")
            return False
        self._loaded()
        self.workspaces = [WorkspaceRow.from_api(r) for r in rows]
        self._emit("list")
        if self.selected is not None and self.row is None:
            self.selected, self.detail, self.text, self.saved_text = None, None, "", ""
            self._emit("selected", None)
        return True

    async def select(self, name: str | None) -> None:
        """Load a workspace's BOOTSTRAP.md into the editor (unsaved edits are dropped)."""
        self.selected = name
        self.detail, self.text, self.saved_text, self.check = None, "", "", None
        if name is not None and self.agent is not None:
            try:
                self.detail = WorkspaceDetail.model_validate(await self.agent.get_workspace(name))
            except ServiceError as err:
                self._say(f"cannot open workspace {name}: {err}")
            self.text = self.saved_text = self.detail.bootstrap if self.detail is not None else ""
        self._emit("selected", name)
        self._emit("dirty", False)
        if self.text:
            self.check = await self.validate(self.text)
            self._emit("check", self.check)

    @staticmethod
    def name_problem(name: str) -> str | None:
        """Why ``name`` cannot be a workspace name (None if it can)."""
        try:
            validate_workspace_name(name)
        except InvalidIdError as err:
            return str(err)
        return None

    async def _mutate(self, what: str, call: Callable[[AgentServiceClient], Any], select: str | None) -> bool:
        if self.agent is None:
            self._say(f"{what} failed: agent service not connected")
            return False
        try:
            await call(self.agent)
        except ServiceError as err:
            self._say(f"{what} failed: {err.detail or err}")
            return False
        self._say(f"{what}: done")
        await self.refresh()
        if select is not None or self.row is None:
            await self.select(select)
        return True

    async def create(self, name: str, source: str = "default") -> bool:
        if (problem := self.name_problem(name)) is not None:
            self._say(problem)
            return False
        return await self._mutate(f"create {name}", lambda a: a.create_workspace(name, source), name)

    async def duplicate(self, name: str, new_name: str) -> bool:
        if (problem := self.name_problem(new_name)) is not None:
            self._say(problem)
            return False
        return await self._mutate(f"duplicate {name} as {new_name}",
                                  lambda a: a.duplicate_workspace(name, new_name), new_name)

    async def rename(self, name: str, new_name: str) -> bool:
        if (problem := self.name_problem(new_name)) is not None:
            self._say(problem)
            return False
        return await self._mutate(f"rename {name} to {new_name}", lambda a: a.rename_workspace(name, new_name),
                                  new_name)

    async def delete(self, name: str) -> bool:
        return await self._mutate(f"delete {name}", lambda a: a.delete_workspace(name), None)

    # -- editor -------------------------------------------------------------------
    def edit(self, text: str) -> None:
        """The editor's text changed: validate it after :attr:`debounce` seconds of quiet."""
        was_dirty = self.dirty
        self.text = text
        if self.dirty != was_dirty:
            self._emit("dirty", self.dirty)
        if self._pending is not None and not self._pending.done():
            self._pending.cancel()
        # get_event_loop: Qt slots run outside a coroutine, on the (qasync) loop set for this thread.
        self._pending = asyncio.get_event_loop().create_task(self._validate_later(text))

    async def _validate_later(self, text: str) -> BootstrapCheck:
        await asyncio.sleep(self.debounce)
        check = await self.validate(text)
        if text == self.text:  # a newer edit supersedes this answer
            self.check = check
            self._emit("check", check)
        return check

    async def settled(self) -> BootstrapCheck | None:
        """Wait for the pending validation, if any (tests and save)."""
        if self._pending is not None:
            try:
                await self._pending
            except asyncio.CancelledError:
                pass
        return self.check

    async def validate(self, text: str) -> BootstrapCheck:
        """agent_service's verdict, or the local parser's when the service cannot be reached."""
        if self.agent is not None:
            try:
                answer = await self.agent.validate_bootstrap(text)
            except ServiceError as err:
                if not err.unreachable:
                    return BootstrapCheck(False, None, None, f"validation refused: {err}", "service")
            else:
                verdict = BootstrapValidation.model_validate(answer)
                error = verdict.error or BootstrapIssue(message="")
                return BootstrapCheck(verdict.ok, error.line, error.field, error.message, "service")
        return check_locally(text)

    async def save(self) -> bool:
        """Write the edited BOOTSTRAP.md (refused locally first when invalid)."""
        if self.selected is None or self.agent is None:
            return False
        text = self.text
        check = await self.validate(text)
        self.check = check
        self._emit("check", check)
        if not check.ok:
            self._say(f"not saved: {check.summary}")
            return False
        try:
            await self.agent.write_file(self.selected, BOOTSTRAP, text)
        except ServiceError as err:
            self._say(f"save failed: {err.detail or err}")
            return False
        self.saved_text = text
        self._emit("dirty", self.dirty)
        self._say(f"saved {self.selected}/{BOOTSTRAP}")
        return True

    def revert(self) -> None:
        self.text = self.saved_text
        self._emit("selected", self.selected)
        self._emit("dirty", False)

    # -- runs ---------------------------------------------------------------------
    async def start_run(self, request: RunRequest) -> str | None:
        """Create and start a run; returns its id (None, with a message, on failure)."""
        if self.launcher is None:
            self._say("no runtime to start runs on")
            return None
        try:
            body = request.create_body()
        except ValueError as err:
            self._say(f"cannot start: {err}")
            return None
        try:
            run_id, info = await self.launcher.launch(body, paused=request.paused, pace=request.pace)
        except ServiceError as err:
            self._say(f"start failed: {err.detail or err}")
            return None
        except Exception as err:  # noqa: BLE001 - the embedded controller raises domain errors
            self._say(f"start failed: {err}")
            return None
        self._say(f"run {run_id} started from {request.workspace}")
        self._emit("started", (run_id, info))
        return run_id
