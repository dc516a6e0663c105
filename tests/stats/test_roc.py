"""AUC, DeLong variance, CI and paired test, Holm, Youden threshold: against R's pROC (golden values), sklearn and
the O(n^2) formula."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from hccp53.errors import InputError
from hccp53.stats import auc, delong, delong_ci, delong_test, holm, midranks, pairwise_delong, youden_threshold

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = Path(__file__).parent / "golden"
SCRIPT = ROOT / "scripts" / "golden" / "proc_golden.R"
SCORES = ("score_a", "score_b", "score_c")


DATASETS = ("untied", "tied", "small", "degenerate")


def datasets() -> dict[str, pd.DataFrame]:
    """The golden datasets: ``untied`` (n = 120, three correlated continuous scores), ``tied`` (n = 90, 1-5
    ratings and a score rounded to 0.1), ``small`` (n = 15, scores rounded to 0.01, one below chance) and
    ``degenerate`` (n = 12: a perfect score, a constant one, one swapped pair: zero variances, a clipped CI,
    an infinite z)."""
    data = pd.read_csv(GOLDEN / "roc_data.csv")
    return {name: rows for name, rows in data.groupby("dataset")}


def golden() -> pd.DataFrame:
    return pd.read_csv(GOLDEN / "proc_results.csv", keep_default_na=False)


def expected(results: pd.DataFrame, dataset: str, what: str, first: str, second: str = "") -> float:
    row = results[(results.dataset == dataset) & (results.what == what) & (results["first"] == first)
                  & (results.second == second)]  # fmt: skip
    assert len(row) == 1, (dataset, what, first, second)
    return float(row.value.iloc[0])


def slow_delong(y: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """DeLong, DeLong & Clarke-Pearson (1988) with the explicit m x n kernel: the textbook reference."""
    x, z = scores[:, y == 1], scores[:, y == 0]
    psi = (x[:, :, None] > z[:, None, :]) + 0.5 * (x[:, :, None] == z[:, None, :])  # (k, m, n)
    v10, v01 = psi.mean(axis=2), psi.mean(axis=1)
    return np.atleast_2d(np.cov(v10)) / x.shape[1] + np.atleast_2d(np.cov(v01)) / z.shape[1]


@pytest.mark.parametrize("dataset", DATASETS)
def test_auc_variance_and_ci_match_proc(dataset: str) -> None:
    data, results = datasets()[dataset], golden()
    y = data.y.to_numpy()
    for name in SCORES:
        score = data[name].to_numpy()
        value, lower, upper = delong_ci(y, score)
        assert value == pytest.approx(expected(results, dataset, "auc", name), abs=1e-9)
        variance = delong(y, score[None, :]).covariance[0, 0]
        assert variance == pytest.approx(expected(results, dataset, "var", name), abs=1e-9)
        assert lower == pytest.approx(expected(results, dataset, "ci_lower", name), abs=1e-9)
        assert upper == pytest.approx(expected(results, dataset, "ci_upper", name), abs=1e-9)


@pytest.mark.parametrize("dataset", DATASETS)
def test_paired_delong_test_and_holm_match_proc(dataset: str) -> None:
    data, results = datasets()[dataset], golden()
    y = data.y.to_numpy()
    scores = {name: data[name].to_numpy() for name in SCORES}
    adjusted = pairwise_delong(y, scores, correction="holm")
    raw = pairwise_delong(y, scores, correction=None)
    for i, first in enumerate(SCORES):
        for second in SCORES[i + 1:]:
            z, p = delong_test(y, scores[first], scores[second])
            assert z == pytest.approx(expected(results, dataset, "z", first, second), abs=1e-9)
            assert p == pytest.approx(expected(results, dataset, "p", first, second), abs=1e-9)
            assert raw.loc[first, second] == pytest.approx(p, abs=1e-15)
            assert adjusted.loc[second, first] == pytest.approx(expected(results, dataset, "p_holm", first, second),
                                                                abs=1e-9)  # fmt: skip
    assert np.isnan(np.diag(adjusted.to_numpy())).all()


@pytest.mark.parametrize("dataset", DATASETS)
def test_youden_threshold_matches_proc_coords(dataset: str) -> None:
    data, results = datasets()[dataset], golden()
    for name in SCORES:
        reference = expected(results, dataset, "youden", name)  # the highest of pROC's tied best thresholds
        ours = youden_threshold(data.y, data[name])
        if np.isinf(reference):  # pROC's Inf (no one positive): ours is finite but above every score
            assert ours > data[name].max()
        else:
            assert ours == pytest.approx(reference, abs=1e-9)


@pytest.mark.skipif(shutil.which("Rscript") is None, reason="no Rscript (scripts/setup_system.sh installs R)")
def test_the_golden_file_is_what_proc_computes_now(tmp_path: Path) -> None:
    out = tmp_path / "proc_results.csv"
    subprocess.run(["Rscript", str(SCRIPT), str(GOLDEN / "roc_data.csv"), str(out)], check=True, capture_output=True)
    assert out.read_text() == (GOLDEN / "proc_results.csv").read_text()


def test_auc_equals_sklearn_with_ties_and_many_models() -> None:
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 300)
    scores = np.round(y + rng.normal(0, 1.5, (5, 300)))  # heavy ties
    np.testing.assert_allclose(auc(y, scores), [roc_auc_score(y, s) for s in scores], atol=1e-14)
    assert isinstance(auc(y, scores[0]), float)


def test_fast_delong_equals_the_textbook_kernel() -> None:
    rng = np.random.default_rng(4)
    y = rng.integers(0, 2, 80)
    scores = np.round(y + rng.normal(0, 1, (3, 80)), 1)
    np.testing.assert_allclose(delong(y, scores).covariance, slow_delong(y, scores), atol=1e-15)


def test_midranks_average_ties() -> None:
    np.testing.assert_array_equal(midranks(np.array([3.0, 1.0, 3.0, 2.0])), [3.5, 1.0, 3.5, 2.0])
    np.testing.assert_array_equal(midranks(np.array([[1.0, 1.0], [2.0, 1.0]])), [[1.5, 1.5], [2.0, 1.0]])


def test_identical_models_are_not_different() -> None:
    rng = np.random.default_rng(5)
    y = rng.integers(0, 2, 50)
    s = rng.normal(size=50)
    assert delong_test(y, s, s) == (0.0, 1.0)
    table = pairwise_delong(y, {"a": s, "b": s, "c": rng.normal(size=50)}, correction=None)
    assert table.loc["a", "b"] == 1.0


def test_a_perfect_model_differs_from_a_constant_one() -> None:
    y = np.array([0, 0, 0, 1, 1, 1])
    assert delong_test(y, [1, 2, 3, 4, 5, 6], np.full(6, 0.3)) == (np.inf, 0.0)
    assert delong_test(y, np.full(6, 0.3), [1, 2, 3, 4, 5, 6]) == (-np.inf, 0.0)


def test_pairwise_table_is_symmetric_with_one_test_per_pair() -> None:
    rng = np.random.default_rng(6)
    y = rng.integers(0, 2, 100)
    scores = {name: y + rng.normal(0, s, 100) for name, s in (("a", 0.5), ("b", 1.0), ("c", 2.0), ("d", 4.0))}
    raw = pairwise_delong(y, scores, correction="none")
    adjusted = pairwise_delong(y, scores)
    np.testing.assert_array_equal(raw.to_numpy(), raw.to_numpy().T)
    upper = np.triu_indices(4, 1)
    np.testing.assert_allclose(adjusted.to_numpy()[upper], holm(raw.to_numpy()[upper]))
    assert raw.loc["a", "d"] == pytest.approx(delong_test(y, scores["a"], scores["d"])[1], rel=1e-12)
    assert pairwise_delong(y, {"only": scores["a"]}).shape == (1, 1)


def test_holm_as_r_p_adjust() -> None:
    # R: p.adjust(c(0.01, 0.04, 0.03, NA, 0.2), "holm") -> 0.04 0.09 0.09 NA 0.20
    np.testing.assert_allclose(holm([0.01, 0.04, 0.03, np.nan, 0.2]), [0.04, 0.09, 0.09, np.nan, 0.2])
    # R: p.adjust(c(0.5, 0.01, 0.5, 0.3), "holm") -> 1.00 0.04 1.00 0.90 (capped at 1, ties kept in order)
    np.testing.assert_allclose(holm(np.array([[0.5, 0.01], [0.5, 0.3]])), [[1.0, 0.04], [1.0, 0.9]])
    assert np.isnan(holm([np.nan])).all()


def test_bad_input_is_one_sentence() -> None:
    with pytest.raises(InputError, match="needs both classes"):
        auc([1, 1, 1], [0.1, 0.2, 0.3])
    with pytest.raises(InputError, match="do not match 3 labels"):
        auc([0, 1, 1], [0.1, 0.2])
    with pytest.raises(InputError, match="NaN or infinite"):
        auc([0, 1, 1], [0.1, np.nan, 0.3])
    with pytest.raises(InputError, match="Labels must be 0 or 1"):
        auc([0, 2, 1], [0.1, 0.2, 0.3])
    with pytest.raises(InputError, match="at least two cases of each class; got 2 positive, 1 negative"):
        delong([0, 1, 1], [[0.1, 0.2, 0.3]])
    with pytest.raises(InputError, match="Unknown p-value correction 'bonferroni'"):
        pairwise_delong([0, 0, 1, 1], {"a": [1, 2, 3, 4], "b": [1, 3, 2, 4]}, correction="bonferroni")
    with pytest.raises(InputError, match="confidence level must be between 0 and 1, got 95"):
        delong_ci([0, 0, 1, 1], [1, 2, 3, 4], level=95)
