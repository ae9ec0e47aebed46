"""DCF and multiples for the valuation analyst (standard library only)."""

import statistics


def clip(x, lo=-1.0, hi=1.0):
    return max(lo, min(hi, x))


def dcf_per_share(fcf, growth, shares, rate, terminal):
    growth = max(-0.2, min(0.4, growth))
    value, cash = 0.0, fcf
    for year in range(1, 6):
        g = growth + (terminal - growth) * (year - 1) / 4.0
        cash *= 1.0 + g
        value += cash / (1.0 + rate) ** year
    terminal_value = cash * (1.0 + terminal) / (rate - terminal)
    value += terminal_value / (1.0 + rate) ** 5
    return value / shares


def run(payload):
    rate = payload.get("discount_rate", 0.09)
    terminal = payload.get("terminal_growth", 0.025)
    tickers = payload["tickers"]
    pes = [d["pe_ratio"] for d in tickers.values() if d["pe_ratio"] > 0]
    peer_pe = statistics.median(pes) if pes else 20.0
    out = {}
    for t, d in tickers.items():
        value = dcf_per_share(d["free_cash_flow"], d["revenue_growth"], d["shares_outstanding"], rate, terminal)
        margin = value / d["price"] - 1.0
        pe = d["pe_ratio"]
        multiple = (peer_pe - pe) / peer_pe if pe > 0 else -1.0
        out[t] = {
            "features": {"dcf_gap": round(clip(margin * 2.0), 6), "multiple_gap": round(clip(multiple * 2.0), 6)},
            "values": {"intrinsic_value": round(value, 4), "margin_of_safety": round(margin, 6),
                       "pe": pe, "peer_pe": round(peer_pe, 4)},
        }
    return {"tickers": out}
