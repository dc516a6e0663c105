"""Radiomics selection on a synthetic feature table with known informative, noise and redundant features."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from hccp53.errors import InputError
from hccp53.radiomics.select import RadiomicsModel


def table(n: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    columns = {
        "ap_glcm_Idm": 1.0 * y + rng.normal(0, 1, n),           # informative
        "pvp_firstorder_Mean": -0.8 * y + rng.normal(0, 1, n),  # informative, negative
        "shape_Sphericity": 0.6 * y + rng.normal(0, 1, n),       # informative, weaker
        "t2_constant": np.full(n, 3.0),                          # no variance
    }
    columns["ap_glcm_Idm_copy"] = columns["ap_glcm_Idm"] * 2.0 + rng.normal(0, 0.01, n)  # redundant
    for k in range(60):
        columns[f"noise_{k}"] = rng.normal(0, 1, n) * (k + 1)
    return pd.DataFrame(columns), y


@pytest.fixture(scope="module")
def fitted() -> RadiomicsModel:
    x, y = table(400, 0)
    return RadiomicsModel().fit(x, y, seed=1)


def test_selection_keeps_the_signal_and_drops_redundancy(fitted: RadiomicsModel) -> None:
    selected = fitted.selected
    assert {"pvp_firstorder_Mean", "shape_Sphericity"} <= set(selected.index)
    assert ("ap_glcm_Idm" in selected.index) != ("ap_glcm_Idm_copy" in selected.index)  # one of the twins
    assert "t2_constant" not in selected.index
    assert selected["pvp_firstorder_Mean"] < 0 < selected["shape_Sphericity"]
    is_noise = np.array([name.startswith("noise_") for name in selected.index])
    assert selected[is_noise].abs().sum() < 0.5 * selected[~is_noise].abs().sum()  # the LASSO weights the signal
    steps = fitted.steps
    assert steps["features"] == 65 and steps["variable"] == 64 and steps["decorrelated"] < steps["univariate"]


def test_the_score_generalises(fitted: RadiomicsModel) -> None:
    x, y = table(300, 5)
    assert roc_auc_score(y, fitted.score(x)) > 0.75
    probabilities = fitted.predict_proba(x)
    assert ((probabilities > 0) & (probabilities < 1)).all()


def test_json_round_trip_scores_identically(fitted: RadiomicsModel, tmp_path: Path) -> None:
    x, _ = table(50, 9)
    again = RadiomicsModel.from_json(fitted.to_json(tmp_path / "radiomics.json"))
    np.testing.assert_array_equal(again.score(x), fitted.score(x))


def test_fit_is_deterministic_given_rows_and_seed() -> None:
    x, y = table(200, 3)
    a = RadiomicsModel().fit(x, y, seed=4)
    b = RadiomicsModel().fit(x.copy(), y.copy(), seed=4)
    pd.testing.assert_series_equal(a.selected, b.selected)


def test_bad_input() -> None:
    x, y = table(40, 1)
    with pytest.raises(InputError, match="both classes"):
        RadiomicsModel().fit(x, np.ones(40, int))
    model = RadiomicsModel().fit(x, y)
    with pytest.raises(InputError, match="are missing; extract with the same settings"):
        model.score(x.drop(columns=list(model.selected.index[:1])))


def test_two_univariate_survivors_are_decorrelated_too() -> None:
    """scipy's spearmanr gives a single coefficient, not a matrix, for two columns; the redundancy filter copes."""
    rng = np.random.default_rng(2)
    y = np.arange(60) % 2
    signal = y + rng.normal(0, 0.5, 60)
    x = pd.DataFrame({"a": signal, "b": signal + rng.normal(0, 0.01, 60), "c": rng.normal(0, 1, 60)})
    model = RadiomicsModel(min_univariate=2, p_threshold=1e-6).fit(x, y)
    assert model.steps["univariate"] == 2 and model.steps["decorrelated"] == 1
