"""The operator's sandbox setting is a floor: which mode a run gets, and where the floor comes from."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from backend.config import load_settings
from backend.pipeline.engine import RunEngine
from backend.sandbox.settings_store import SandboxSettingsStore, operator_floor
from backend.schema.api_runtime import SandboxSettings
from backend.storage.event_log import read_events
from backend.sandbox.floor import STRENGTH, choose_sandbox
from backend.sandbox.factory import make_executor
from backend.sandbox.in_process import NoSandboxBackend
from sandbox_helpers import run_to_completion

MODES = ("none", "process", "docker", "kubernetes")


@given(requested=st.sampled_from((None, *MODES)), floor=st.sampled_from(MODES))
def test_a_run_never_gets_less_than_the_floor(requested, floor):
    chosen = choose_sandbox(requested, floor)
    assert STRENGTH[chosen.mode] >= STRENGTH[floor]
    assert chosen.floor == floor and chosen.requested == requested
    if requested is not None and STRENGTH[requested] > STRENGTH[floor]:
        assert (chosen.mode, chosen.reason) == (requested, "requested")
    else:
        # Nothing asked, the same, less, or the other container backend: the floor's own backend.
        assert chosen.mode == floor
    assert (chosen.reason == "raised_to_floor") == (requested is not None and STRENGTH[requested] < STRENGTH[floor])
    if chosen.reason == "raised_to_floor":
        assert requested in chosen.note and floor in chosen.note


def test_docker_and_kubernetes_are_equally_strong_and_the_floor_picks_the_backend():
    assert choose_sandbox("kubernetes", "docker").mode == "docker"
    assert choose_sandbox("docker", "kubernetes").mode == "kubernetes"
    assert choose_sandbox("kubernetes", "process").mode == "kubernetes"


def test_an_unknown_mode_is_refused_by_name():
    with pytest.raises(ValueError, match="chroot"):
        choose_sandbox("chroot", "none")  # type: ignore[arg-type]


def test_saved_settings_win_over_the_environment(tmp_path):
    settings = load_settings(runs_dir=tmp_path / "runs", skill_sandbox_mode="docker")
    assert operator_floor(settings) == ("docker", "environment")
    store = SandboxSettingsStore(settings)
    store.save(SandboxSettings(mode="process", timeout=7))
    assert operator_floor(settings) == ("process", "sandbox_settings")
    executor = make_executor(None, settings)
    assert executor.mode == "process" and executor.limits.timeout_s == 7  # the saved limits come along
    assert executor.sandbox is not None and executor.sandbox.floor_source == "sandbox_settings"
    store.path.write_text("{not json", encoding="utf-8")  # unreadable: back to the environment
    assert operator_floor(settings) == ("docker", "environment")


def test_the_default_workspace_and_schema_ask_for_nothing(tmp_path):
    from backend.storage.run_store import RunStore

    settings = load_settings(runs_dir=tmp_path / "runs", workspaces_dir=tmp_path / "ws")
    store = RunStore.from_settings(settings)
    run_id = store.create_run("default", run_id="plain")
    config, _ = store.read_bootstrap(run_id)
    assert config.sandbox_mode is None
    assert "sandbox_mode" not in (store.paths(run_id).root / "BOOTSTRAP.md").read_text(encoding="utf-8")


def _run(settings, run_id: str, sandbox_mode: str | None) -> tuple[RunEngine, list[dict]]:
    from backend.storage.run_store import RunStore

    store = RunStore.from_settings(settings)
    overrides = {"start_date": "2025-03-03", "end_date": "2025-03-05", "tickers": ["AAPL", "MSFT"],
                 "sandbox_mode": sandbox_mode}
    store.create_run("default", run_id=run_id, overrides=overrides)
    engine = RunEngine(store, run_id, settings, write_every_stage=False)
    run_to_completion(engine)
    return engine, read_events(engine.paths.events_log)


def test_a_run_asking_for_none_under_a_process_floor_runs_process_and_says_so(tmp_path):
    settings = load_settings(runs_dir=tmp_path / "runs", workspaces_dir=tmp_path / "ws", skill_sandbox_mode="process")
    engine, events = _run(settings, "asks-none", "none")
    system = [e["content"] for e in events if e["type"] == "system"]
    assert any(s.startswith("sandbox:") and "none" in s and "process" in s for s in system), system
    assert not any("SECURITY WARNING" in s for s in system), system
    runtime = json.loads(engine.paths.runtime_state.read_text(encoding="utf-8"))
    sandbox = runtime["sandbox"]
    assert (sandbox["mode"], sandbox["requested"], sandbox["reason"], sandbox["floor_source"]) == \
        ("process", "none", "raised_to_floor", "environment")
    assert set(sandbox["calls"]) == {"process"} and sandbox["calls"]["process"] > 0


def test_the_none_floor_still_warns_and_records_it(tmp_path, monkeypatch):
    monkeypatch.setattr(NoSandboxBackend, "_warned", False)  # it warns once per process (one Gateway, one run)
    settings = load_settings(runs_dir=tmp_path / "runs", workspaces_dir=tmp_path / "ws", skill_sandbox_mode="none")
    engine, events = _run(settings, "plain-none", None)
    assert any("SECURITY WARNING" in e.get("content", "") for e in events if e["type"] == "system")
    sandbox = json.loads(engine.paths.runtime_state.read_text(encoding="utf-8"))["sandbox"]
    assert (sandbox["mode"], sandbox["reason"]) == ("none", "floor") and set(sandbox["calls"]) == {"none"}
