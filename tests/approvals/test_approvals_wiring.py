"""gateway.approvals_wiring: which gate a Gateway gets."""

from __future__ import annotations

from backend.approvals.gate import HumanApprovalGate
from backend.config import load_settings
from backend.security.tokens import Role, TokenRegistry, generate_registry
from gateway.approvals_wiring import make_gate


async def test_no_gate_for_mode_none_so_agent_service_is_never_needed(runs, tmp_path):
    runs.create_run("default", run_id="plain")
    settings = load_settings(runs_dir=tmp_path / "runs", agent_service_url="http://127.0.0.1:9")
    assert make_gate(runs, settings, "plain", generate_registry()) is None


async def test_a_held_run_gets_a_gate_with_the_operator_token(runs, tmp_path):
    settings = load_settings(runs_dir=tmp_path / "runs", agent_service_url="http://127.0.0.1:9/")
    registry = generate_registry()
    gate = make_gate(runs, settings, "r1", registry)
    assert isinstance(gate, HumanApprovalGate) and callable(gate.gate) and gate.policy.mode == "all"
    assert gate.client.base_url == "http://127.0.0.1:9"
    assert gate.client._http.headers["Authorization"] == f"Bearer {registry.tokens[Role.operator]}"
    await gate.close()
    admin_only = TokenRegistry({Role.admin: "a" * 24, Role.viewer: "v" * 24})
    gate = make_gate(runs, settings, "r1", admin_only)
    assert gate.client._http.headers["Authorization"] == "Bearer " + "a" * 24
    await gate.close()
