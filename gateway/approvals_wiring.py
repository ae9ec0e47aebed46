"""Which approval gate a Gateway uses.

A run whose BOOTSTRAP.md says ``approval.mode: none`` gets no gate (None):
the pipeline then approves every order itself and agent_service is never
contacted, so such runs work without it. Any other mode gets a
:class:`HumanApprovalGate` talking to ``AGENT_SERVICE_URL`` with this run's
own credential (``EVOTRADERS_RUN_TOKEN``, handed over by whoever spawned the
Gateway). Human tokens cannot file approvals, so none is used here; without
a run credential the gate files unauthenticated, which only an open
(loopback, tokenless) agent_service accepts.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from backend.approvals.client import ApprovalsClient
from backend.approvals.gate import HumanApprovalGate
from backend.security.run_credentials import take_run_token

if TYPE_CHECKING:
    from backend.config import Settings
    from backend.storage.run_store import RunStore

GATEWAY_USER = "gateway"


def make_gate(store: RunStore, settings: Settings, run_id: str,
              run_token: str | None = None) -> HumanApprovalGate | None:
    """The gate for ``run_id``: ``.gate`` for the engine, ``.bind(engine)``, ``await .close()``.

    No role token is involved (none can file). ``run_token`` defaults to the
    one in this process's environment, which is
    then removed from it (so no skill process inherits it).
    """
    token = run_token if run_token is not None else take_run_token()
    config, _ = store.read_bootstrap(run_id)
    if config.approval.mode == "none":
        return None
    client = ApprovalsClient(settings.agent_service_url, token=token, user=GATEWAY_USER)
    return HumanApprovalGate(client, run_id, config.approval)
