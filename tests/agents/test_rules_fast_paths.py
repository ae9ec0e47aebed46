"""The rules agents' fast paths (issue 13) give exactly what the straightforward code gave.

Each ``reference_*`` below is the code as it was before it was tuned; the tuned rules must
return the same values to the last bit (a run's events, trades and learning depend on them),
and the dicts built instead of models must be the models' ``model_dump()``.
"""

from __future__ import annotations

import math
import struct
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from backend.agents.rules import analyst as rules
from backend.agents.rules import portfolio_manager as pm_rules
from backend.pipeline.trading_pipeline import _contributions
from backend.schema.trading import Prediction, TickerSignal

FEATURES = ["trend", "rsi", "momentum", "volatility", "growth", "dcf_gap", "unlabelled"]
TICKERS = ["AAPL", "MSFT", "NVDA", "TSLA", "AMZN"]
AGENTS = ["fundamentals_analyst", "technical_analyst", "sentiment_analyst", "valuation_analyst"]

# Values a skill can give (in [-1, 1], rounded) and the edges: zeros of both signs, the bounds,
# ties in |value * weight|, values either side of the labels' threshold.
values = st.one_of(st.sampled_from([0.0, -0.0, 1.0, -1.0, 0.1, -0.1, 0.05, -0.05, 0.5, -0.5, 1e-9]),
                   st.floats(-1.0, 1.0, allow_nan=False).map(lambda v: round(v, 6)),
                   st.floats(-3.0, 3.0, allow_nan=False))
weight_values = st.one_of(st.sampled_from([0.1, 1.0, 5.0, 2.0, 0.5]), st.floats(0.1, 5.0))
features = st.dictionaries(st.sampled_from(FEATURES), values, max_size=5)
weights = st.dictionaries(st.sampled_from(FEATURES), weight_values, max_size=7)
entries = st.dictionaries(st.sampled_from(TICKERS), st.one_of(
    st.builds(lambda f: {"features": f, "values": {}}, features), st.just({})))
scores = st.one_of(st.sampled_from([0.0, -0.0, 1.0, -1.0, 0.1, -0.1, 0.25, -0.75]),
                   st.floats(-1.0, 1.0, allow_nan=False).map(lambda v: round(v, 6)))
team = st.dictionaries(st.sampled_from(AGENTS), st.dictionaries(st.sampled_from(TICKERS), scores), min_size=1)
trust = st.dictionaries(st.sampled_from(AGENTS), st.one_of(st.floats(0.0, 1.0), st.just(0.01)))


# -- the code before tuning ---------------------------------------------------------------

def reference_clip(x: float, lo: float = -1.0, hi: float = 1.0) -> float:
    return max(lo, min(hi, x))


def reference_confidence(score: float) -> float:
    return round(min(1.0, abs(score) * 2.0) * 100.0, 1)


def reference_score_features(features: dict[str, float], weights: dict[str, float]) -> float:
    total = sum(weights.get(f, 1.0) for f in features)
    if total <= 0:
        return 0.0
    return reference_clip(sum(weights.get(f, 1.0) * v for f, v in features.items()) / total)


def reference_explain(features: dict[str, float], weights: dict[str, float], score: float) -> str:
    ranked = sorted(features.items(), key=lambda kv: -abs(kv[1] * weights.get(kv[0], 1.0)))[:2]
    parts = [f"{rules.FEATURE_LABELS.get(f, f)} {'+' if v >= 0 else ''}{v:.2f}" for f, v in ranked]
    return f"{rules.label(score)} (score {score:+.2f}): driven by " + " and ".join(parts)


def reference_make_signals(features_by_ticker: dict[str, dict[str, Any]], weights: dict[str, float],
                           tickers: list[str]) -> list[TickerSignal]:
    out = []
    for ticker in tickers:
        entry = features_by_ticker.get(ticker)
        if not entry:
            out.append(TickerSignal(ticker=ticker, signal="neutral", confidence=0.0, score=0.0,
                                    reasoning="no data for this ticker today"))
            continue
        feats = entry["features"]
        score = round(reference_score_features(feats, weights), 6)
        out.append(TickerSignal(ticker=ticker, signal=rules.label(score), confidence=reference_confidence(score),
                                score=score, reasoning=reference_explain(feats, weights, score)))
    return out


def reference_revise(own: dict[str, float], others: dict[str, list[float]]) -> dict[str, float]:
    revised = {}
    for ticker, score in own.items():
        peer = others.get(ticker) or []
        if not peer:
            revised[ticker] = score
            continue
        consensus = sum(peer) / len(peer)
        pull = 0.25 * (1.0 - min(1.0, abs(score)))
        revised[ticker] = round(reference_clip(score + pull * (consensus - score)), 6)
    return revised


def reference_team_scores(final: dict[str, dict[str, float]], trust: dict[str, float]) -> dict[str, float]:
    out: dict[str, float] = {}
    for ticker in sorted({t for s in final.values() for t in s}):
        num = den = 0.0
        for agent_id, s in final.items():
            if ticker in s:
                w = max(trust.get(agent_id, 0.5), 0.05) ** 2
                num += w * s[ticker]
                den += w
        out[ticker] = round(num / den, 6) if den else 0.0
    return out


def same_floats(a: Any, b: Any) -> bool:
    """Equal, and bit for bit where they are floats (-0.0 is not 0.0 here, NaN is NaN)."""
    if isinstance(a, float) or isinstance(b, float):
        return type(a) is type(b) and struct.pack("<d", a) == struct.pack("<d", b)
    if isinstance(a, dict):
        return list(a) == list(b) and all(same_floats(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same_floats(x, y) for x, y in zip(a, b))
    return a == b


# -- the properties -------------------------------------------------------------------------

@given(st.one_of(values, st.floats(allow_nan=True, allow_infinity=True)))
def test_clip_and_confidence_are_the_min_max_forms(x: float) -> None:
    assert same_floats(rules.clip(x), reference_clip(x))
    assert same_floats(rules.clip(x, 0.0, 0.5), reference_clip(x, 0.0, 0.5))
    if not math.isnan(x):
        assert same_floats(rules.confidence(x), reference_confidence(x))


@settings(max_examples=300)
@given(features, weights)
def test_score_and_explanation_are_the_reference_ones(feats: dict[str, float], w: dict[str, float]) -> None:
    assert same_floats(rules.score_features(feats, w), reference_score_features(feats, w))
    score = round(reference_score_features(feats, w), 6)
    assert rules.explain(feats, w, score) == reference_explain(feats, w, score)


@settings(max_examples=300)
@given(entries, weights)
def test_signal_rows_are_the_reference_signals_dumped(by_ticker: dict[str, Any], w: dict[str, float]) -> None:
    rows = rules.signal_rows(by_ticker, w, TICKERS)
    expected = [s.model_dump() for s in reference_make_signals(by_ticker, w, TICKERS)]
    assert same_floats(rows, expected)
    # valid as they are: validating them again changes nothing
    assert same_floats([TickerSignal(**row).model_dump() for row in rows], rows)
    assert same_floats([s.model_dump() for s in rules.make_signals(by_ticker, w, TICKERS)], expected)


@settings(max_examples=300)
@given(team)
def test_prediction_rows_are_the_models_dumped(final: dict[str, dict[str, float]]) -> None:
    for agent_id, s in final.items():
        rows = rules.prediction_rows(agent_id, "2025-01-02", s)
        expected = [Prediction(agent_id=agent_id, ticker=t, date="2025-01-02", direction=rules.direction(v),
                               confidence=reference_confidence(v)).model_dump() for t, v in s.items()]
        assert same_floats(rows, expected)
        assert same_floats([p.model_dump() for p in rules.predictions(agent_id, "2025-01-02", s)], expected)


@settings(max_examples=300)
@given(team, trust)
def test_conference_and_team_view_are_the_reference_ones(final: dict[str, dict[str, float]],
                                                         t: dict[str, float]) -> None:
    for me, own in final.items():
        others: dict[str, list[float]] = {}
        for other_id, s in final.items():
            if other_id != me:
                for ticker, v in s.items():
                    others.setdefault(ticker, []).append(v)
        assert same_floats(rules.revise(own, others), reference_revise(own, others))
    assert same_floats(pm_rules.team_scores(final, t), reference_team_scores(final, t))
    assert same_floats(pm_rules.team_scores(final, {}), reference_team_scores(final, {}))
    expected = {ticker: ", ".join(f"{a.split('_')[0]} {rules.label(final[a][ticker])}"
                                  for a in final if ticker in final[a])
                for ticker in reference_team_scores(final, t)}
    assert _contributions(final) == expected and list(_contributions(final)) == list(expected)
