"""Which orders need a human decision, under a run's ``ApprovalPolicy``.

- ``none``: no order does.
- ``all``: every order does.
- ``threshold``: an order does when its notional exceeds
  ``notional_threshold``, when it opens a new short (``approve_new_shorts``),
  or when it would raise its position's weight above ``max_position_weight``.

Notional and weights are estimated at the last close (the price the
portfolio manager decided on); the order executes at the open.
"""

from __future__ import annotations

from backend.schema.bootstrap import ApprovalPolicy
from backend.schema.trading import OrderDecision


def approval_reasons(order: OrderDecision, policy: ApprovalPolicy, price: float, equity: float,
                     position_value: float) -> list[str]:
    """Why ``order`` needs a decision (empty: it goes ahead on its own).

    Args:
        order: a long or short order with a positive quantity.
        policy: the run's approval policy.
        price: the estimated execution price.
        equity: the portfolio's total value.
        position_value: the current signed value of the ticker's position
            (negative when short).
    """
    if policy.mode == "none" or order.action == "hold" or order.quantity <= 0:
        return []
    if policy.mode == "all":
        return ["the run's policy holds every order for approval"]
    reasons: list[str] = []
    notional = order.quantity * price
    if notional > policy.notional_threshold:
        reasons.append(f"notional {notional:,.2f} exceeds the limit {policy.notional_threshold:,.2f}")
    signed = notional if order.action == "long" else -notional
    after = position_value + signed
    # A position that was flat or long and ends short is a new short; adding
    # to an existing short is judged by the weight rule instead.
    if policy.approve_new_shorts and order.action == "short" and position_value >= 0 > after:
        reasons.append(f"opens a new short in {order.ticker}")
    if equity <= 0:
        reasons.append("the portfolio's equity is not positive, so weights cannot be judged")
        return reasons
    weight_before, weight_after = abs(position_value) / equity, abs(after) / equity
    if weight_after > policy.max_position_weight and weight_after > weight_before:
        reasons.append(f"raises the {order.ticker} weight to {weight_after:.1%} "
                       f"(limit {policy.max_position_weight:.1%})")
    return reasons
