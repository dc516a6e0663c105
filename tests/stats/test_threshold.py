"""Thresholds: Youden's J and a target sensitivity, at midpoints between scores."""

from __future__ import annotations

import numpy as np
import pytest

from hccp53.errors import InputError
from hccp53.stats import apply_threshold, binary_metrics, threshold_for_sensitivity, youden_threshold


def test_youden_threshold_by_hand() -> None:
    y = np.array([0, 0, 0, 1, 0, 1, 1, 1])
    s = np.array([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8])
    # cut at 0.35: sens 1, spec 3/4 (J 0.75); at 0.55: sens 3/4, spec 1 (J 0.75): the higher threshold wins
    assert youden_threshold(y, s) == pytest.approx(0.55)


def test_youden_is_the_best_j_over_every_cut() -> None:
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 200)
    s = np.round(y + rng.normal(0, 1, 200), 1)
    t = youden_threshold(y, s)
    best = binary_metrics(y, apply_threshold(s, t))
    j = best["sensitivity"] + best["specificity"] - 1
    for cut in np.unique(s):
        m = binary_metrics(y, apply_threshold(s, cut))
        assert m["sensitivity"] + m["specificity"] - 1 <= j + 1e-12


def test_threshold_for_sensitivity_is_the_highest_reaching_it() -> None:
    rng = np.random.default_rng(2)
    y = rng.integers(0, 2, 100)
    s = y + rng.normal(0, 1, 100)
    t = threshold_for_sensitivity(y, s, 0.9)
    assert binary_metrics(y, apply_threshold(s, t))["sensitivity"] >= 0.9
    above = np.sort(s[s > t])[0] + 1e-9  # the next cut up loses a positive
    assert binary_metrics(y, apply_threshold(s, above))["sensitivity"] < 0.9


def test_apply_threshold_is_inclusive() -> None:
    np.testing.assert_array_equal(apply_threshold([0.2, 0.5, 0.7], 0.5), [0, 1, 1])


def test_extreme_targets_and_huge_scores() -> None:
    y = np.array([0, 1, 0, 1])
    s = np.array([1.0, 2.0, 3.0, 4.0])
    assert threshold_for_sensitivity(y, s, 1.0) == 1.5  # every positive called
    assert threshold_for_sensitivity(y, s, 0.0) == 5.0  # above the top score: no one called
    big = s * 1e17  # score + 1 is the score itself: the top threshold must still call no one positive
    assert apply_threshold(big, threshold_for_sensitivity(y, big, 0.0)).sum() == 0


def test_bad_input_is_one_sentence() -> None:
    with pytest.raises(InputError, match="target sensitivity must be between 0 and 1, got 80"):
        threshold_for_sensitivity([0, 1], [0.1, 0.9], 80)
    with pytest.raises(InputError, match="one model at a time"):
        youden_threshold([0, 1], [[0.1, 0.9], [0.2, 0.3]])
    with pytest.raises(InputError, match="needs both classes"):
        youden_threshold([1, 1], [0.1, 0.9])
