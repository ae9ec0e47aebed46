"""WorkspacesModel without Qt: validation (service and offline fallback), run requests, run launching."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from app.models.workspaces_model import (
    BootstrapCheck, ControllerRunLauncher, RunRequest, WorkspacesModel, check_locally,
)
from backend.clients.http import ServiceClient
from backend.clients.services import AgentServiceClient
from backend.paths import DEFAULT_WORKSPACE_TEMPLATE

GOOD = (DEFAULT_WORKSPACE_TEMPLATE / "BOOTSTRAP.md").read_text(encoding="utf-8")


def bad_ticker_text() -> tuple[str, int]:
    """The default BOOTSTRAP.md with a lowercase ticker, and the line it is on."""
    lines = GOOD.splitlines()
    index = next(i for i, line in enumerate(lines) if line.startswith("tickers:"))
    lines[index] = "tickers: [AAPL, msft]"
    return "\n".join(lines) + "\n", index + 1


def test_local_check_points_at_the_line_and_field() -> None:
    text, line = bad_ticker_text()
    check = check_locally(text)
    assert check == BootstrapCheck(False, line, "tickers", "invalid ticker symbol(s): msft", "local")
    assert check.summary == f"line {line}: tickers: invalid ticker symbol(s): msft"
    assert check_locally(GOOD).ok
    assert check_locally("no front matter").line == 1


async def test_edits_are_validated_after_a_quiet_period_offline() -> None:
    # Nothing listens on the discard port: the model falls back to the local parser.
    http = ServiceClient("agent", "http://127.0.0.1:9")
    model = WorkspacesModel(AgentServiceClient(http), debounce=0.05)
    checks: list[BootstrapCheck] = []
    model.changed.connect(lambda kind, payload: checks.append(payload) if kind == "check" else None)
    text, line = bad_ticker_text()
    model.edit(GOOD)
    model.edit(text)  # supersedes the first edit before its quiet period ends
    check = await model.settled()
    assert checks == [check] and check.line == line and check.source == "local"
    assert model.dirty
    await http.aclose()


def test_run_request_is_validated_with_the_shared_schema() -> None:
    request = RunRequest("default", dt.date(2025, 1, 2), dt.date(2025, 1, 31), ["AAPL", "NVDA"], "backtest", 0.5,
                         "threshold", 10_000.0)
    assert request.create_body() == {
        "workspace": "default", "mode": "backtest", "tickers": ["AAPL", "NVDA"], "start_date": "2025-01-02",
        "end_date": "2025-01-31", "pace_seconds": 0.5,
        "approval": {"mode": "threshold", "notional_threshold": 10_000.0, "max_position_weight": 0.35,
                     "approve_new_shorts": True, "timeout_seconds": 300.0, "on_timeout": "reject",
                     "allow_quantity_change": True}}
    with pytest.raises(ValueError, match="end_date: 2025-01-01 is before start date 2025-01-02"):
        RunRequest("default", dt.date(2025, 1, 2), dt.date(2025, 1, 1)).create_body()
    with pytest.raises(ValueError, match="approval.mode"):
        RunRequest("default", approval="sometimes").create_body()


def test_workspace_names_are_checked_before_any_request() -> None:
    assert WorkspacesModel.name_problem("ok-name_1") is None
    assert "invalid workspace name '../x'" in WorkspacesModel.name_problem("../x")


async def test_start_run_with_the_embedded_controller_spawns_a_real_gateway(tmp_path: Any) -> None:
    from backend.config import load_settings
    from backend.control_plane.controller import RuntimeController

    settings = load_settings(runs_dir=tmp_path / "runs", workspaces_dir=tmp_path / "ws")
    controller = RuntimeController(settings)
    model = WorkspacesModel(None, ControllerRunLauncher(controller))
    started: list[Any] = []
    model.changed.connect(lambda kind, payload: started.append(payload) if kind == "started" else None)
    try:
        run_id = await model.start_run(RunRequest("default", dt.date(2025, 1, 2), dt.date(2025, 1, 10),
                                                  ["AAPL"], pace=0.5, approval="all", paused=True, run_id="w1"))
        assert run_id == "w1" and model.message == "run w1 started from default"
        (got_id, info), = started
        assert got_id == "w1" and info["status"] == "healthy" and info["url"].startswith("ws://127.0.0.1:")
        config, _ = controller.store.read_bootstrap("w1")
        assert config.tickers == ["AAPL"] and config.approval.mode == "all" and config.pace_seconds == 0.5
        # The same id again: a one-line refusal, no exception.
        assert await model.start_run(RunRequest("default", run_id="w1")) is None
        assert model.message.startswith("start failed:") and "already exists" in model.message
    finally:
        await controller.shutdown()
