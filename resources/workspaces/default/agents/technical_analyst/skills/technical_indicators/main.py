"""Technical indicators for the technical analyst (standard library only)."""

import math


def clip(x, lo=-1.0, hi=1.0):
    return max(lo, min(hi, x))


def sma(values, n):
    window = values[-n:]
    return sum(window) / len(window)


def rsi(closes, n=14):
    window = closes[-(n + 1):]
    gains = losses = 0.0
    for prev, cur in zip(window, window[1:]):
        change = cur - prev
        if change > 0:
            gains += change
        else:
            losses -= change
    if gains + losses == 0:
        return 50.0
    return 100.0 * gains / (gains + losses)


def volatility(closes, n=20):
    window = closes[-(n + 1):]
    rets = [b / a - 1.0 for a, b in zip(window, window[1:])]
    if len(rets) < 2:
        return 0.0
    mean = sum(rets) / len(rets)
    var = sum((r - mean) ** 2 for r in rets) / (len(rets) - 1)
    return math.sqrt(var) * math.sqrt(252)


def analyse(closes):
    fast, slow = sma(closes, 10), sma(closes, 30)
    rsi14 = rsi(closes)
    lookback = min(20, len(closes) - 1)
    mom = closes[-1] / closes[-1 - lookback] - 1.0
    vol = volatility(closes)
    return {
        "features": {
            "trend": round(clip((fast / slow - 1.0) * 20.0), 6),
            "rsi": round(clip((50.0 - rsi14) / 50.0), 6),
            "momentum": round(clip(mom * 5.0), 6),
            "volatility": round(clip(-(vol - 0.35) * 3.0), 6),
        },
        "values": {
            "sma_fast": round(fast, 4), "sma_slow": round(slow, 4), "rsi14": round(rsi14, 2),
            "mom20": round(mom, 6), "vol20": round(vol, 6), "last_close": closes[-1],
        },
    }


def run(payload):
    return {"tickers": {t: analyse(d["close"]) for t, d in payload["tickers"].items()}}
