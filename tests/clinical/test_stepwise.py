"""Stepwise AIC logistic regression: the same terms, AIC and coefficients as R's MASS::stepAIC."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from hccp53.clinical.stepwise import fit_logistic, predict_logistic, stepwise_aic
from hccp53.errors import InputError

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = Path(__file__).parent / "golden"
SCRIPT = ROOT / "scripts" / "golden" / "stepaic_golden.R"
CANDIDATES = ["age", "sex", "log10_afp", "hbv", "cirrhosis", "albi", "child_pugh", "tumor_size"]


def golden() -> pd.DataFrame:
    return pd.read_csv(GOLDEN / "stepaic_results.csv", keep_default_na=False)


def test_stepwise_selects_what_mass_stepaic_selects() -> None:
    data = pd.read_csv(GOLDEN / "clinical_data.csv")
    result = stepwise_aic(data, "y", CANDIDATES)
    expected = golden()
    assert sorted(result.terms) == sorted(expected[expected.what == "term"].name)
    assert result.aic == pytest.approx(float(expected[expected.what == "aic"].value.iloc[0]), abs=1e-6)
    coefficients = expected[expected.what == "coefficient"].set_index("name").value.astype(float)
    ours = result.result.params.rename(lambda c: c.replace("[T.", "").replace("]", "")).rename(
        {"Intercept": "(Intercept)"})
    for name, value in coefficients.items():
        assert ours[name] == pytest.approx(value, abs=1e-6), name
    aics = [aic for _, aic in result.steps]
    assert result.steps[0][0] == "start" and aics == sorted(aics, reverse=True)


@pytest.mark.skipif(shutil.which("Rscript") is None, reason="no Rscript (scripts/setup_system.sh installs R)")
def test_the_golden_file_is_what_mass_computes_now(tmp_path: Path) -> None:
    out = tmp_path / "stepaic.csv"
    subprocess.run(["Rscript", str(SCRIPT), str(GOLDEN / "clinical_data.csv"), str(out)], check=True,
                   capture_output=True)  # fmt: skip
    assert out.read_text() == (GOLDEN / "stepaic_results.csv").read_text()


def test_backward_from_everything_drops_noise() -> None:
    rng = np.random.default_rng(0)
    n = 400
    data = pd.DataFrame({"signal": rng.normal(size=n), "noise1": rng.normal(size=n), "noise2": rng.normal(size=n)})
    data["y"] = (rng.random(n) < 1 / (1 + np.exp(-1.5 * data.signal))).astype(int)
    result = stepwise_aic(data, "y", ["signal", "noise1", "noise2"], direction="backward")
    assert "signal" in result.terms and result.steps[0][0] == "start"
    assert len(result.terms) < 3


def test_predictions_use_the_fitted_coding_on_new_rows() -> None:
    data = pd.read_csv(GOLDEN / "clinical_data.csv")
    fit = fit_logistic(data, "y", ["log10_afp", "child_pugh"])
    new = pd.DataFrame({"log10_afp": [1.0, 1.0], "child_pugh": ["A", "B"]})
    p = predict_logistic(fit, new)
    lp = np.log(p / (1 - p))
    assert lp[1] - lp[0] == pytest.approx(fit.params["child_pugh[T.B]"])
    with pytest.raises(InputError, match="level\\(s\\) \\['C'\\] not seen"):
        predict_logistic(fit, pd.DataFrame({"log10_afp": [1.0], "child_pugh": ["C"]}))


def test_perfect_separation_is_a_clear_error() -> None:
    data = pd.DataFrame({"x": np.arange(20.0), "y": (np.arange(20) >= 10).astype(int)})
    with pytest.raises(InputError, match="does not converge .* separate the classes perfectly"):
        fit_logistic(data, "y", ["x"])


def test_a_constant_term_is_a_clear_error() -> None:
    data = pd.DataFrame({"x": np.full(20, 0.5) + 1e-12 * np.arange(20), "y": np.arange(20) % 2})
    with pytest.raises(InputError, match="x is \\(nearly\\) constant across the cases"):
        fit_logistic(data, "y", ["x"])


def test_missing_values_and_columns_are_refused() -> None:
    data = pd.DataFrame({"x": [1.0, np.nan, 3.0, 4.0], "y": [0, 1, 0, 1]})
    with pytest.raises(InputError, match="missing values"):
        fit_logistic(data, "y", ["x"])
    with pytest.raises(InputError, match="no column z"):
        fit_logistic(data, "y", ["z"])
