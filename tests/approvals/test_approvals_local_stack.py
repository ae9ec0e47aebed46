"""The local stack hands the run credential down: ``evotraders stack up`` (runtime_service a
subprocess) and the desk (runtime_service embedded). A held run's Gateway, spawned through
runtime_service, files its approvals; an operator decides them; the run trades."""

from __future__ import annotations

import httpx
import pytest

from backend.approvals.client import ApprovalsClient
from backend.config import load_settings
from backend.stack.local_stack import LocalStack
from backend.security.run_credentials import RUN_SECRET_ENV
from backend.security.tokens import Role
from tests.approvals.stack import DAY, TICKERS, collect_until, connect, is_done, positions

pytestmark = pytest.mark.slow


def test_only_the_services_that_need_it_get_the_run_secret(tmp_path):
    stack = LocalStack(load_settings(runs_dir=tmp_path / "runs", workspaces_dir=tmp_path / "ws"),
                       state_dir=tmp_path / ".stack", ports={"agent": 0, "trading": 0, "news": 0, "runtime": 0})
    secret = stack.tokens.run_secret
    assert secret and len(secret) >= 32
    assert {name: stack.child_env(name)[RUN_SECRET_ENV] for name in ("agent", "runtime", "trading", "news")} == \
        {"agent": secret, "runtime": secret, "trading": "", "news": ""}


@pytest.mark.parametrize("embed_runtime", [True, False], ids=["desk", "stack-up"])
async def test_a_held_run_started_through_the_stack_files_with_its_own_credential(tmp_path, embed_runtime):
    settings = load_settings(runs_dir=tmp_path / "runs", workspaces_dir=tmp_path / "ws", skill_sandbox_mode="none")
    stack = LocalStack(settings, state_dir=tmp_path / ".stack", embed_runtime=embed_runtime,
                       ports={"agent": 0, "trading": 0, "news": 0, "runtime": 0})
    admin = {"Authorization": f"Bearer {stack.tokens.tokens[Role.admin]}"}
    try:
        await stack.up()
        async with httpx.AsyncClient(base_url=stack.urls["runtime"], headers=admin, timeout=60) as http, \
                ApprovalsClient(stack.urls["agent"], token=stack.tokens.tokens[Role.operator], user="Ann") as op:
            created = await http.post("/runs", json={"workspace": "default", "start_date": DAY, "end_date": DAY,
                                                     "tickers": TICKERS.split(","), "approval": {"mode": "all"}})
            run_id = created.raise_for_status().json()["run_id"]
            stream = op.changes(run_id=run_id)
            gateway = (await http.post(f"/runs/{run_id}/start", json={})).raise_for_status().json()
            filed = [await anext(stream) for _ in range(3)]
            await stream.aclose()
            assert {c.approval.filed_by for c in filed} == {"gateway"}
            async with await connect(f"{gateway['url']}?token={stack.tokens.tokens[Role.viewer]}") as ws:
                for change in filed:
                    await op.decide(change.approval.id, "approve" if change.approval.ticker == "MSFT" else "reject")
                frames = await collect_until(ws, is_done)  # the run ends once the decisions reach its Gateway
    finally:
        await stack.down()
    assert frames[-1]["status"] == "completed"
    assert positions(tmp_path / "runs" / run_id) == {"MSFT": 23}
