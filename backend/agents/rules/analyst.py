"""Rules policy of the four analysts: weighted features -> signals, and learning.

Each analyst turns its skill's features (each in [-1, 1], positive = bullish)
into a score with its own feature weights. After settlement the weights move
towards the features that pointed the right way (a multiplicative update), so
an analyst's behaviour evolves with outcomes.
"""

from __future__ import annotations

import math
from typing import Any

from backend.schema.trading import Prediction, TickerSignal

SIGNAL_THRESHOLD = 0.1
LEARNING_RATE = 0.15
WEIGHT_BOUNDS = (0.1, 5.0)

FEATURE_LABELS = {
    "trend": "MA trend", "rsi": "RSI", "momentum": "momentum", "volatility": "volatility",
    "growth": "revenue growth", "profitability": "margins", "cash_quality": "cash flow", "leverage": "leverage",
    "tone": "news tone", "shift": "tone shift", "buzz": "news volume",
    "dcf_gap": "DCF gap", "multiple_gap": "P/E vs peers",
}


def clip(x: float, lo: float = -1.0, hi: float = 1.0) -> float:
    return max(lo, min(hi, x))


def label(score: float) -> str:
    return "bull" if score > SIGNAL_THRESHOLD else "bear" if score < -SIGNAL_THRESHOLD else "neutral"


_DIRECTIONS = {"bull": "up", "bear": "down", "neutral": "neutral"}


def direction(score: float) -> str:
    return _DIRECTIONS[label(score)]


def confidence(score: float) -> float:
    return round(min(1.0, abs(score) * 2.0) * 100.0, 1)


def score_features(features: dict[str, float], weights: dict[str, float]) -> float:
    total = sum(weights.get(f, 1.0) for f in features)
    if total <= 0:
        return 0.0
    return clip(sum(weights.get(f, 1.0) * v for f, v in features.items()) / total)


def explain(features: dict[str, float], weights: dict[str, float], score: float) -> str:
    ranked = sorted(features.items(), key=lambda kv: -abs(kv[1] * weights.get(kv[0], 1.0)))[:2]
    parts = [f"{FEATURE_LABELS.get(f, f)} {'+' if v >= 0 else ''}{v:.2f}" for f, v in ranked]
    return f"{label(score)} (score {score:+.2f}): driven by " + " and ".join(parts)


def make_signals(features_by_ticker: dict[str, dict[str, Any]], weights: dict[str, float],
                 tickers: list[str]) -> list[TickerSignal]:
    """One signal per ticker; tickers without data are neutral with 0 confidence."""
    out = []
    for ticker in tickers:
        entry = features_by_ticker.get(ticker)
        if not entry:
            out.append(TickerSignal(ticker=ticker, signal="neutral", confidence=0.0, score=0.0,
                                    reasoning="no data for this ticker today"))
            continue
        features = entry["features"]
        score = round(score_features(features, weights), 6)
        out.append(TickerSignal(ticker=ticker, signal=label(score), confidence=confidence(score),
                                score=score, reasoning=explain(features, weights, score)))
    return out


def revise(own: dict[str, float], others: dict[str, list[float]]) -> dict[str, float]:
    """One conference cycle: move towards the others' mean, less when confident."""
    revised = {}
    for ticker, score in own.items():
        peer = others.get(ticker) or []
        if not peer:
            revised[ticker] = score
            continue
        consensus = sum(peer) / len(peer)
        pull = 0.25 * (1.0 - min(1.0, abs(score)))
        revised[ticker] = round(clip(score + pull * (consensus - score)), 6)
    return revised


def predictions(agent_id: str, date: str, scores: dict[str, float]) -> list[Prediction]:
    return [Prediction(agent_id=agent_id, ticker=t, date=date, direction=direction(s), confidence=confidence(s))
            for t, s in scores.items()]


def learn(weights: dict[str, float], features_by_ticker: dict[str, dict[str, Any]],
          realized: dict[str, float]) -> dict[str, float]:
    """Multiplicative update: features that pointed the way of the day's return gain weight."""
    new = dict(weights)
    rewards: dict[str, list[float]] = {}
    for ticker, ret in realized.items():
        entry = features_by_ticker.get(ticker)
        if not entry or ret == 0:
            continue
        sign = 1.0 if ret > 0 else -1.0
        for feature, value in entry["features"].items():
            rewards.setdefault(feature, []).append(value * sign)
    for feature, values in rewards.items():
        mean = sum(values) / len(values)
        w = new.get(feature, 1.0) * math.exp(LEARNING_RATE * mean)
        new[feature] = round(min(WEIGHT_BOUNDS[1], max(WEIGHT_BOUNDS[0], w)), 6)
    return new
