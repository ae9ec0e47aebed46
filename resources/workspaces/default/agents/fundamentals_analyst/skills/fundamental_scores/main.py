"""Fundamental scores for the fundamentals analyst (standard library only)."""


def clip(x, lo=-1.0, hi=1.0):
    return max(lo, min(hi, x))


def score(f):
    return {
        "features": {
            "growth": round(clip(f["revenue_growth"] * 5.0), 6),
            "profitability": round(clip((f["operating_margin"] - 0.15) * 5.0), 6),
            "cash_quality": round(clip(f["fcf_margin"] * 5.0 - 0.5), 6),
            "leverage": round(clip(0.5 - f["debt_to_equity"]), 6),
        },
        "values": {k: f[k] for k in ("revenue_growth", "gross_margin", "operating_margin", "fcf_margin", "debt_to_equity")},
    }


def run(payload):
    return {"tickers": {t: score(f) for t, f in payload["tickers"].items()}}
