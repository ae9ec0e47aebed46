"""ApprovalStore: the durable record of every approval, kept by agent_service.

Storage is one append-only JSONL file per run,
``runs/<run_id>/state/approvals.jsonl``. Each line is one
:class:`ApprovalChange` carrying the approval's whole state after the change,
so the file is at once the store (the last line of an id wins), the change
stream (replayed to late subscribers) and the audit log. A line is written,
flushed and fsynced before the change is acknowledged or broadcast; at start
every run's file is replayed, and a torn last line left by a crash is cut off.

One lock serialises every change, so of two decisions on the same approval
exactly one finds it pending. Expiry is decided here too (the Gateway only
observes): :meth:`expire_due` applies the policy's ``on_timeout`` to overdue
approvals, and a decision arriving after the deadline finds it expired.
One agent_service process owns a ``runs/`` folder.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import secrets
import threading
import time
from pathlib import Path
from typing import Callable

from pydantic import ValidationError

from backend.errors import BadRequestError, ConflictError, NotFoundError
from backend.schema.api_approvals import (
    Approval,
    ApprovalChange,
    ApprovalCreate,
    ApprovalDecision,
    ApprovalStatus,
    AuditEntry,
    ChangeKind,
    OrderSnapshot,
)
from backend.storage.ids import InvalidIdError
from backend.storage.jsonl import JsonlStats, cut_torn_tail_of, iter_jsonl
from backend.signals import Signal, emit_logged
from backend.storage.run_store import RunStore

log = logging.getLogger(__name__)

FILE_NAME = "approvals.jsonl"


class RefilingConflict(ConflictError):
    """A re-filing for a (run, date, ticker) already filed with a different order; carries the filed approval."""

    def __init__(self, approval: Approval, attempted: OrderSnapshot) -> None:
        self.approval = approval
        super().__init__(
            f"approval {approval.id} for {approval.run_id} {approval.date} {approval.ticker} was filed as "
            f"{_describe(_order(approval))}; a re-filing as {_describe(attempted)} is refused (audited)")


def _describe(order: OrderSnapshot) -> str:
    return f"{order.action} {order.quantity} @ {order.price:g}"


class AlreadyDecided(ConflictError):
    """A decision on an approval that is no longer pending; carries its current state."""

    def __init__(self, approval: Approval) -> None:
        self.approval = approval
        who = f" by {approval.decided_by}" if approval.decided_by else ""
        super().__init__(f"approval {approval.id} is already {approval.status}{who}")


def iso(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, tz=dt.timezone.utc).isoformat(timespec="milliseconds")


def _epoch(text: str) -> float:
    return dt.datetime.fromisoformat(text).timestamp()


def _order(approval: Approval, quantity: int | None = None) -> OrderSnapshot:
    q = approval.quantity if quantity is None else quantity
    return OrderSnapshot(ticker=approval.ticker, action=approval.action, quantity=q, price=approval.price,
                         notional=round(q * approval.price, 2))


class ApprovalStore:
    """Every approval of every run under ``runs``, durable and serialised.

    Args:
        runs: the run store (approvals live in each run's ``state/`` folder and
            take their policy from the run's BOOTSTRAP.md).
        clock: seconds since the epoch (tests pass a fake one).

    Signals (psygnal, see :mod:`backend.signals`):
        ``changed(ApprovalChange)``: every change, once it is persisted, on the
        thread that made it. A callback that raises is logged; the change stands.
    """

    changed = Signal(object)

    def __init__(self, runs: RunStore, clock: Callable[[], float] = time.time) -> None:
        self.runs = runs
        self.clock = clock
        self._lock = threading.RLock()
        self._approvals: dict[str, Approval] = {}
        self._keys: dict[tuple[str, str, str], str] = {}
        self._changes: dict[str, list[ApprovalChange]] = {}
        self._deadlines: dict[str, float] = {}   # pending id -> expiry (epoch seconds)
        self._filed_seq: dict[str, int] = {}     # id -> seq of its filing (the listing order)
        self._seq = 0

    # -- loading -------------------------------------------------------------------
    def load(self) -> int:
        """Replay every run's approvals file; returns how many approvals were found."""
        with self._lock:
            for run_id in self.runs.run_ids():
                try:
                    path = self._file(run_id)
                except InvalidIdError:
                    continue
                if path.is_file():
                    self._replay(path)
            return len(self._approvals)

    def _replay(self, path: Path) -> None:
        # A torn last line is a write that never finished, so it was never acknowledged: cut it.
        cut_torn_tail_of(path)
        stats = JsonlStats()
        skipped = 0
        for record in iter_jsonl(path, stats):
            try:
                change = ApprovalChange.model_validate(record)
            except ValidationError:
                skipped += 1
                continue
            self._apply(change)
        # A corrupt line (an older writer's) costs that one change, not every later one.
        skipped += stats.bad_lines
        if skipped:
            log.warning("%s: skipped %d corrupt line(s)", path, skipped)

    def _apply(self, change: ApprovalChange) -> None:
        a = change.approval
        self._seq = max(self._seq, change.seq)
        self._approvals[a.id] = a
        self._keys[(a.run_id, a.date, a.ticker)] = a.id
        self._changes.setdefault(a.run_id, []).append(change)
        self._filed_seq.setdefault(a.id, change.seq)
        if a.pending:
            self._deadlines[a.id] = _epoch(a.expires_at)
        else:
            self._deadlines.pop(a.id, None)

    # -- writing -----------------------------------------------------------------------
    def _file(self, run_id: str) -> Path:
        return self.runs.paths(run_id).state_dir / FILE_NAME

    def _record(self, kind: ChangeKind, approval: Approval, attempted: OrderSnapshot | None = None,
                actor: str | None = None) -> Approval:
        """Persist one change (fsynced), then apply and broadcast it."""
        # Microsecond wall time keeps sequence numbers increasing across restarts
        # even if the run holding the highest one is deleted meanwhile.
        seq = max(self._seq + 1, time.time_ns() // 1000)
        approval = approval.model_copy(update={"seq": seq})
        change = ApprovalChange(seq=seq, ts=iso(self.clock()), kind=kind, approval=approval,
                                attempted=attempted, actor=actor)
        path = self._file(approval.run_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        created = not path.exists()
        with open(path, "ab") as fh:
            fh.write(change.model_dump_json().encode() + b"\n")
            fh.flush()
            os.fsync(fh.fileno())
        if created:
            fd = os.open(path.parent, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        self._apply(change)
        # A broken subscriber must not undo a persisted change.
        emit_logged(self.changed, change, logger=log, what="an approval observer")
        return approval

    def file(self, request: ApprovalCreate, filed_by: str = "") -> tuple[Approval, bool]:
        """File an approval; ``(approval, created)``.

        The same run, day and ticker again returns the first approval if the
        order is the same (action, quantity, price), and otherwise raises
        :class:`RefilingConflict` after recording the attempt (a ``refused`` change).
        """
        with self._lock:
            existing = self._keys.get((request.run_id, request.date, request.ticker))
            if existing is not None:
                current = self._approvals[existing]
                if (current.action, current.quantity, current.price) == \
                        (request.action, request.quantity, request.price):
                    return current, False
                attempted = OrderSnapshot(ticker=request.ticker, action=request.action, quantity=request.quantity,
                                          price=request.price, notional=round(request.quantity * request.price, 2))
                self._record("refused", current, attempted=attempted, actor=filed_by or "gateway")
                raise RefilingConflict(self._approvals[existing], attempted)
            try:
                config, _ = self.runs.read_bootstrap(request.run_id)
            except InvalidIdError as err:
                raise BadRequestError(str(err)) from None
            policy = config.approval
            now = self.clock()
            approval = Approval(
                id=f"apr-{secrets.token_hex(6)}", run_id=request.run_id, date=request.date,
                ticker=request.ticker, action=request.action, quantity=request.quantity, price=request.price,
                notional=round(request.quantity * request.price, 2), confidence=request.confidence,
                reasoning=request.reasoning, reasons=request.reasons, context=request.context,
                filed_by=filed_by, created_at=iso(now), expires_at=iso(now + policy.timeout_seconds),
                timeout_seconds=policy.timeout_seconds, on_timeout=policy.on_timeout,
                allow_quantity_change=policy.allow_quantity_change,
            )
            return self._record("filed", approval), True

    def decide(self, approval_id: str, decision: ApprovalDecision, role: str, user: str | None = None) -> Approval:
        """Apply an operator's decision; :class:`AlreadyDecided` if it is no longer pending."""
        with self._lock:
            current = self.get(approval_id)
            now = self.clock()
            if current.pending and now >= self._deadlines.get(current.id, float("inf")):
                current = self._expire(current, now)
            if not current.pending:
                raise AlreadyDecided(current)
            if decision.decision == "approve":
                quantity = current.quantity if decision.quantity is None else decision.quantity
                if quantity != current.quantity and not current.allow_quantity_change:
                    raise BadRequestError(f"approval {current.id}: this run's policy does not allow "
                                          "changing the quantity (allow_quantity_change: false)")
                if quantity > current.quantity:
                    raise BadRequestError(f"approval {current.id}: quantity {quantity} is more than the "
                                          f"{current.quantity} requested; a decision may only reduce it")
                update = {"status": "approved", "outcome": "approved", "decided_quantity": quantity}
            else:
                if decision.quantity is not None:
                    raise BadRequestError("quantity applies only to an approve decision")
                update = {"status": "rejected", "outcome": "rejected", "decided_quantity": None}
            update.update(decided_by=f"{user} ({role})" if user else role, decider_role=role,
                          reason=decision.reason, decided_at=iso(now))
            return self._record("decided", current.model_copy(update=update))

    def _expire(self, approval: Approval, now: float) -> Approval:
        approve = approval.on_timeout == "approve"
        return self._record("expired", approval.model_copy(update={
            "status": "expired", "outcome": "approved" if approve else "rejected",
            "decided_quantity": approval.quantity if approve else None, "decided_by": "policy",
            "decider_role": None, "decided_at": iso(now),
            "reason": f"no decision within {approval.timeout_seconds:g} s; "
                      f"{'approved' if approve else 'rejected'} by the run's on_timeout policy",
        }))

    def expire_due(self) -> list[Approval]:
        """Expire every pending approval whose deadline has passed."""
        with self._lock:
            now = self.clock()
            due = [i for i, deadline in self._deadlines.items() if deadline <= now]
            return [self._expire(self._approvals[i], now) for i in sorted(due, key=self._deadlines.get)]

    def next_deadline(self) -> float | None:
        """The earliest expiry of a pending approval (epoch seconds), or None."""
        with self._lock:
            return min(self._deadlines.values(), default=None)

    # -- reading -----------------------------------------------------------------------
    def get(self, approval_id: str) -> Approval:
        with self._lock:
            try:
                return self._approvals[approval_id]
            except KeyError:
                raise NotFoundError(f"unknown approval {approval_id!r}") from None

    def list(self, run_id: str | None = None, status: ApprovalStatus | None = None) -> list[Approval]:
        """Approvals in filing order, optionally of one run and/or in one status."""
        with self._lock:
            if run_id is not None:
                ids = [c.approval.id for c in self._changes.get(run_id, []) if c.kind == "filed"]
                items = [self._approvals[i] for i in ids]
            else:
                items = sorted(self._approvals.values(), key=lambda a: self._filed_seq[a.id])
            return [a for a in items if status is None or a.status == status]

    def changes(self, run_id: str | None = None, after: int = 0) -> list[ApprovalChange]:
        """Changes with ``seq > after`` in order, of one run or of all."""
        with self._lock:
            if run_id is not None:
                return [c for c in self._changes.get(run_id, []) if c.seq > after]
            merged = [c for changes in self._changes.values() for c in changes if c.seq > after]
            return sorted(merged, key=lambda c: c.seq)

    def audit(self, run_id: str) -> list[AuditEntry]:
        """The run's audit log: who did what to which order, when and why."""
        self.runs.require(run_id)
        entries = []
        for change in self.changes(run_id):
            a = change.approval
            if change.kind == "refused":
                entries.append(AuditEntry(seq=change.seq, ts=change.ts, run_id=a.run_id, date=a.date,
                                          approval_id=a.id, event="refused", actor=change.actor or "gateway",
                                          reason="re-filed with a different order; refused",
                                          before=_order(a), after=None, attempted=change.attempted))
                continue
            if change.kind == "filed":
                entries.append(AuditEntry(seq=change.seq, ts=change.ts, run_id=a.run_id, date=a.date,
                                          approval_id=a.id, event="filed", actor=a.filed_by or "gateway",
                                          reason="; ".join(a.reasons), before=_order(a), after=None))
                continue
            after = _order(a, a.decided_quantity) if a.outcome == "approved" else None
            event = "expired" if change.kind == "expired" else a.status
            entries.append(AuditEntry(seq=change.seq, ts=change.ts, run_id=a.run_id, date=a.date,
                                      approval_id=a.id, event=event, actor=a.decided_by or "",  # type: ignore[arg-type]
                                      role=a.decider_role, reason=a.reason, before=_order(a), after=after))
        return entries
