"""Vectorised bootstrap: equal to a loop over sklearn, paired, stratified, seeded; jackknife; BCa; metrics."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import bootstrap as scipy_bootstrap
from sklearn.metrics import roc_auc_score

from hccp53.stats import (
    auc_confidence,
    bca_ci,
    binary_metrics,
    bootstrap,
    bootstrap_auc,
    bootstrap_binary_metrics,
    bootstrap_indices,
    jackknife_auc,
    percentile_ci,
)


@pytest.fixture
def tied() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(11)
    y = rng.integers(0, 2, 60)
    return y, np.round(y + rng.normal(0, 1, (3, 60)), 1)


def test_bootstrap_auc_equals_a_loop_over_sklearn(tied: tuple[np.ndarray, np.ndarray]) -> None:
    y, scores = tied
    indices = bootstrap_indices(y, 200, seed=1)
    loop = np.array([[roc_auc_score(y[i], s[i]) for s in scores] for i in indices])
    np.testing.assert_allclose(bootstrap_auc(y, scores, indices), loop, atol=1e-14)
    np.testing.assert_allclose(bootstrap_auc(y, scores[0], indices), loop[:, 0], atol=1e-14)


def test_the_ranking_path_for_large_samples_agrees(tied: tuple[np.ndarray, np.ndarray],
                                                   monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    y, scores = tied
    indices = bootstrap_indices(y, 100, seed=8, stratified=False)
    kernel = bootstrap_auc(y, scores, indices)
    monkeypatch.setattr(bootstrap, "KERNEL_PAIRS", 0)
    ranked = bootstrap_auc(y, scores, indices)
    np.testing.assert_allclose(ranked, kernel, atol=1e-14)
    loop = np.array([[roc_auc_score(y[i], s[i]) for s in scores] for i in indices])
    np.testing.assert_allclose(ranked, loop, atol=1e-14)


def test_stratified_resamples_keep_the_class_counts_and_are_seeded(tied: tuple[np.ndarray, np.ndarray]) -> None:
    y, _ = tied
    indices = bootstrap_indices(y, 100, seed=2)
    assert indices.shape == (100, y.size)
    assert (y[indices].sum(axis=1) == y.sum()).all()
    np.testing.assert_array_equal(indices, bootstrap_indices(y, 100, seed=2))
    assert not np.array_equal(indices, bootstrap_indices(y, 100, seed=3))
    free = bootstrap_indices(y, 100, seed=2, stratified=False)
    assert len(set(y[free].sum(axis=1))) > 1


def test_shared_resamples_pair_the_models() -> None:
    rng = np.random.default_rng(4)
    y = rng.integers(0, 2, 80)
    a = y + rng.normal(0, 1, 80)
    b = a + rng.normal(0, 0.3, 80)  # a close, correlated competitor
    indices = bootstrap_indices(y, 500, seed=4)
    paired = bootstrap_auc(y, np.vstack([a, b]), indices)
    unpaired = bootstrap_auc(y, b, bootstrap_indices(y, 500, seed=5))
    # the same resamples for both models cancel most of the resampling noise in their difference
    assert np.std(paired[:, 0] - paired[:, 1]) < 0.5 * np.std(paired[:, 0] - unpaired)


def test_jackknife_equals_leaving_each_case_out(tied: tuple[np.ndarray, np.ndarray]) -> None:
    y, scores = tied
    reference = np.array([[roc_auc_score(np.delete(y, i), np.delete(s, i)) for s in scores] for i in range(y.size)])
    np.testing.assert_allclose(jackknife_auc(y, scores), reference, atol=1e-14)


def test_bca_equals_scipy_for_the_mean() -> None:
    rng = np.random.default_rng(5)
    x = rng.exponential(size=40)
    res = scipy_bootstrap((x,), np.mean, n_resamples=4000, method="BCa", random_state=np.random.default_rng(6))
    # the same resamples and jackknife, computed our way
    indices = np.random.default_rng(6).integers(0, x.size, size=(4000, x.size))
    boot = x[indices].mean(axis=1)
    jack = (x.sum() - x) / (x.size - 1)
    lo, hi = bca_ci(x.mean(), boot, jack)
    assert lo == pytest.approx(res.confidence_interval.low, rel=0.02)
    assert hi == pytest.approx(res.confidence_interval.high, rel=0.02)
    p_lo, p_hi = percentile_ci(boot)
    assert lo > p_lo and hi > p_hi  # right-skewed statistic: BCa shifts the interval up


def test_binary_metrics_by_hand() -> None:
    y = np.array([1, 1, 1, 0, 0, 0, 0])
    p = np.array([1, 1, 0, 1, 0, 0, 0])
    m = binary_metrics(y, p)
    assert m == pytest.approx({"accuracy": 5 / 7, "sensitivity": 2 / 3, "specificity": 3 / 4, "precision": 2 / 3,
                               "npv": 3 / 4, "f1": 2 / 3})  # fmt: skip
    assert np.isnan(binary_metrics(y, np.zeros(7, int))["precision"])


def test_bootstrap_metrics_equal_a_loop(tied: tuple[np.ndarray, np.ndarray]) -> None:
    y, scores = tied
    predicted = (scores[0] > 0.5).astype(int)
    indices = bootstrap_indices(y, 50, seed=7)
    boot = bootstrap_binary_metrics(y, predicted, indices)
    for b, rows in enumerate(indices):
        for name, value in binary_metrics(y[rows], predicted[rows]).items():
            assert boot[name][b] == pytest.approx(value, nan_ok=True)


def test_auc_confidence_table(tied: tuple[np.ndarray, np.ndarray]) -> None:
    y, scores = tied
    named = {"a": scores[0], "b": scores[1]}
    for method in ("bca", "percentile", "delong"):
        table = auc_confidence(y, named, n_resamples=400, seed=1, method=method)
        assert list(table.index) == ["a", "b"]
        assert (table.lower < table.auc).all() and (table.auc < table.upper).all()
