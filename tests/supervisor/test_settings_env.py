"""Every Settings field reaches a child: settings_env is derived from the model, and a real Gateway agrees.

The walk is generic over ``Settings.model_fields``: a field of a type the
walk does not know fails here, so a new setting cannot be forgotten.
"""

from __future__ import annotations

import datetime as dt
import os
import types
import typing
from pathlib import Path
from unittest import mock

import httpx
import pytest
from hypothesis import HealthCheck, given, settings as hsettings
from hypothesis import strategies as st

from backend.config import MEMORY_RE, TICKER_RE, TOKEN_FIELDS, Settings, settings_digest
from backend.control_plane.controller import RuntimeController, settings_env
from backend.control_plane.gateway_launchers.subprocess import SubprocessLauncher
from backend.supervisor.supervisor import ProcessSupervisor
from backend.security.tokens import registry_from_settings
from backend.storage.run_store import RunStore

ENV_TEXT = st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=30)
# Fields whose values are validated beyond their type.
SPECIAL: dict[str, st.SearchStrategy[typing.Any]] = {
    "agent_models": st.dictionaries(st.from_regex(r"[a-z][a-z0-9_]{0,20}", fullmatch=True), ENV_TEXT, max_size=3),
    "skill_sandbox_memory_limit": st.from_regex(MEMORY_RE, fullmatch=True),
    "tickers": st.lists(st.from_regex(TICKER_RE, fullmatch=True), min_size=1, max_size=5),
    "gateway_public_url": st.none() | st.builds(
        "{}://{}/{}".format, st.sampled_from(["ws", "wss"]),
        st.sampled_from(["gw.example.com", "{host}:{port}", "127.0.0.1:{port}"]),
        st.sampled_from(["", "{run_id}/", "runs/{run_id}/ws"])),
}


def _bounds(field: typing.Any) -> dict[str, float]:
    out: dict[str, float] = {}
    for meta in field.metadata:
        for name in ("ge", "gt", "le", "lt"):
            if getattr(meta, name, None) is not None:
                out[name] = getattr(meta, name)
    return out


def _strategy(annotation: typing.Any, field: typing.Any) -> st.SearchStrategy[typing.Any]:
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType) and type(None) in args:
        inner = [a for a in args if a is not type(None)]
        assert len(inner) == 1, annotation
        return st.none() | _strategy(inner[0], field)
    if origin is typing.Literal:
        return st.sampled_from(args)
    b = _bounds(field)
    if annotation is bool:
        return st.booleans()
    if annotation is int:
        return st.integers(int(b.get("ge", b.get("gt", -1) + 1)), int(b.get("le", 10**9)))
    if annotation is float:
        low, high = b.get("ge", b.get("gt", -1e9)), b.get("le", 1e9)
        return st.floats(low, high, allow_nan=False, exclude_min="gt" in b)
    if annotation is str:
        return ENV_TEXT
    if annotation is Path:
        return st.from_regex(r"/[a-z0-9_]{1,10}(/[a-z0-9_.]{1,10}){0,3}", fullmatch=True).map(Path)
    raise AssertionError(f"the settings walk does not know the type {annotation!r}: teach it (and settings_env)")


def _field_strategy(name: str) -> st.SearchStrategy[typing.Any]:
    field = Settings.model_fields[name]
    return SPECIAL[name] if name in SPECIAL else _strategy(field.annotation, field)


def _parsed_in_a_clean_environment(env: dict[str, str]) -> Settings:
    keep = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME")}
    with mock.patch.dict(os.environ, {**keep, **env}, clear=True):
        return Settings(_env_file=None)


@hsettings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.fixed_dictionaries({name: _field_strategy(name) for name in Settings.model_fields}))
def test_every_setting_survives_the_trip_through_the_environment(values):
    original = Settings(_env_file=None, **values)
    env = settings_env(original)
    child = _parsed_in_a_clean_environment(env)
    # Tokens are handed over by the registry, never with the settings (blanked here).
    assert child.model_dump(exclude=set(TOKEN_FIELDS)) == original.model_dump(exclude=set(TOKEN_FIELDS))
    assert all(getattr(child, f) is None for f in TOKEN_FIELDS)


def _non_default(name: str, tmp: Path) -> typing.Any:
    """A value different from the default that still lets a Gateway run a backtest."""
    field = Settings.model_fields[name]
    default = field.get_default(call_default_factory=True)
    chosen = {
        "runs_dir": tmp / "runs", "workspaces_dir": tmp / "ws", "skill_sandbox_mode": "process",
        "skill_sandbox_memory_limit": "384m", "tickers": ["AAPL", "NVDA"], "evotraders_host": "localhost",
        "evotraders_tokens_file": tmp / "no-such-tokens.json",
        "evotraders_admin_token": "admin-token-for-the-walk-0000",
        "evotraders_operator_token": "operator-token-for-the-walk-0", "evotraders_viewer_token": "viewer-token-walk-00000",
        "agent_models": {"technical_analyst": "walk-model"},
    }.get(name)
    if chosen is None:
        annotation = field.annotation
        args = typing.get_args(annotation)
        if typing.get_origin(annotation) is typing.Literal:
            chosen = next(a for a in args if a != default)
        elif annotation is bool:
            chosen = not default
        elif annotation in (int, float):
            b = _bounds(field)
            step = 1 if annotation is int else 0.5
            chosen = default + step if default + step <= b.get("le", float("inf")) else default - step
        elif name == "gateway_public_url":
            chosen = "ws://127.0.0.1:{port}/walk/{run_id}"
        elif type(None) in args or annotation is str:
            chosen = f"walk-{name.replace('_', '-')}" if not name.endswith("_url") else f"http://127.0.0.1:9/{name}"
        else:
            raise AssertionError(f"no non-default value for {name} ({annotation!r}): teach the walk")
    assert chosen != default, name
    return chosen


async def test_a_real_gateway_gets_every_setting(tmp_path):
    values = {name: _non_default(name, tmp_path) for name in Settings.model_fields}
    parent = Settings(_env_file=None, **values)
    for name in Settings.model_fields:  # the walk really changed every field
        assert getattr(parent, name) != Settings.model_fields[name].get_default(call_default_factory=True), name
    store = RunStore.from_settings(parent)
    run_id = store.create_run("default", run_id="walk", overrides={
        "start_date": dt.date(2025, 3, 3), "end_date": dt.date(2025, 3, 4), "tickers": ["AAPL"]})
    # The walk sets GATEWAY_LAUNCHER=docker for the child; this controller still spawns a subprocess.
    supervisor = ProcessSupervisor()
    controller = RuntimeController(parent, store, supervisor=supervisor, registry=registry_from_settings(parent),
                                   launcher=SubprocessLauncher(supervisor, public_url=parent.gateway_public_url))
    try:
        info = await controller.start_run(run_id, paused=True)
        assert info["url"] == f"ws://127.0.0.1:{info['port']}/walk/walk"  # the template, filled in
        async with httpx.AsyncClient(timeout=10) as client:
            health = (await client.get(f"http://127.0.0.1:{info['port']}/health")).json()
    finally:
        await controller.shutdown()
    assert health["sandbox_mode"] == "process"
    assert health["settings_digest"] == settings_digest(parent), _which_differ(parent)


def _which_differ(parent: Settings) -> str:
    """The fields a child parses differently (only computed for a failure message)."""
    child = _parsed_in_a_clean_environment(settings_env(parent))
    return ", ".join(f for f in Settings.model_fields
                     if f not in TOKEN_FIELDS and getattr(child, f) != getattr(parent, f)) or "none in-process"


@pytest.mark.parametrize("name", ["skill_sandbox_namespace", "skill_sandbox_kube_context",
                                  "skill_sandbox_service_account"])
def test_the_kubernetes_settings_the_old_map_forgot_are_handed_over(name, tmp_path):
    parent = Settings(_env_file=None, runs_dir=tmp_path, **{name: "team-b"})
    assert getattr(_parsed_in_a_clean_environment(settings_env(parent)), name) == "team-b"
