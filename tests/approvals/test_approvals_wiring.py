"""gateway.approvals_wiring: which gate a Gateway gets."""

from __future__ import annotations

import os

from backend.approvals.gate import HumanApprovalGate
from backend.config import load_settings
from backend.security.run_credentials import RUN_SECRET_ENV, RUN_TOKEN_ENV, run_token
from backend.security.tokens import Role, TokenRegistry, generate_registry
from gateway.approvals_wiring import make_gate


async def test_no_gate_for_mode_none_so_agent_service_is_never_needed(runs, tmp_path):
    runs.create_run("default", run_id="plain")
    settings = load_settings(runs_dir=tmp_path / "runs", agent_service_url="http://127.0.0.1:9")
    assert make_gate(runs, settings, "plain") is None


async def test_a_held_run_gets_a_gate_with_its_run_credential_never_a_role_token(runs, tmp_path, monkeypatch):
    settings = load_settings(runs_dir=tmp_path / "runs", agent_service_url="http://127.0.0.1:9/")
    registry = generate_registry()
    env = registry.gateway_env("r1")
    assert RUN_SECRET_ENV in env and env[RUN_SECRET_ENV] == ""   # the secret is blanked, never handed down
    monkeypatch.setenv(RUN_TOKEN_ENV, env[RUN_TOKEN_ENV])
    gate = make_gate(runs, settings, "r1")
    assert isinstance(gate, HumanApprovalGate) and callable(gate.gate) and gate.policy.mode == "all"
    assert gate.client.base_url == "http://127.0.0.1:9"
    assert gate.client._http.headers["Authorization"] == f"Bearer {run_token(registry.run_secret, 'r1')}"
    assert RUN_TOKEN_ENV not in os.environ  # taken out, so no skill process inherits it
    await gate.close()
    # Without a run credential the gate sends no role token either (only an open agent_service accepts it).
    gate = make_gate(runs, settings, "r1")
    assert "Authorization" not in gate.client._http.headers
    await gate.close()
    assert all(tok not in repr(registry) for tok in [*registry.tokens.values(), registry.run_secret])


def test_a_gateway_env_carries_its_own_run_token_only():
    registry = generate_registry()
    a, b = registry.gateway_env("a"), registry.gateway_env("b")
    assert a[RUN_TOKEN_ENV] != b[RUN_TOKEN_ENV]
    assert registry.run_secret not in {*a.values(), *b.values()}
    assert RUN_SECRET_ENV not in registry.as_env() and registry.run_secret not in registry.to_json()
    assert TokenRegistry({Role.admin: "a" * 24}).gateway_env("a").get(RUN_TOKEN_ENV) is None
    # A stack adds a secret to whatever it was configured with, and keeps the rest.
    configured = TokenRegistry({Role.admin: "a" * 24}, digests={Role.viewer: "0" * 64})
    with_secret = configured.with_run_secret()
    assert with_secret.run_secret and (with_secret.tokens, with_secret.digests) == (configured.tokens, configured.digests)
    assert with_secret.with_run_secret() is with_secret
