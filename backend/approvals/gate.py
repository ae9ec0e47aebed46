"""HumanApprovalGate: the Gateway's side of the approval stage.

At the approval gate it asks the policy which of the day's orders need a
human; the others go ahead at once. It files one approval per held order
with agent_service, emits ``approval_requested``, shows the run as
``waiting_approval``, and waits until every one is decided or expired; then
it emits ``approval_resolved`` per approval and hands the pipeline the
orders to execute (an approval may reduce the quantity).

It learns of decisions from agent_service's change stream (server-sent
events), which it follows from the first approval on and reconnects to with
``after=<last seq seen>``, so nothing decided while either side was down is
missed. Filing is idempotent per (run, date, ticker): a Gateway restarted in
the middle of a day re-runs it, files the same orders again and so
re-attaches to their approvals, including those decided meanwhile. Expiry is
agent_service's alone; the gate only observes it.

An approval never decides *what* executes: an approved one lets the PM's own
order go ahead, at most at the PM's quantity (:mod:`.order_check`). An
approval that differs from the PM's order (a refused re-filing, or one
changed after filing) drops the order; the refusal is a ``system`` event in
the run's stream and event log.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

import httpx

from backend.approvals.client import ApprovalConflict, ApprovalsApiError, ApprovalsClient
from backend.approvals.order_check import executable, mismatch
from backend.approvals.policy import approval_reasons
from backend.pipeline.approval_gate import GateOutcome, GateRequest
from backend.schema import events as ev
from backend.schema.api_approvals import Approval, ApprovalContext, ApprovalCreate
from backend.schema.bootstrap import ApprovalPolicy
from backend.schema.trading import OrderDecision

log = logging.getLogger(__name__)

RETRY_FIRST, RETRY_MAX = 0.2, 2.0   # seconds between attempts to reach agent_service
STOP_POLL = 0.25                    # how often a wait checks whether the run was told to stop
MAX_REASONING = 10_000              # ApprovalCreate's limit (an LLM may write more)


class HumanApprovalGate:
    """Files held orders with agent_service and waits for their decisions.

    Args:
        client: the approvals API client (the run's own credential).
        run_id: the run this Gateway serves.
        policy: the run's approval policy (which orders are held).
    """

    def __init__(self, client: ApprovalsClient, run_id: str, policy: ApprovalPolicy) -> None:
        self.client = client
        self.run_id = run_id
        self.policy = policy
        self._engine: Any = None
        self._known: dict[str, Approval] = {}
        self._changed: asyncio.Event | None = None
        self._watcher: asyncio.Task[None] | None = None
        self._after = 0
        self._unreachable_told = False
        self._orders: dict[str, tuple[GateRequest, OrderDecision]] = {}  # approval id -> what it was filed for

    def bind(self, engine: Any) -> None:
        """Emit events and run status through ``engine`` (the :class:`RunEngine`)."""
        self._engine = engine

    async def close(self) -> None:
        if self._watcher is not None:
            self._watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._watcher
        await self.client.aclose()

    # -- helpers -----------------------------------------------------------------------
    def _emit(self, event: ev.Event) -> None:
        if self._engine is not None:
            self._engine.emit(event)

    def _set_status(self, status: str) -> None:
        if self._engine is not None:
            self._engine.set_status(status)

    def _stop_requested(self) -> bool:
        return bool(self._engine is not None and self._engine.stop_requested)

    def _check_stop(self) -> None:
        if self._stop_requested():
            from backend.pipeline.engine import RunStopped

            raise RunStopped()

    def _update(self, approval: Approval) -> None:
        known = self._known.get(approval.id)
        if known is None or approval.seq >= known.seq:
            self._known[approval.id] = approval
            if self._changed is not None:
                self._changed.set()

    def _unreachable(self, err: Exception) -> None:
        if not self._unreachable_told:
            self._unreachable_told = True
            self._emit(ev.System(content=f"approvals: agent_service at {self.client.base_url} is unreachable "
                                         f"({type(err).__name__}); retrying"))
        log.warning("agent_service unreachable: %s", err)

    async def _pause(self, delay: float) -> float:
        """Sleep ``delay`` (waking early to honour a stop); returns the next back-off."""
        deadline = time.monotonic() + delay
        while time.monotonic() < deadline:
            self._check_stop()
            await asyncio.sleep(min(STOP_POLL, max(0.0, deadline - time.monotonic())))
        return min(delay * 2, RETRY_MAX)

    # -- the change stream ------------------------------------------------------------------
    def _ensure_watcher(self) -> None:
        if self._changed is None:
            self._changed = asyncio.Event()
        if self._watcher is None or self._watcher.done():
            self._watcher = asyncio.create_task(self._watch(), name=f"approvals-{self.run_id}")

    async def _watch(self) -> None:
        delay = RETRY_FIRST
        while True:
            try:
                async for change in self.client.changes(run_id=self.run_id, after=self._after):
                    delay = RETRY_FIRST
                    self._unreachable_told = False
                    self._after = max(self._after, change.seq)
                    self._update(change.approval)
            except asyncio.CancelledError:
                raise
            except (httpx.HTTPError, ApprovalsApiError, ValueError) as err:
                self._unreachable(err)
            except Exception:  # never let the watcher die: a waiting day depends on it
                log.exception("approvals change stream failed")
            await asyncio.sleep(delay)
            delay = min(delay * 2, RETRY_MAX)

    # -- the gate ----------------------------------------------------------------------------
    async def gate(self, request: GateRequest) -> list[GateOutcome]:
        """Decide the day's orders: held ones wait for a human, the rest go ahead."""
        outcomes: dict[int, GateOutcome] = {}
        held: list[tuple[int, OrderDecision, list[str]]] = []
        for index, order in enumerate(request.orders):
            price = request.prices.get(order.ticker, 0.0)
            reasons = approval_reasons(order, self.policy, price, request.equity,
                                       request.positions_value.get(order.ticker, 0.0))
            if not reasons:
                outcomes[index] = GateOutcome(order=order, approved=True)
            elif price > 0:
                held.append((index, order, reasons))
            else:  # nothing to show a human: a held order without a price is dropped, not waved through
                outcomes[index] = GateOutcome(order=order, approved=False,
                                              reason=f"no price for {order.ticker} to file an approval")
        if held:
            self._ensure_watcher()
            filed: list[tuple[int, OrderDecision, Approval]] = []
            for index, order, reasons in held:
                approval = await self._file(request, order, reasons)
                if isinstance(approval, Approval):
                    filed.append((index, order, approval))
                else:
                    outcomes[index] = self._refuse(order, None, approval)
            for _, order, approval in filed:
                self._orders[approval.id] = (request, order)
                self._emit(_requested_event(approval))
            resolved = await self._wait([approval.id for _, _, approval in filed])
            # Let the Gateway flush approval_resolved before the rest of the day,
            # which runs without yielding to the event loop, holds it back.
            await asyncio.sleep(0)
            for index, order, approval in filed:
                outcomes[index] = self._outcome(request, order, resolved[approval.id])
                self._orders.pop(approval.id, None)
        return [outcomes[i] for i in range(len(request.orders))]

    def _resolved_event(self, a: Approval) -> ev.ApprovalResolved:
        event = _resolved_event(a)
        if a.outcome == "approved" and a.id in self._orders:
            request, order = self._orders[a.id]
            why = mismatch(order, a, request.run_id, request.date)
            if why is not None:  # what the desk shows must be what happens: nothing executes
                event = event.model_copy(update={"outcome": "rejected", "quantity": None,
                                                 "reason": f"refused: {why}"})
        return event

    def _outcome(self, request: GateRequest, order: OrderDecision, a: Approval) -> GateOutcome:
        if a.outcome != "approved":
            return GateOutcome(order=order, approved=False, approval_id=a.id, reason=a.reason)
        why = mismatch(order, a, request.run_id, request.date)
        if why is not None:
            return self._refuse(order, a.id, f"approval {a.id} does not match the portfolio manager's order ({why})")
        return GateOutcome(order=executable(order, a), approved=True, approval_id=a.id, reason=a.reason)

    def _refuse(self, order: OrderDecision, approval_id: str | None, why: str) -> GateOutcome:
        """Drop ``order``, saying so in the run's stream and log (a ``system`` event) and the Gateway log."""
        text = (f"approvals: refused to execute {order.ticker} {order.action} {order.quantity}: {why}; "
                "the order is dropped")
        log.warning("run %s: %s", self.run_id, text)
        self._emit(ev.System(content=text))
        return GateOutcome(order=order, approved=False, approval_id=approval_id, reason=why)

    async def _file(self, request: GateRequest, order: OrderDecision, reasons: list[str]) -> Approval | str:
        """The approval of ``order``, or why agent_service refused it (filed before with another order)."""
        facts = request.context.get(order.ticker, {})
        body = ApprovalCreate(
            run_id=request.run_id, date=request.date, ticker=order.ticker, action=order.action,  # type: ignore[arg-type]
            quantity=order.quantity, price=request.prices[order.ticker], confidence=order.confidence,
            reasoning=order.reasoning[:MAX_REASONING], reasons=reasons,
            context=ApprovalContext.model_validate(facts))
        delay = RETRY_FIRST
        while True:
            self._check_stop()
            try:
                approval, _ = await self.client.file(body)
            except ApprovalConflict as err:
                # Filed before with a different order: agent_service audited it; the order is not executed.
                self._update(err.approval)
                return err.detail
            except httpx.HTTPError as err:
                self._unreachable(err)
            except ApprovalsApiError as err:
                if err.status < 500:
                    raise  # misconfiguration (unknown run, bad token): fail the day loudly
                self._unreachable(err)
            else:
                self._unreachable_told = False
                self._update(approval)
                return self._known[approval.id]
            delay = await self._pause(delay)

    async def _wait(self, ids: list[str]) -> dict[str, Approval]:
        """Wait until none of ``ids`` is pending, emitting ``approval_resolved`` for each as it ends.

        The run shows ``waiting_approval`` meanwhile.
        """
        assert self._changed is not None
        waiting = False
        told: set[str] = set()
        try:
            while True:
                current = {i: self._known[i] for i in ids}
                for i, approval in current.items():
                    if not approval.pending and i not in told:
                        told.add(i)
                        self._emit(self._resolved_event(approval))
                if len(told) == len(ids):
                    return current
                if not waiting:
                    waiting = True
                    if self._engine is not None and self._engine.status == "running":
                        self._set_status("waiting_approval")
                        self._engine.write_state()  # runtime_state.json shows it too
                self._check_stop()
                self._ensure_watcher()
                self._changed.clear()
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._changed.wait(), STOP_POLL)
        finally:
            # A pause requested meanwhile has already shown "paused"; leave it.
            if waiting and self._engine is not None and self._engine.status == "waiting_approval":
                self._set_status("running")


def _requested_event(a: Approval) -> ev.ApprovalRequested:
    return ev.ApprovalRequested(
        approval_id=a.id, run_id=a.run_id, date=a.date, ticker=a.ticker, action=a.action, quantity=a.quantity,
        price=a.price, notional=a.notional, confidence=a.confidence, reasoning=a.reasoning,
        expires_at=a.expires_at, context=a.context.model_dump(), reasons=a.reasons, status=a.status)


def _resolved_event(a: Approval) -> ev.ApprovalResolved:
    # ``outcome`` says whether the order executes (an expired approval follows
    # on_timeout); ``quantity`` is what executes, absent when it is dropped.
    return ev.ApprovalResolved(
        approval_id=a.id, decision=a.status, decided_by=a.decided_by or "", reason=a.reason,  # type: ignore[arg-type]
        ts=int(time.time() * 1000), quantity=a.decided_quantity, outcome=a.outcome, run_id=a.run_id,
        date=a.date, ticker=a.ticker, action=a.action, requested_quantity=a.quantity)
