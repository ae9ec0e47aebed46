"""The approval gate between the PM's decision and execution.

The pipeline hands the gate every order of the day with the facts behind it;
the gate answers which orders to execute (possibly with a smaller quantity).
The default approves everything; ``backend/approvals`` provides the real,
durable one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable

from backend.schema.trading import OrderDecision


@dataclass
class GateRequest:
    """Everything a human needs to decide the day's orders."""

    run_id: str
    date: str
    orders: list[OrderDecision]
    prices: dict[str, float]
    equity: float
    positions_value: dict[str, float]
    context: dict[str, dict[str, Any]] = field(default_factory=dict)  # per ticker: signals, warnings, ...


@dataclass
class GateOutcome:
    """What happens to one order."""

    order: OrderDecision
    approved: bool
    approval_id: str | None = None
    reason: str = ""


ApprovalGate = Callable[[GateRequest], Awaitable[list[GateOutcome]]]


async def approve_all(request: GateRequest) -> list[GateOutcome]:
    """Default gate: every order goes ahead without a human."""
    return [GateOutcome(order=o, approved=True) for o in request.orders]
