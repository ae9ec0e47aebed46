"""News sentiment features for the sentiment analyst (standard library only)."""

import datetime as dt


def clip(x, lo=-1.0, hi=1.0):
    return max(lo, min(hi, x))


def analyse(items, as_of):
    weighted = total = 0.0
    recent, older = [], []
    headline = ""
    for item in items:
        age = (as_of - dt.date.fromisoformat(item["date"][:10])).days
        if age < 0:
            continue
        weight = 0.5 ** (age / 3.0)
        weighted += weight * item["sentiment"]
        total += weight
        (recent if age <= 3 else older if age <= 10 else []).append(item["sentiment"])
        headline = item.get("headline", headline)
    tone = weighted / total if total else 0.0
    shift = (sum(recent) / len(recent) if recent else 0.0) - (sum(older) / len(older) if older else 0.0)
    buzz = min(1.0, len(recent) / 4.0) * (1 if tone > 0 else -1 if tone < 0 else 0)
    return {
        "features": {"tone": round(clip(tone * 2.0), 6), "shift": round(clip(shift), 6), "buzz": round(clip(buzz), 6)},
        "values": {"tone": round(tone, 6), "recent_count": len(recent), "latest_headline": headline},
    }


def run(payload):
    as_of = dt.date.fromisoformat(payload["as_of"])
    return {"tickers": {t: analyse(d["items"], as_of) for t, d in payload["tickers"].items()}}
