"""Whether a decided approval may execute the portfolio manager's order.

The gate never executes what an approval says on its own: an approval only
lets the PM's order of that run and day go ahead, at the decided quantity,
which must not exceed the PM's. Anything else (another ticker or action,
more shares, another run or day, a quantity that is not a positive int) is
refused, whoever filed or edited the approval.
"""

from __future__ import annotations

from backend.schema.api_approvals import Approval
from backend.schema.trading import OrderDecision


def mismatch(order: OrderDecision, approval: Approval, run_id: str, date: str) -> str | None:
    """Why ``approval`` may not execute ``order`` of ``run_id`` on ``date`` (None: it may)."""
    quantity = approval.decided_quantity
    checks = (
        (approval.run_id == run_id, f"run {approval.run_id!r}, not {run_id!r}"),
        (approval.date == date, f"date {approval.date}, not {date}"),
        (approval.ticker == order.ticker, f"ticker {approval.ticker}, not {order.ticker}"),
        (approval.action == order.action, f"action {approval.action}, not {order.action}"),
        (type(quantity) is int and quantity >= 1, f"quantity {quantity!r} is not a positive number of shares"),
        (type(quantity) is not int or quantity <= order.quantity,
         f"quantity {quantity} exceeds the portfolio manager's {order.quantity}"),
    )
    problems = [why for ok, why in checks if not ok]
    return "; ".join(problems) if problems else None


def executable(order: OrderDecision, approval: Approval) -> OrderDecision:
    """The PM's order at the approved quantity (call only when :func:`mismatch` is None)."""
    return order.model_copy(update={"quantity": approval.decided_quantity})
