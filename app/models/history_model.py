"""Run history: every run with its closing figures, one opened run, and run comparison (Qt-free).

Rows come from runtime_service ``GET /runs``; an opened run adds its state
(runtime_service) and trades (trading_service); comparing runs loads each
one's equity curve and metrics from trading_service. A run's BOOTSTRAP.md and
folder are read from disk when the runs directory is local (the app's own
stack): runtime_service does not serve the file.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ConfigDict

from app.models.event_input import as_event
from app.models.observable import ObservableModel
from backend.clients.http import ServiceError
from backend.clients.services import RuntimeServiceClient, TradingServiceClient
from backend.schema.api_runtime import RunSummary
from backend.schema.events import Event, RunStatus
from backend.trading.metrics import BASELINE_NAMES

TRADES_PAGE = 1000
REPLAY_PAGE_LINES = 2000  # lines per page of a run's events streamed from runtime_service
FINISHED = ("completed", "failed", "stopped")


class RunRow(RunSummary):
    """One run in the history table: runtime_service's ``RunSummary`` itself.

    Every field is the schema's (a field added there reaches the table
    unedited); the closing figures read from its ``metrics`` and are None
    until the run has them.
    """

    model_config = ConfigDict(frozen=True)

    @classmethod
    def from_api(cls, data: dict[str, Any]) -> "RunRow":
        return cls.model_validate(data)

    def _metric(self, name: str) -> Any:
        return (self.metrics or {}).get(name)

    @property
    def total_return(self) -> float | None:
        """Percent."""
        return self._metric("total_return_pct")

    @property
    def excess(self) -> dict[str, float | None]:
        """Percentage points over each baseline."""
        excess = self._metric("excess_return_pct") or {}
        return {name: excess.get(name) for name in BASELINE_NAMES}

    @property
    def drawdown(self) -> float | None:
        """Percent, positive."""
        return self._metric("max_drawdown_pct")

    @property
    def sharpe(self) -> float | None:
        return self._metric("sharpe")

    @property
    def trades(self) -> int | None:
        return self._metric("trades")

    @property
    def gateway_url(self) -> str | None:
        """Where the run's Gateway listens, while it has a live one."""
        gateway = self.gateway
        return gateway.url if gateway is not None and gateway.status not in ("stopped", "crashed") else None

    @property
    def finished(self) -> bool:
        return self.status in FINISHED


@dataclass
class RunDetail:
    """An opened run: its BOOTSTRAP.md (when readable), state files and trades."""

    run_id: str
    bootstrap: str | None = None
    runtime_state: dict[str, Any] | None = None
    server_state: dict[str, Any] | None = None
    trades: list[dict[str, Any]] = field(default_factory=list)
    trades_total: int = 0


@dataclass
class Comparison:
    """Runs side by side: equity curves ((epoch ms, value) pairs) and metrics per run."""

    curves: dict[str, list[tuple[int, float]]] = field(default_factory=dict)
    metrics: dict[str, dict[str, Any]] = field(default_factory=dict)

    @staticmethod
    def as_return(points: list[tuple[int, float]]) -> list[tuple[int, float]]:
        """The curve as percent return from its first value (runs of any size on one axis)."""
        if not points or points[0][1] == 0:
            return []
        first = points[0][1]
        return [(t, (v / first - 1.0) * 100.0) for t, v in points]


class HistoryModel(ObservableModel):
    """Every run of the runtime, one opened run and a comparison of several.

    Args:
        runtime: runtime_service client.
        trading: trading_service client.
        runs_dir: the runs folder when it is on this machine (local profile), else None.

    Listeners ``cb(kind, payload)`` are told ``runs`` (the table changed),
    ``opened`` (:class:`RunDetail` or None), ``compared`` (:class:`Comparison`),
    ``message`` (str).
    """

    def __init__(self, runtime: RuntimeServiceClient | None = None, trading: TradingServiceClient | None = None,
                 runs_dir: Path | None = None) -> None:
        self.runtime = runtime
        self.trading = trading
        self.runs_dir = Path(runs_dir) if runs_dir is not None else None
        self.runs: list[RunRow] = []
        self.opened: RunDetail | None = None
        self.comparison = Comparison()
        super().__init__()


    def row(self, run_id: str) -> RunRow | None:
        return next((r for r in self.runs if r.run_id == run_id), None)

    # -- the table ----------------------------------------------------------------
    async def refresh(self) -> bool:
        if self.runtime is None:
            return False
        try:
            rows = await self.runtime.list_runs()
        except ServiceError as err:
            self._say(f"cannot list runs: {err}")
            return False
        self._loaded()
        self.runs = sorted((RunRow.from_api(r) for r in rows if isinstance(r, dict) and r.get("run_id")),
                           key=lambda r: r.run_id, reverse=True)
        self._emit("runs")
        return True

    def apply_event(self, frame: Event | dict[str, Any]) -> None:
        """A ``run_status`` event updates its row's status at once (figures come with :meth:`refresh`)."""
        event = as_event(frame)
        if not isinstance(event, RunStatus) or not event.run_id:
            return
        for index, row in enumerate(self.runs):
            if row.run_id == event.run_id:
                changed = row.model_copy(update={"status": event.status or row.status,
                                                 "progress": event.progress or row.progress})
                if changed != row:
                    self.runs[index] = changed
                    self._emit("runs")
                return

    # -- one run ------------------------------------------------------------------
    def run_folder(self, run_id: str) -> Path | None:
        """The run's folder on this machine, if the runs directory is local and it exists."""
        if self.runs_dir is None:
            return None
        folder = self.runs_dir / run_id
        return folder if (folder / "BOOTSTRAP.md").is_file() else None

    async def open_run(self, run_id: str | None) -> RunDetail | None:
        if run_id is None:
            self.opened = None
            self._emit("opened", None)
            return None
        detail = RunDetail(run_id)
        folder = self.run_folder(run_id)
        if folder is not None:
            detail.bootstrap = (folder / "BOOTSTRAP.md").read_text(encoding="utf-8")
        problems = []
        if self.runtime is not None:
            try:
                state = await self.runtime.state(run_id)
                detail.runtime_state, detail.server_state = state.get("runtime_state"), state.get("server_state")
            except ServiceError as err:
                problems.append(f"state: {err}")
        if self.trading is not None:
            try:
                page = await self.trading.trades(run_id, limit=TRADES_PAGE)
                detail.trades, detail.trades_total = list(page.get("items") or []), int(page.get("total") or 0)
            except ServiceError as err:
                problems.append(f"trades: {err}")
        self.opened = detail
        self._emit("opened", detail)
        if problems:
            self._say(f"run {run_id} partly loaded ({'; '.join(problems)})")
        return detail

    # -- comparison ---------------------------------------------------------------
    async def compare(self, run_ids: list[str]) -> Comparison:
        """Load the equity curve and metrics of every run in ``run_ids`` (in that order)."""
        comparison = Comparison()
        if self.trading is None or not run_ids:
            self.show_comparison(comparison)
            return comparison
        results = await asyncio.gather(*(self._curve_and_metrics(r) for r in run_ids), return_exceptions=True)
        failed = []
        for run_id, result in zip(run_ids, results):
            if isinstance(result, ServiceError):
                failed.append(f"{run_id}: {result}")
                continue
            if isinstance(result, BaseException):
                raise result
            curve, metrics = result
            comparison.curves[run_id] = curve
            comparison.metrics[run_id] = metrics
        self.show_comparison(comparison)
        if failed:
            self._say("cannot compare " + "; ".join(failed))
        return comparison

    def show_comparison(self, comparison: Comparison) -> None:
        """Make ``comparison`` the one shown (also used for data obtained elsewhere)."""
        self.comparison = comparison
        self._emit("compared", comparison)

    async def _curve_and_metrics(self, run_id: str) -> tuple[list[tuple[int, float]], dict[str, Any]]:
        curves, metrics = await asyncio.gather(self.trading.curves(run_id), self.trading.metrics(run_id))  # type: ignore[union-attr]
        points = [(int(p["t"]), float(p["v"])) for p in curves.get("equity") or []]
        return points, dict(metrics or {})

    # -- replay -------------------------------------------------------------------
    def events_log(self, run_id: str) -> Path | None:
        """The run's ``logs/events.jsonl`` on this machine, else None."""
        folder = self.run_folder(run_id)
        path = folder / "logs" / "events.jsonl" if folder is not None else None
        return path if path is not None and path.is_file() else None

    def can_replay(self, run_id: str) -> bool:
        """A finished run whose events are on this machine or readable from runtime_service (a viewer may)."""
        row = self.row(run_id)
        return row is not None and row.finished and (self.events_log(run_id) is not None or self.runtime is not None)

    def replay_source(self, run_id: str) -> Path | AsyncIterator[bytes] | None:
        """What ``LiveModel.replay`` reads: the local ``events.jsonl``, else the run's lines streamed page by
        page from runtime_service (``GET /runs/{id}/events``, one page held at a time); None if neither."""
        path = self.events_log(run_id)
        if path is not None:
            return path
        if self.runtime is None:
            return None
        return self.runtime.event_lines(run_id, page_lines=REPLAY_PAGE_LINES)
