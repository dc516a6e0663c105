"""Vectorised bootstrap: equal to a loop over sklearn, paired, stratified, seeded; jackknife; BCa; metrics."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import bootstrap as scipy_bootstrap
from sklearn.metrics import roc_auc_score

from hccp53.errors import InputError
from hccp53.stats import (
    auc,
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
    res = scipy_bootstrap((x,), np.mean, n_resamples=4000, method="BCa", rng=np.random.default_rng(6))
    # scipy draws default_rng(6).integers(0, n, (B, n)): the same resamples, and the same jackknife, our way
    indices = np.random.default_rng(6).integers(0, x.size, size=(4000, x.size))
    boot = x[indices].mean(axis=1)
    np.testing.assert_array_equal(boot, res.bootstrap_distribution)
    jack = (x.sum() - x) / (x.size - 1)
    lo, hi = bca_ci(x.mean(), boot, jack)
    assert lo == pytest.approx(res.confidence_interval.low, abs=1e-12)
    assert hi == pytest.approx(res.confidence_interval.high, abs=1e-12)
    p_lo, p_hi = percentile_ci(boot)
    assert lo > p_lo and hi > p_hi  # right-skewed statistic: BCa shifts the interval up
    res = scipy_bootstrap((x,), np.mean, n_resamples=4000, method="percentile", rng=np.random.default_rng(6))
    assert (p_lo, p_hi) == pytest.approx(tuple(res.confidence_interval), abs=1e-12)


def test_bca_of_the_auc_equals_scipy(tied: tuple[np.ndarray, np.ndarray]) -> None:
    y, scores = tied
    # Our AUC as scipy's statistic: roc_auc_score's trapezoids put a replicate that ties the estimate one ulp
    # below it here, which moves z0 (scipy would count it below, we count the exact tie one half).
    res = scipy_bootstrap((y, scores[0]), auc, paired=True, vectorized=False, n_resamples=300,
                          method="BCa", rng=np.random.default_rng(9))  # fmt: skip
    indices = bootstrap_indices(y, 300, seed=9, stratified=False)  # the same draws as scipy's
    boot = bootstrap_auc(y, scores, indices)
    np.testing.assert_array_equal(boot[:, 0], res.bootstrap_distribution)
    lo, hi = bca_ci(auc(y, scores), boot, jackknife_auc(y, scores), level=0.9)
    assert lo.shape == (3,)
    lo_95, hi_95 = bca_ci(auc(y, scores[0]), boot[:, 0], jackknife_auc(y, scores[0]))
    assert (lo_95, hi_95) == pytest.approx(tuple(res.confidence_interval), abs=1e-12)
    assert lo[0] > lo_95 and hi[0] < hi_95  # level 0.9 is narrower
    for k in range(3):  # column-wise is column by column
        assert (lo[k], hi[k]) == bca_ci(auc(y, scores[k]), boot[:, k], jackknife_auc(y, scores[k]), level=0.9)


def test_bca_by_hand() -> None:
    boot = np.arange(1.0, 21.0)  # B = 20 replicates, half of them below the estimate: z0 = 0
    # a symmetric jackknife has no acceleration: BCa is the percentile interval
    assert bca_ci(10.5, boot, np.array([0.0, 1.0, 2.0])) == pytest.approx(percentile_ci(boot))
    # d = mean - jack = (1, 1, 1, -3): a = (3 - 27) / (6 * 12 ** 1.5) = -0.0962250; with z0 = 0 the levels
    # are Phi(z / (1 - a z)), z = -/+1.959964: Phi(-2.4155265) = 0.0078562385 and Phi(1.6489718) = 0.9504232960
    levels = [0.0078562385, 0.9504232960]
    expected = 1.0 + 19.0 * np.array(levels)  # numpy's linear quantile of 1..20
    np.testing.assert_allclose(bca_ci(10.5, boot, np.array([0.0, 0.0, 0.0, 4.0])), expected, atol=1e-8)
    # every replicate above the estimate: z0 is infinite, the percentile interval is returned
    assert bca_ci(0.0, boot, np.array([0.0, 0.0, 0.0, 4.0])) == pytest.approx(percentile_ci(boot))


def test_intervals_of_nan_replicates() -> None:
    boot = np.column_stack([np.arange(10.0), np.full(10, np.nan)])
    lo, hi = percentile_ci(boot)
    assert lo[0] == pytest.approx(0.225) and np.isnan(lo[1]) and np.isnan(hi[1])
    lo, hi = bca_ci(np.array([4.5, 0.5]), boot, np.ones((5, 2)))
    assert np.isnan(lo[1]) and np.isnan(hi[1])


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


def test_bad_input_is_one_sentence(tied: tuple[np.ndarray, np.ndarray]) -> None:
    y, scores = tied
    with pytest.raises(InputError, match="must lie in 0..59 for 60 cases; were they drawn for another split"):
        bootstrap_auc(y, scores, bootstrap_indices(np.r_[y, y], 10))
    with pytest.raises(InputError, match="2-D integer array"):
        bootstrap_auc(y, scores, bootstrap_indices(y, 10).astype(float))
    with pytest.raises(InputError, match="at least one bootstrap resample, got 0"):
        bootstrap_indices(y, 0)
    with pytest.raises(InputError, match="needs both classes"):
        bootstrap_indices(np.ones(10, int), 10)
    with pytest.raises(InputError, match="Labels must be a 1-D array of 0 or 1"):
        bootstrap_indices(y * 2, 10)
    with pytest.raises(InputError, match="Predictions must be 0 or 1; threshold scores with apply_threshold first"):
        binary_metrics(y, scores[0])
    with pytest.raises(InputError, match="59 predictions do not match 60 labels"):
        bootstrap_binary_metrics(y, y[1:], bootstrap_indices(y, 10))
    with pytest.raises(InputError, match="Unknown interval method 'wald'"):
        auc_confidence(y, {"a": scores[0]}, method="wald")
    with pytest.raises(InputError, match="confidence level must be between 0 and 1, got 1.5"):
        percentile_ci(np.arange(10.0), level=1.5)
