"""Build each role's skill payload from the day's market snapshot.

Analysts see history up to the previous close only: no look-ahead.
"""

from __future__ import annotations

from typing import Any

from backend.market.base import MarketSnapshot

LOOKBACK = 60


def technical_payload(snap: MarketSnapshot) -> dict[str, Any]:
    return {"tickers": {
        t: {"close": [b.close for b in bars[-LOOKBACK:]], "volume": [b.volume for b in bars[-LOOKBACK:]]}
        for t, bars in snap.bars.items() if len(bars) >= 2
    }}


def fundamentals_payload(snap: MarketSnapshot) -> dict[str, Any]:
    out = {}
    for t, f in snap.fundamentals.items():
        if f is None or f.revenue <= 0:
            continue
        out[t] = {
            "revenue_growth": f.revenue_growth, "gross_margin": f.gross_margin,
            "operating_margin": f.operating_margin, "fcf_margin": f.free_cash_flow / f.revenue,
            "debt_to_equity": max(0.0, f.debt_to_equity),
        }
    return {"tickers": out}


def sentiment_payload(snap: MarketSnapshot) -> dict[str, Any]:
    return {"as_of": snap.date.isoformat(), "tickers": {
        t: {"items": [{"date": n.date.isoformat(), "sentiment": max(-1.0, min(1.0, n.sentiment)),
                       "headline": n.headline} for n in items]}
        for t, items in snap.news.items()
    }}


def valuation_payload(snap: MarketSnapshot) -> dict[str, Any]:
    out = {}
    for t, f in snap.fundamentals.items():
        bars = snap.bars.get(t) or []
        if f is None or not bars or f.shares_outstanding <= 0:
            continue
        out[t] = {"price": bars[-1].close, "free_cash_flow": f.free_cash_flow,
                  "revenue_growth": f.revenue_growth, "shares_outstanding": f.shares_outstanding,
                  "pe_ratio": f.pe_ratio}
    return {"tickers": out}


def risk_payload(snap: MarketSnapshot, equity: float, positions: dict[str, float]) -> dict[str, Any]:
    return {
        "equity": equity,
        "positions": positions,
        "tickers": {t: {"close": [b.close for b in bars[-LOOKBACK:]]} for t, bars in snap.bars.items() if len(bars) >= 2},
    }


ANALYST_PAYLOADS = {
    "technical_analyst": technical_payload,
    "fundamentals_analyst": fundamentals_payload,
    "sentiment_analyst": sentiment_payload,
    "valuation_analyst": valuation_payload,
}
