"""Rules policy of the four analysts: weighted features -> signals, and learning.

Each analyst turns its skill's features (each in [-1, 1], positive = bullish)
into a score with its own feature weights. After settlement the weights move
towards the features that pointed the right way (a multiplicative update), so
an analyst's behaviour evolves with outcomes.
"""

from __future__ import annotations

import math
from operator import mul
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
    """``max(lo, min(hi, x))``, written as the comparisons those two make (``min`` keeps ``hi``
    unless ``x < hi``, ``max`` keeps ``lo`` unless the result is ``> lo``): the same value for
    every float, NaN and -0.0 included, without two builtin calls (a day clips ~130 times)."""
    x = x if x < hi else hi
    return x if x > lo else lo


def label(score: float) -> str:
    return "bull" if score > SIGNAL_THRESHOLD else "bear" if score < -SIGNAL_THRESHOLD else "neutral"


_DIRECTIONS = {"bull": "up", "bear": "down", "neutral": "neutral"}


def direction(score: float) -> str:
    return _DIRECTIONS[label(score)]


def confidence(score: float) -> float:
    strength = abs(score) * 2.0
    # min(1.0, strength), as the comparison min makes (see clip)
    return round((strength if strength < 1.0 else 1.0) * 100.0, 1)


def _feature_weights(features: dict[str, float], weights: dict[str, float]) -> list[float]:
    """Each feature's weight, in the features' order (an unlearned feature weighs 1)."""
    get = weights.get
    return [get(f, 1.0) for f in features]


def _weighted_score(contributions: list[float], total: float) -> float:
    # The weighted mean, summed in the features' order: sum() over the same products as
    # ``sum(w * v for ...)`` gives the same float.
    if total <= 0:
        return 0.0
    return clip(sum(contributions) / total)


def score_features(features: dict[str, float], weights: dict[str, float]) -> float:
    ws = _feature_weights(features, weights)
    return _weighted_score(list(map(mul, ws, features.values())), sum(ws))


def _explanation(features: dict[str, float], contributions: list[float], score: float) -> str:
    # The two features that moved the score most (|value * weight|, ties in the features' order:
    # sorted is stable), ``contributions`` being those products in the features' order.
    names = list(features)
    strength = [-abs(c) for c in contributions]
    ranked = sorted(range(len(names)), key=strength.__getitem__)[:2]
    parts = []
    for i in ranked:
        f = names[i]
        v = features[f]
        parts.append(f"{FEATURE_LABELS.get(f, f)} {'+' if v >= 0 else ''}{v:.2f}")
    return f"{label(score)} (score {score:+.2f}): driven by " + " and ".join(parts)


def explain(features: dict[str, float], weights: dict[str, float], score: float) -> str:
    # v * w and w * v are the same float (IEEE multiplication commutes): the products the score summed.
    return _explanation(features, list(map(mul, _feature_weights(features, weights), features.values())), score)


def signal_rows(features_by_ticker: dict[str, dict[str, Any]], weights: dict[str, float],
                tickers: list[str]) -> list[dict[str, Any]]:
    """:func:`make_signals` as the signals' ``model_dump()`` dicts (TickerSignal's fields, in
    its order), built without a model each: the pipeline only reads and sends them, and the
    values are valid by construction (a label, a confidence in [0, 100], a score in [-1, 1];
    tests/agents/test_rules_fast_paths.py checks them against the model)."""
    out = []
    for ticker in tickers:
        entry = features_by_ticker.get(ticker)
        if not entry:
            out.append({"ticker": ticker, "signal": "neutral", "confidence": 0.0,
                        "reasoning": "no data for this ticker today", "score": 0.0})
            continue
        features = entry["features"]
        ws = _feature_weights(features, weights)
        contributions = list(map(mul, ws, features.values()))
        score = round(_weighted_score(contributions, sum(ws)), 6)
        out.append({"ticker": ticker, "signal": label(score), "confidence": confidence(score),
                    "reasoning": _explanation(features, contributions, score), "score": score})
    return out


def make_signals(features_by_ticker: dict[str, dict[str, Any]], weights: dict[str, float],
                 tickers: list[str]) -> list[TickerSignal]:
    """One signal per ticker; tickers without data are neutral with 0 confidence."""
    return [TickerSignal(**row) for row in signal_rows(features_by_ticker, weights, tickers)]


def revise(own: dict[str, float], others: dict[str, list[float]]) -> dict[str, float]:
    """One conference cycle: move towards the others' mean, less when confident."""
    revised = {}
    for ticker, score in own.items():
        peer = others.get(ticker) or []
        if not peer:
            revised[ticker] = score
            continue
        consensus = sum(peer) / len(peer)
        strength = abs(score)
        pull = 0.25 * (1.0 - (strength if strength < 1.0 else 1.0))  # min(1.0, |score|), as in clip
        revised[ticker] = round(clip(score + pull * (consensus - score)), 6)
    return revised


def prediction_rows(agent_id: str, date: str, scores: dict[str, float]) -> list[dict[str, Any]]:
    """:func:`predictions` as the calls' ``model_dump()`` dicts (Prediction's fields, in its
    order): a direction and a confidence in [0, 100] are valid by construction."""
    return [{"agent_id": agent_id, "ticker": t, "date": date, "direction": direction(s), "confidence": confidence(s)}
            for t, s in scores.items()]


def predictions(agent_id: str, date: str, scores: dict[str, float]) -> list[Prediction]:
    return [Prediction(**row) for row in prediction_rows(agent_id, date, scores)]


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
