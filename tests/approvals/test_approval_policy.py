"""Which orders the approval policy holds back."""

from __future__ import annotations

import pytest

from backend.approvals.policy import approval_reasons
from backend.schema.bootstrap import ApprovalPolicy
from backend.schema.trading import OrderDecision


def order(action: str, quantity: int, ticker: str = "AAPL") -> OrderDecision:
    return OrderDecision(ticker=ticker, action=action, quantity=quantity, confidence=60, reasoning="r")


THRESHOLD = ApprovalPolicy(mode="threshold", notional_threshold=10_000, max_position_weight=0.3)


def test_none_holds_nothing_and_all_holds_everything():
    assert approval_reasons(order("long", 1000), ApprovalPolicy(mode="none"), 100, 1e6, 0) == []
    assert approval_reasons(order("long", 1), ApprovalPolicy(mode="all"), 100, 1e6, 0)
    assert approval_reasons(order("hold", 0), ApprovalPolicy(mode="all"), 100, 1e6, 0) == []


def test_threshold_passes_a_small_long():
    assert approval_reasons(order("long", 50), THRESHOLD, 100, 100_000, 0) == []


def test_threshold_holds_a_large_notional():
    reasons = approval_reasons(order("long", 101), THRESHOLD, 100, 1e6, 0)
    assert len(reasons) == 1 and "notional 10,100.00 exceeds" in reasons[0]
    assert approval_reasons(order("long", 100), THRESHOLD, 100, 1e6, 0) == []  # exactly at the limit


@pytest.mark.parametrize("position, quantity, held", [
    (0.0, 10, True),        # flat -> short
    (2000.0, 10, False),    # sells part of a long
    (1000.0, 10, False),    # sells the whole long, ends flat
    (1000.0, 11, True),     # sells the long and goes short
    (-500.0, 10, False),    # adds to an existing short (the weight rule judges it)
])
def test_new_shorts(position, quantity, held):
    reasons = approval_reasons(order("short", quantity), THRESHOLD, 100, 1e6, position)
    assert any("new short" in r for r in reasons) is held


def test_new_shorts_can_be_let_through():
    policy = THRESHOLD.model_copy(update={"approve_new_shorts": False})
    assert approval_reasons(order("short", 10), policy, 100, 1e6, 0) == []


def test_weight_rule_only_when_the_weight_rises_above_the_limit():
    # 25k long in a 100k portfolio + 6k -> 31% > 30%
    reasons = approval_reasons(order("long", 60), THRESHOLD, 100, 100_000, 25_000)
    assert reasons and "weight to 31.0%" in reasons[0]
    # Already above the limit but the order shrinks the position: fine.
    assert approval_reasons(order("short", 60), THRESHOLD, 100, 100_000, 40_000) == []
    # Non-positive equity cannot be judged: held.
    assert approval_reasons(order("long", 1), THRESHOLD, 100, 0, 0)
