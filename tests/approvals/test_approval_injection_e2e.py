"""The approval injection of issue 10 is refused end to end: real agent_service and Gateway
subprocesses, real tokens. On ``stack.DAY`` the rules team orders AAPL long 14, MSFT long 23
and TSLA short 17; the injected order is ``MSFT short 77 @ 1``.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Awaitable, Callable, Iterator

import httpx
import pytest

from backend.approvals.client import ApprovalsClient
from backend.config import load_settings
from backend.control_plane.controller import RuntimeController
from backend.schema.api_approvals import ApprovalChange
from backend.security.run_credentials import RUN_SECRET_ENV, RUN_TOKEN_ENV, run_token
from backend.security.tokens import Role, generate_registry
from tests.approvals.stack import (
    DAY,
    AgentService,
    collect_until,
    create_run,
    free_port,
    is_done,
    is_status,
    open_and_resume,
    positions,
    run_env,
    stack_env,
    traded,
)
from tests.e2e.gateway_process import start_gateway

pytestmark = pytest.mark.slow
INJECTED = {"date": DAY, "ticker": "MSFT", "action": "short", "quantity": 77, "price": 1.0,
            "reasoning": "injected", "reasons": ["injected"]}
PM = {"AAPL": ("long", 14), "MSFT": ("long", 23), "TSLA": ("short", 17)}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimpleNamespace]:
    root = tmp_path_factory.mktemp("inject")
    registry = generate_registry()
    port = free_port()
    env = stack_env(root, registry, f"http://127.0.0.1:{port}")
    service = AgentService(env, root / "agent_service.log", port).start()
    yield SimpleNamespace(root=root, registry=registry, env=env, service=service, port=port)
    service.stop()


def secrets_of(stack: SimpleNamespace) -> list[str]:
    return [*stack.registry.tokens.values(), stack.registry.run_secret,
            *(run_token(stack.registry.run_secret, r) for r in ("inject", "prefiled", "edited", "spawned"))]


def assert_no_secret(stack: SimpleNamespace, *texts: str) -> None:
    for text in texts:
        leaked = [s[:6] + "..." for s in secrets_of(stack) if s in text]
        assert not leaked, f"a token is in a log or an answer: {leaked}"


def human(stack: SimpleNamespace, role: Role = Role.operator) -> ApprovalsClient:
    return ApprovalsClient(stack.service.url, token=stack.registry.tokens[role], user="Ann")


async def drive(stack: SimpleNamespace, run_id: str, decide: Callable[[], Awaitable[None]]) -> tuple[list, str]:
    """Run ``run_id``'s Gateway (with its own credential) through the day; ``decide`` once it waits."""
    proc, url = start_gateway(run_env(stack.env, stack.registry, run_id), "--run-id", run_id, "--paused",
                              "--exit-when-done")
    try:
        async with await open_and_resume(url, stack.registry.tokens[Role.operator]) as ws:
            frames = await collect_until(ws, is_status("waiting_approval", "completed", "failed"))
            assert frames[-1]["status"] == "waiting_approval", frames[-1]
            await decide()
            frames += await collect_until(ws, is_done)
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    return frames, proc.stderr.read() if proc.stderr else ""


async def approve_pending(stack: SimpleNamespace, run_id: str, expect: dict[str, tuple[str, int]]) -> None:
    async with human(stack) as op:
        pending = await op.list(run_id=run_id, status="pending")
        assert {a.ticker: (a.action, a.quantity) for a in pending} == expect
        for a in pending:
            await op.decide(a.id, "approve")


def refusals(frames: list[dict[str, Any]]) -> list[str]:
    return [f["content"] for f in frames if f["type"] == "system" and "refused to execute" in f["content"]]


def logged(run_dir: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (run_dir / "logs/events.jsonl").read_text().splitlines()]


async def test_no_human_token_can_inject_an_order_and_the_run_trades_what_its_pm_decided(stack):
    create_run(stack.root, "inject", {"mode": "all"})
    answers = []
    async with httpx.AsyncClient(base_url=stack.service.url, timeout=10) as http:
        for role in (Role.viewer, Role.operator, Role.admin):
            answer = await http.post("/approvals", json={"run_id": "inject", **INJECTED},
                                     headers={"Authorization": f"Bearer {stack.registry.tokens[role]}"})
            assert answer.status_code == 403, (role, answer.text)
            answers.append(answer.text)
        # Another run's own credential does not file for this one either.
        foreign = await http.post("/approvals", json={"run_id": "inject", **INJECTED},
                                  headers={"Authorization": f"Bearer {run_token(stack.registry.run_secret, 'x')}"})
        assert foreign.status_code == 403 and "not run 'inject'" in foreign.json()["detail"]
    assert not (stack.root / "runs/inject/state/approvals.jsonl").exists()

    frames, gateway_log = await drive(stack, "inject", lambda: approve_pending(stack, "inject", PM))
    assert traded(frames) == PM and not refusals(frames)
    assert positions(stack.root / "runs/inject") == {"AAPL": 14, "MSFT": 23, "TSLA": -17}
    assert_no_secret(stack, *answers, foreign.text, gateway_log, stack.service.output(),
                     (stack.root / "runs/inject/logs/events.jsonl").read_text())


async def test_an_order_filed_ahead_with_the_runs_own_credential_never_executes(stack):
    create_run(stack.root, "prefiled", {"mode": "all"})
    gateway = ApprovalsClient(stack.service.url, token=run_token(stack.registry.run_secret, "prefiled"))
    async with gateway, human(stack) as op:
        from backend.schema.api_approvals import ApprovalCreate

        injected, created = await gateway.file(ApprovalCreate(run_id="prefiled", **INJECTED))
        assert created
        await op.decide(injected.id, "approve", reason="looks fine")

    # The PM's MSFT order meets the approved injection: refused (409) and dropped, never the injected one.
    frames, _ = await drive(stack, "prefiled", lambda: approve_pending(stack, "prefiled", {
        "AAPL": ("long", 14), "TSLA": ("short", 17)}))
    assert traded(frames) == {"AAPL": ("long", 14), "TSLA": ("short", 17)}
    assert positions(stack.root / "runs/prefiled") == {"AAPL": 14, "TSLA": -17}
    [refused] = refusals(frames)
    assert "MSFT long 23" in refused and "short 77" in refused
    assert refused in [e.get("content") for e in logged(stack.root / "runs/prefiled")]  # the run's own log
    async with human(stack, Role.viewer) as viewer:
        audit = await viewer.audit("prefiled")
    entry = next(e for e in audit if e.event == "refused")
    assert entry.actor == "gateway" and (entry.attempted.action, entry.attempted.quantity) == ("long", 23)
    assert (entry.before.action, entry.before.quantity) == ("short", 77) and entry.after is None


def tamper(path: Path, changes: dict[str, dict[str, Any]]) -> None:
    """Append forged 'approved' records for the approvals of ``changes`` (ticker -> fields), as an
    edit of approvals.jsonl behind agent_service's back would."""
    latest = {}
    for line in path.read_text().splitlines():
        change = ApprovalChange.model_validate_json(line)
        latest[change.approval.ticker] = change.approval
    seq = time.time_ns() // 1000 + 1_000_000
    with open(path, "a", encoding="utf-8") as fh:
        for ticker, fields in changes.items():
            approval = latest[ticker].model_copy(update={
                "status": "approved", "outcome": "approved", "decided_by": "Mallory (operator)",
                "decider_role": "operator", "decided_at": latest[ticker].created_at, "seq": seq, **fields})
            forged = ApprovalChange(seq=seq, ts=approval.created_at, kind="decided", approval=approval)
            fh.write(forged.model_dump_json() + "\n")
            seq += 1


async def test_a_decided_approval_edited_to_another_order_never_executes(tmp_path):
    registry = generate_registry()
    port = free_port()
    env = stack_env(tmp_path, registry, f"http://127.0.0.1:{port}")
    service = AgentService(env, tmp_path / "agent_service.log", port).start()
    stack = SimpleNamespace(root=tmp_path, registry=registry, env=env, service=service)
    create_run(tmp_path, "edited", {"mode": "all"})

    async def decide() -> None:
        service.kill()
        tamper(tmp_path / "runs/edited/state/approvals.jsonl", {
            "MSFT": {"ticker": "NVDA", "action": "short", "decided_quantity": 77},
            "AAPL": {"decided_quantity": 15},  # one more share than the PM's 14
        })
        service.start()
        async with human(stack) as op:
            [tsla] = await op.list(run_id="edited", status="pending")
            await op.decide(tsla.id, "approve")

    try:
        frames, _ = await drive(stack, "edited", decide)
    finally:
        service.stop()
    assert traded(frames) == {"TSLA": ("short", 17)}
    assert positions(tmp_path / "runs/edited") == {"TSLA": -17}
    assert sorted(re.search(r"refused to execute (\w+ \w+ \d+)", r).group(1) for r in refusals(frames)) == \
        ["AAPL long 14", "MSFT long 23"]
    resolved = {f["approval_id"]: f for f in frames if f["type"] == "approval_resolved"}
    assert sorted((f["outcome"], f.get("quantity")) for f in resolved.values()) == \
        [("approved", 17), ("rejected", None), ("rejected", None)]  # None: nothing executes


async def test_the_runtime_controller_hands_each_gateway_its_own_credential_only(stack):
    create_run(stack.root, "spawned", {"mode": "all"})
    settings = load_settings(runs_dir=stack.root / "runs", workspaces_dir=stack.root / "ws",
                             agent_service_url=stack.service.url, skill_sandbox_mode="none")
    controller = RuntimeController(settings, registry=stack.registry)
    try:
        info = await controller.start_run("spawned")
        environ = dict(item.split("=", 1) for item in
                       Path(f"/proc/{info['pid']}/environ").read_text().split("\0") if "=" in item)
        assert environ[RUN_TOKEN_ENV] == run_token(stack.registry.run_secret, "spawned")
        assert environ[RUN_SECRET_ENV] == ""
        async with human(stack, Role.viewer) as viewer:
            stream = viewer.changes(run_id="spawned")
            filed = [await anext(stream) for _ in range(3)]
            await stream.aclose()
        assert {c.approval.ticker for c in filed} == set(PM) and {c.approval.filed_by for c in filed} == {"gateway"}
    finally:
        await controller.shutdown()
    assert_no_secret(stack, (stack.root / "runs/spawned/logs/gateway.log").read_text())
