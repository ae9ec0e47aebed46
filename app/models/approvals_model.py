"""The approval queue of the watched runtime (Qt-free).

Fed from two sides: Gateway events (``approval_requested`` /
``approval_resolved``, through :meth:`ApprovalsModel.apply_event`) and
agent_service (``GET /approvals`` on every (re)connect, ``POST
/approvals/{id}/decision`` for decisions). Both may report the same change, in
either order; every update is idempotent, so the queue converges whatever
arrives first.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from app.net.http import ServiceError
from app.net.services import AgentServiceClient
from app.models.observable import ObservableModel

HISTORY_LIMIT = 500  # decided/expired approvals kept in the history tab
# approval_resolved says "approved/rejected/expired"; the API says the same in ``status``.
RESOLVED = ("approved", "rejected", "expired")



def _epoch(value: Any) -> float | None:
    """An ISO timestamp (``...Z`` or with offset; naive means UTC) as epoch seconds."""
    if not value:
        return None
    if isinstance(value, (int, float)):
        return float(value) / (1000.0 if value > 1e11 else 1.0)
    try:
        parsed = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.timezone.utc)
    return parsed.timestamp()


@dataclass
class ApprovalItem:
    """One approval as the panel shows it (pending or decided)."""

    id: str
    run_id: str = ""
    date: str = ""
    ticker: str = ""
    action: str = ""
    quantity: int = 0
    price: float = 0.0
    notional: float = 0.0
    confidence: float = 0.0
    reasoning: str = ""
    expires_at: float | None = None  # epoch seconds
    context: dict[str, Any] = field(default_factory=dict)
    reasons: list[str] = field(default_factory=list)
    status: str = "pending"
    decided_by: str = ""
    reason: str = ""
    decided_quantity: int | None = None
    decided_at: float | None = None
    allow_quantity_change: bool = True

    @classmethod
    def from_api(cls, data: dict[str, Any]) -> "ApprovalItem":
        """From agent_service's ``Approval`` JSON."""
        return cls(
            id=str(data["id"]), run_id=str(data.get("run_id", "")), date=str(data.get("date", "")),
            ticker=str(data.get("ticker", "")), action=str(data.get("action", "")),
            quantity=int(data.get("quantity") or 0), price=float(data.get("price") or 0.0),
            notional=float(data.get("notional") or 0.0), confidence=float(data.get("confidence") or 0.0),
            reasoning=str(data.get("reasoning") or ""), expires_at=_epoch(data.get("expires_at")),
            context=dict(data.get("context") or {}), reasons=list(data.get("reasons") or []),
            status=str(data.get("status") or "pending"), decided_by=str(data.get("decided_by") or ""),
            reason=str(data.get("reason") or ""), decided_quantity=data.get("decided_quantity"),
            decided_at=_epoch(data.get("decided_at")),
            allow_quantity_change=bool(data.get("allow_quantity_change", True)),
        )

    @classmethod
    def from_event(cls, frame: dict[str, Any]) -> "ApprovalItem":
        """From an ``approval_requested`` Gateway event."""
        data = dict(frame, id=frame["approval_id"])
        data.setdefault("status", "pending")
        return cls.from_api(data)

    @property
    def pending(self) -> bool:
        return self.status == "pending"

    @property
    def signals(self) -> list[dict[str, Any]]:
        return list(self.context.get("signals") or [])

    @property
    def risk_warnings(self) -> list[str]:
        return [str(w) for w in self.context.get("risk_warnings") or []]

    @property
    def pm_reasoning(self) -> str:
        return str(self.context.get("pm_reasoning") or self.reasoning)

    def seconds_left(self, now: float) -> float | None:
        """Seconds until expiry (never negative); None when the request has no deadline."""
        if self.expires_at is None:
            return None
        return max(0.0, self.expires_at - now)


def format_countdown(seconds: float | None) -> str:
    """``4:59``, ``1:02:03``; ``expiring`` at zero (the server decides the timeout), ``-`` without one."""
    if seconds is None:
        return "-"
    if seconds <= 0:
        return "expiring"
    whole = int(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


class ApprovalsModel(ObservableModel):
    """Pending approvals (soonest deadline first), the decided history, and a selection.

    Args:
        client: agent_service client, or None while no runtime is reachable.
        clock: epoch-seconds clock for countdowns (tests pass a fake one).

    Listeners ``cb(kind, payload)`` are told:
        ``changed`` (None): the queue, history or selection changed;
        ``arrived`` (ApprovalItem): a new pending approval appeared (notify the user);
        ``message`` (str | None): a one-line outcome or error to show (None clears it).
    """

    def __init__(self, client: AgentServiceClient | None = None, clock: Callable[[], float] = time.time) -> None:
        self.client = client
        self.clock = clock
        self.run_id: str | None = None
        self.pending: list[ApprovalItem] = []
        self.history: list[ApprovalItem] = []
        self.selected_id: str | None = None
        super().__init__()


    # -- what is watched ----------------------------------------------------------
    def set_client(self, client: AgentServiceClient | None) -> None:
        self.client = client

    def set_run(self, run_id: str | None) -> None:
        """Watch another run: the queue empties until :meth:`refresh` refills it."""
        if run_id == self.run_id:
            return
        self.run_id = run_id
        self.pending, self.history, self.selected_id = [], [], None
        self._emit("changed")

    # -- selection ----------------------------------------------------------------
    @property
    def selected(self) -> ApprovalItem | None:
        return next((a for a in self.pending if a.id == self.selected_id), None)

    def select(self, approval_id: str | None) -> None:
        if approval_id != self.selected_id:
            self.selected_id = approval_id
            self._emit("changed")

    def select_next(self, step: int = 1) -> ApprovalItem | None:
        """Move the selection ``step`` rows (wrapping); selects the first row if none."""
        if not self.pending:
            return None
        ids = [a.id for a in self.pending]
        index = ids.index(self.selected_id) + step if self.selected_id in ids else 0
        self.select(ids[index % len(ids)])
        return self.selected

    def select_previous(self) -> ApprovalItem | None:
        return self.select_next(-1)

    def item(self, approval_id: str) -> ApprovalItem | None:
        return next((a for a in [*self.pending, *self.history] if a.id == approval_id), None)

    # -- updates ------------------------------------------------------------------
    def apply_event(self, frame: dict[str, Any]) -> None:
        """Apply one Gateway event (other types are ignored)."""
        kind = frame.get("type")
        if kind == "hello" and frame.get("run_id"):
            self.set_run(str(frame["run_id"]))
        elif kind == "approval_requested" and frame.get("approval_id"):
            if self.run_id is None and frame.get("run_id"):
                self.run_id = str(frame["run_id"])
            self.upsert(ApprovalItem.from_event(frame))
        elif kind == "approval_resolved" and frame.get("approval_id"):
            self._resolve_from_event(frame)

    def upsert(self, item: ApprovalItem) -> None:
        """Add or update one approval, moving it between queue and history as its status says."""
        if self.run_id is not None and item.run_id and item.run_id != self.run_id:
            return  # a late event of a run we no longer watch
        old = self.item(item.id)
        if old is not None and not old.pending and item.pending:
            return  # a stale "pending" copy must not resurrect a decided approval
        self._place(item, announce=old is None)
        self._emit("changed")

    def _place(self, item: ApprovalItem, announce: bool) -> None:
        index = next((i for i, a in enumerate(self.pending) if a.id == item.id), None)
        self.history = [a for a in self.history if a.id != item.id]
        if item.pending:
            if index is None:
                self.pending.append(item)
            else:
                self.pending[index] = item
            self.pending.sort(key=lambda a: (a.expires_at is None, a.expires_at or 0.0, a.id))
            if self.selected_id is None:
                self.selected_id = item.id
            if announce:
                self._emit("arrived", item)
            return
        if index is not None:
            self.pending.pop(index)
            if self.selected_id == item.id:  # keep the keyboard flow: select the row that moved up
                self.selected_id = self.pending[min(index, len(self.pending) - 1)].id if self.pending else None
        self.history.insert(0, item)
        self.history.sort(key=lambda a: a.decided_at or 0.0, reverse=True)
        del self.history[HISTORY_LIMIT:]

    def _resolve_from_event(self, frame: dict[str, Any]) -> None:
        decision = str(frame.get("decision", ""))
        if decision not in RESOLVED:
            return
        approval_id = str(frame["approval_id"])
        known = self.item(approval_id)
        item = ApprovalItem.from_event({**frame, "quantity": frame.get("requested_quantity") or 0}) \
            if known is None else ApprovalItem(**vars(known))
        item.status = decision
        item.decided_by = str(frame.get("decided_by") or "")
        item.reason = str(frame.get("reason") or "")
        item.decided_quantity = frame.get("quantity")
        item.decided_at = _epoch(frame.get("ts")) or self.clock()
        self._place(item, announce=False)
        self._emit("changed")

    async def refresh(self) -> None:
        """Reload the run's approvals from agent_service (call on connect and reconnect)."""
        if self.client is None:
            return
        try:
            rows = await self.client.list_approvals(run_id=self.run_id)
        except ServiceError as err:
            self._say(f"cannot load approvals: {err}")
            return
        self._loaded()
        items = [ApprovalItem.from_api(r) for r in rows if isinstance(r, dict) and r.get("id")]
        if self.run_id is not None:
            items = [a for a in items if not a.run_id or a.run_id == self.run_id]
        known = {a.id for a in self.pending}
        keep, self.selected_id = self.selected_id, None
        self.pending, self.history = [], []
        for item in items:
            self._place(item, announce=item.pending and item.id not in known)
        ids = [a.id for a in self.pending]
        self.selected_id = keep if keep in ids else (ids[0] if ids else None)
        self._emit("changed")

    # -- decisions ----------------------------------------------------------------
    async def decide(self, approval_id: str, decision: str, reason: str = "",
                     quantity: int | None = None) -> bool:
        """Send a decision; True when the server took it. A refusal is reported as a message."""
        item = self.item(approval_id)
        if item is None:
            self._say(f"unknown approval {approval_id}")
            return False
        if quantity is not None and not 1 <= quantity <= item.quantity:
            self._say(f"quantity must be between 1 and {item.quantity}")
            return False
        if self.client is None:
            self._say("agent service not connected")
            return False
        try:
            result = await self.client.decide(approval_id, decision, reason, quantity)
        except ServiceError as err:
            if err.status == 409:
                await self._show_current(approval_id, err.detail)
            else:
                self._say(f"{decision} {item.ticker} failed: {err}")
            return False
        if isinstance(result, dict) and result.get("id"):
            self.upsert(ApprovalItem.from_api(result))
        verb = "approved" if decision == "approve" else "rejected"
        shares = f" {quantity} of {item.quantity}" if quantity is not None and quantity != item.quantity else ""
        self._say(f"{verb}{shares} {item.action} {item.ticker}")
        return True

    async def approve(self, approval_id: str | None = None, quantity: int | None = None, reason: str = "") -> bool:
        target = approval_id or self.selected_id
        return bool(target) and await self.decide(target, "approve", reason, quantity)

    async def reject(self, approval_id: str | None = None, reason: str = "") -> bool:
        target = approval_id or self.selected_id
        return bool(target) and await self.decide(target, "reject", reason)

    async def _show_current(self, approval_id: str, detail: str) -> None:
        """A 409: someone (or the timeout) got there first; show and apply the server's state."""
        try:
            current = ApprovalItem.from_api(await self.client.get_approval(approval_id))  # type: ignore[union-attr]
        except ServiceError:
            self._say(f"already decided: {detail}")
            return
        self.upsert(current)
        who = f" by {current.decided_by}" if current.decided_by else ""
        self._say(f"{current.ticker} was already {current.status}{who}")
