"""bench/evolution.py's statistics: the figure it prints is the right one for known inputs."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bench.evolution import paired_summary


def test_identical_differences_have_a_point_interval():
    s = paired_summary([0.02] * 20)
    assert (s.n, s.mean, s.median, s.win_share) == (20, pytest.approx(0.02), pytest.approx(0.02), 1.0)
    assert s.low == pytest.approx(0.02) and s.high == pytest.approx(0.02)


def test_ties_are_not_wins_and_losses_count_against():
    s = paired_summary([0.0, 0.0, -0.01, 0.03])
    assert s.win_share == 0.25
    assert s.mean == pytest.approx(0.005) and s.median == 0.0


def test_the_interval_matches_the_normal_theory_one_on_a_large_sample():
    # 400 draws of N(0.01, 0.02): the bootstrap 95 % interval of the mean is
    # close to mean +- 1.96 sd / sqrt(n).
    values = np.random.default_rng(5).normal(0.01, 0.02, 400)
    s = paired_summary(values.tolist())
    half = 1.96 * values.std(ddof=1) / np.sqrt(values.size)
    assert s.mean == pytest.approx(values.mean())
    assert s.low == pytest.approx(values.mean() - half, abs=0.15 * half)
    assert s.high == pytest.approx(values.mean() + half, abs=0.15 * half)


def test_a_wider_confidence_gives_a_wider_interval_and_the_same_inputs_the_same_one():
    values = np.random.default_rng(1).normal(0.0, 1.0, 30).tolist()
    narrow, wide = paired_summary(values, confidence=0.8), paired_summary(values, confidence=0.99)
    assert wide.low < narrow.low < narrow.high < wide.high
    assert paired_summary(values) == paired_summary(values)


@settings(max_examples=50, deadline=None, database=None)
@given(st.lists(st.floats(-1.0, 1.0, allow_nan=False), min_size=1, max_size=40))
def test_the_interval_lies_within_the_data_and_holds_the_mean_of_a_symmetric_sample(values):
    s = paired_summary(values, resamples=500)
    assert min(values) - 1e-12 <= s.low <= s.high <= max(values) + 1e-12
    mirrored = paired_summary(values + [-v for v in values], resamples=500)
    assert mirrored.mean == pytest.approx(0.0, abs=1e-12)
    assert mirrored.low <= 0.0 <= mirrored.high


@pytest.mark.parametrize("bad, message", [([], "at least one"), ([1.0], "confidence")])
def test_bad_input_is_named(bad, message):
    with pytest.raises(ValueError, match=message):
        paired_summary(bad, confidence=0.95 if bad == [] else 1.5)
