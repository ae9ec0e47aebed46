"""Rules policy of the portfolio manager: trust-weighted team view -> orders.

Each analyst's final score is weighted by the PM's trust in that analyst, an
exponential moving average of the analyst's daily hit rate, so analysts that
have been right recently count more. Positions are sized within the risk
manager's limit and the cash actually available.
"""

from __future__ import annotations

from backend.schema.trading import OrderDecision, RiskReport

TRUST_ALPHA = 0.1
ACT_THRESHOLD = 0.08        # below this team score: keep the position as it is
FULL_SIZE_SCORE = 0.5       # a team score of this size takes the whole limit
MIN_TRADE_FRACTION = 0.02   # of equity: smaller adjustments are not worth a trade
CASH_BUFFER = 0.98


def team_scores(final: dict[str, dict[str, float]], trust: dict[str, float]) -> dict[str, float]:
    """ticker -> trust-weighted mean of the analysts' final scores."""
    out: dict[str, float] = {}
    # Each analyst's weight, worked out once rather than once per ticker (the same float).
    weighted = [(max(trust.get(agent_id, 0.5), 0.05) ** 2, scores) for agent_id, scores in final.items()]
    for ticker in sorted(set().union(*final.values())):
        num = den = 0.0
        for w, scores in weighted:
            if ticker in scores:
                num += w * scores[ticker]
                den += w
        out[ticker] = round(num / den, 6) if den else 0.0
    return out


def update_trust(trust: dict[str, float], hit_rates: dict[str, float | None]) -> dict[str, float]:
    new = dict(trust)
    for agent_id, rate in hit_rates.items():
        if rate is None:
            continue
        old = new.get(agent_id, 0.5)
        new[agent_id] = round(old + TRUST_ALPHA * (rate - old), 6)
    return new


def decide(scores: dict[str, float], risk: RiskReport, prices: dict[str, float], net_qty: dict[str, int],
           equity: float, available_cash: float, contributions: dict[str, str]) -> list[OrderDecision]:
    """One decision per ticker; sells and shorts first so buys can use the cash they free."""
    decisions: list[OrderDecision] = []
    cash = available_cash * CASH_BUFFER
    limits_of = risk.limits_by_ticker()
    for ticker in sorted(scores):
        price = prices.get(ticker)
        limits = limits_of.get(ticker)
        score = scores[ticker]
        if not price or limits is None:
            decisions.append(OrderDecision(ticker=ticker, action="hold", quantity=0, confidence=0.0,
                                           reasoning="no price or risk limit today"))
            continue
        current_value = net_qty.get(ticker, 0) * price
        limit = limits.max_position_value
        if abs(score) < ACT_THRESHOLD:
            target = max(-limit, min(limit, current_value))
        else:
            target = max(-1.0, min(1.0, score / FULL_SIZE_SCORE)) * limit
        diff = target - current_value
        conf = round(min(100.0, abs(score) * 150.0), 1)
        why = f"team score {score:+.2f} ({contributions.get(ticker, 'no signals')}); limit {limit:,.0f}"
        if abs(diff) < MIN_TRADE_FRACTION * equity:
            decisions.append(OrderDecision(ticker=ticker, action="hold", quantity=0, confidence=conf,
                                           reasoning=f"hold: {why}; position {current_value:,.0f} is near target {target:,.0f}"))
            continue
        qty = int(abs(diff) // price)
        action = "long" if diff > 0 else "short"
        if qty == 0:
            decisions.append(OrderDecision(ticker=ticker, action="hold", quantity=0, confidence=conf,
                                           reasoning=f"hold: {why}; less than one share to trade"))
            continue
        verb = "buy/cover" if action == "long" else "sell/short"
        decisions.append(OrderDecision(ticker=ticker, action=action, quantity=qty, confidence=conf,
                                       reasoning=f"{verb} {qty}: {why}; target {target:,.0f} from {current_value:,.0f}"))
    # Sells first, then buys sized to the cash left (including what the sells free).
    for d in decisions:
        if d.action == "short":
            cash += d.quantity * prices[d.ticker] * (1.0 if net_qty.get(d.ticker, 0) > 0 else 0.0)
    ordered = sorted(decisions, key=lambda d: (d.action != "short", d.ticker))
    final = []
    for d in ordered:
        if d.action == "long":
            price = prices[d.ticker]
            affordable = int(max(0.0, cash) // price)
            if affordable < d.quantity:
                if affordable == 0:
                    d = d.model_copy(update={"action": "hold", "quantity": 0,
                                             "reasoning": d.reasoning + "; no cash left for it"})
                else:
                    d = d.model_copy(update={"quantity": affordable,
                                             "reasoning": d.reasoning + f"; cut to {affordable} by cash"})
            cash -= d.quantity * price
        final.append(d)
    return final
