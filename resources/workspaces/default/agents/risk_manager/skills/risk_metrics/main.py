"""Position limits and warnings for the risk manager (standard library only)."""

import math


def annual_vol(closes, n=20):
    window = closes[-(n + 1):]
    rets = [b / a - 1.0 for a, b in zip(window, window[1:])]
    if len(rets) < 2:
        return 0.0
    mean = sum(rets) / len(rets)
    return math.sqrt(sum((r - mean) ** 2 for r in rets) / (len(rets) - 1)) * math.sqrt(252)


def run(payload):
    equity = max(payload["equity"], 0.0)
    base = payload.get("base_limit", 0.2)
    target = payload.get("target_vol", 0.3)
    positions = payload["positions"]
    out = {}
    for t, d in payload["tickers"].items():
        vol = annual_vol(d["close"])
        scale = min(1.0, target / vol) if vol > 0 else 1.0
        limit = equity * base * scale
        warnings = []
        held = abs(positions.get(t, 0.0))
        if equity > 0 and held > equity * base * 1.05:
            warnings.append(f"{t} is {held / equity:.0%} of equity, above the {base:.0%} limit")
        if vol > 0.6:
            warnings.append(f"{t} volatility {vol:.0%} a year is high; limit cut to {limit:,.0f}")
        out[t] = {"volatility": round(vol, 6), "max_position_value": round(limit, 2), "warnings": warnings}
    gross = sum(abs(v) for v in positions.values()) / equity if equity > 0 else 0.0
    port_warnings = [f"gross exposure {gross:.2f}x equity is above 1.5x"] if gross > 1.5 else []
    return {"tickers": out, "portfolio": {"gross_exposure": round(gross, 6), "warnings": port_warnings}}
