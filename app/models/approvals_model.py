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
from typing import Any, Literal

from pydantic import Field, field_validator

from app.models.event_input import as_event
from app.models.observable import ObservableModel
from backend.clients.http import ServiceError
from backend.clients.services import AgentServiceClient
from backend.schema.api_approvals import Approval, ApprovalContext
from backend.schema.events import ApprovalRequested, ApprovalResolved, Event, Hello

HISTORY_LIMIT = 500  # decided/expired approvals kept in the history tab
# approval_resolved says "approved/rejected/expired"; the API says the same in ``status``.
RESOLVED = ("approved", "rejected", "expired")


def _utc(value: Any) -> Any:
    """An ISO timestamp (``...Z`` or with an offset; naive means UTC) as UTC ISO text.

    "" (no time yet) and non-strings pass (the field's type judges those).
    """
    if not isinstance(value, str) or not value:
        return value
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"expected an ISO timestamp like 2025-01-31T14:30:00Z, got {value!r}") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.timezone.utc)
    return parsed.astimezone(dt.timezone.utc).isoformat()


def _epoch(value: str | None) -> float | None:
    return dt.datetime.fromisoformat(value).timestamp() if value else None


class ApprovalItem(Approval):
    """One approval as the panel shows it (pending or decided): agent_service's ``Approval``.

    Every field is the schema's, so a field added to ``Approval`` reaches the
    desk unedited. What is desk-side: times are normalised to UTC (the same
    instant is the same text), :attr:`deadline` / :attr:`decided` give them as
    epoch seconds, and the fields the Gateway's ``approval_requested`` event
    may not carry have defaults until :meth:`ApprovalsModel.refresh` loads
    the record.
    """

    # What approval_requested may leave out (the record from agent_service has them all).
    reasons: list[str] = Field(default_factory=list)
    context: ApprovalContext = Field(default_factory=ApprovalContext)
    created_at: str = ""
    timeout_seconds: float = 0.0
    on_timeout: Literal["reject", "approve"] = "reject"
    allow_quantity_change: bool = True

    @field_validator("created_at", "expires_at", "decided_at", mode="before")
    @classmethod
    def _in_utc(cls, value: Any) -> Any:
        return _utc(value)

    @classmethod
    def from_api(cls, data: dict[str, Any]) -> "ApprovalItem":
        """From agent_service's ``Approval`` JSON."""
        return cls.model_validate(data)

    @classmethod
    def from_event(cls, frame: ApprovalRequested | dict[str, Any]) -> "ApprovalItem":
        """From an ``approval_requested`` Gateway event."""
        event = frame if isinstance(frame, ApprovalRequested) else ApprovalRequested.model_validate(frame)
        fields = event.model_dump(exclude={"type", "approval_id"}, exclude_none=True)
        return cls.model_validate({**fields, "id": event.approval_id})

    @classmethod
    def from_resolution(cls, event: ApprovalResolved) -> "ApprovalItem | None":
        """The decided approval an ``approval_resolved`` event describes, for one never seen pending.

        The event names the order but not its price or reasoning (a refresh
        loads them); None when it does not even name the order.
        """
        if not (event.ticker and event.action):
            return None
        return cls(id=event.approval_id, run_id=event.run_id or "", date=event.date or "", ticker=event.ticker,
                   action=event.action, quantity=event.requested_quantity or 0, price=0.0, notional=0.0,
                   confidence=0.0, reasoning="", expires_at="")

    def resolved(self, event: ApprovalResolved, now: float) -> "ApprovalItem":
        """This approval as ``event`` decided it (``now``: when, if the event has no time)."""
        at = event.ts / 1000.0 if event.ts else now
        return self.model_copy(update={
            "status": event.decision, "decided_by": event.decided_by, "reason": event.reason,
            "decided_quantity": event.quantity,
            "decided_at": dt.datetime.fromtimestamp(at, dt.timezone.utc).isoformat()})

    @property
    def deadline(self) -> float | None:
        """When the request expires, epoch seconds; None without a deadline."""
        return _epoch(self.expires_at)

    @property
    def decided(self) -> float | None:
        """When it was decided, epoch seconds; None while pending."""
        return _epoch(self.decided_at)

    @property
    def signals(self) -> list[dict[str, Any]]:
        return list(self.context.signals)

    @property
    def risk_warnings(self) -> list[str]:
        return list(self.context.risk_warnings)

    @property
    def pm_reasoning(self) -> str:
        return self.context.pm_reasoning or self.reasoning

    def seconds_left(self, now: float) -> float | None:
        """Seconds until expiry (never negative); None when the request has no deadline."""
        deadline = self.deadline
        if deadline is None:
            return None
        return max(0.0, deadline - now)


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
    def apply_event(self, frame: Event | dict[str, Any]) -> None:
        """Apply one Gateway event (other types are ignored)."""
        event = as_event(frame)
        if isinstance(event, Hello) and event.run_id:
            self.set_run(event.run_id)
        elif isinstance(event, ApprovalRequested) and event.approval_id:
            if self.run_id is None and event.run_id:
                self.run_id = event.run_id
            self.upsert(ApprovalItem.from_event(event))
        elif isinstance(event, ApprovalResolved) and event.approval_id:
            self._resolve_from_event(event)

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
            self.pending.sort(key=lambda a: (a.deadline is None, a.deadline or 0.0, a.id))
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
        self.history.sort(key=lambda a: a.decided or 0.0, reverse=True)
        del self.history[HISTORY_LIMIT:]

    def _resolve_from_event(self, event: ApprovalResolved) -> None:
        if event.decision not in RESOLVED:
            return
        known = self.item(event.approval_id) or ApprovalItem.from_resolution(event)
        if known is None:
            return  # an order the event does not name: the next refresh shows it
        self._place(known.resolved(event, self.clock()), announce=False)
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
        # A list read before a decision landed (the decision's answer or its event came while the GET
        # was in flight) still says "pending": the decided copy we hold wins, as in :meth:`upsert`.
        decided = {a.id: a for a in self.history}
        keep, self.selected_id = self.selected_id, None
        self.pending, self.history = [], []
        for item in items:
            if item.pending and item.id in decided:
                item = decided[item.id]
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
