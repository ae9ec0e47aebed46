"""Which approval gate a Gateway uses.

A run whose BOOTSTRAP.md says ``approval.mode: none`` gets no gate (None):
the pipeline then approves every order itself and agent_service is never
contacted, so such runs work without it. Any other mode gets a
:class:`HumanApprovalGate` talking to ``AGENT_SERVICE_URL`` with the
operator token (or the admin token) this process was given.
"""

from __future__ import annotations

from typing import Any

from backend.approvals.client import ApprovalsClient
from backend.approvals.gate import HumanApprovalGate
from backend.security.tokens import Role

GATEWAY_USER = "gateway"


def make_gate(store: Any, settings: Any, run_id: str, registry: Any) -> HumanApprovalGate | None:
    """The gate for ``run_id``: ``.gate`` for the engine, ``.bind(engine)``, ``await .close()``."""
    config, _ = store.read_bootstrap(run_id)
    if config.approval.mode == "none":
        return None
    tokens = getattr(registry, "tokens", {}) or {}
    token = tokens.get(Role.operator) or tokens.get(Role.admin)
    client = ApprovalsClient(settings.agent_service_url, token=token, user=GATEWAY_USER)
    return HumanApprovalGate(client, run_id, config.approval)
