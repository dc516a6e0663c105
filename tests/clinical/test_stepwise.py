"""Stepwise AIC logistic regression: the same steps, terms, AIC and coefficients as R's MASS::stepAIC."""

from __future__ import annotations

import logging
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
#: scenario of stepaic_golden.R -> (direction, start terms)
SCENARIOS = {"both": ("both", ()), "both_start": ("both", ("age", "sex", "hbv")), "backward": ("backward", ())}


@pytest.fixture(scope="module")
def clinical() -> pd.DataFrame:
    return pd.read_csv(GOLDEN / "clinical_data.csv")


def golden(scenario: str) -> pd.DataFrame:
    results = pd.read_csv(GOLDEN / "stepaic_results.csv", keep_default_na=False)
    return results[results.scenario == scenario]


def r_name(column: str) -> str:
    """Our design column -> R's coefficient name (``child_pugh[T.B]`` -> ``child_pughB``)."""
    return "(Intercept)" if column == "Intercept" else column.replace("[T.", "").replace("]", "")


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_stepwise_takes_the_steps_mass_stepaic_takes(clinical: pd.DataFrame, scenario: str) -> None:
    direction, start = SCENARIOS[scenario]
    result = stepwise_aic(clinical, "y", CANDIDATES, direction=direction, start=start)
    expected = golden(scenario)
    steps = expected[expected.what == "step"]
    assert [label for label, _ in result.steps] == list(steps.name)
    np.testing.assert_allclose([aic for _, aic in result.steps], steps.value.astype(float), rtol=0, atol=1e-6)
    assert sorted(result.terms) == list(expected[expected.what == "term"].name)
    assert result.aic == pytest.approx(float(expected[expected.what == "aic"].value.iloc[0]), abs=1e-6)
    coefficients = expected[expected.what == "coefficient"].set_index("name").value.astype(float)
    ours = result.result.params.rename(r_name)
    assert sorted(ours.index) == sorted(coefficients.index)
    for name, value in coefficients.items():
        assert ours[name] == pytest.approx(value, abs=1e-6), name


@pytest.mark.skipif(shutil.which("Rscript") is None, reason="no Rscript on PATH (scripts/setup_system.sh installs R)")
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
    assert "signal" in result.terms and len(result.terms) < 3
    assert [label[0] for label, _ in result.steps[1:]] == ["-"] * (len(result.steps) - 1)


def test_the_selected_model_carries_its_statsmodels_results(clinical: pd.DataFrame) -> None:
    result = stepwise_aic(clinical, "y", CANDIDATES)
    fit = result.result
    np.testing.assert_allclose(fit.results.params, fit.params.to_numpy())
    assert fit.results.bse.shape == fit.params.shape
    assert fit.aic == pytest.approx(fit.results.aic)  # statsmodels' AIC counts the same k parameters


def test_predictions_use_the_fitted_coding_on_new_rows(clinical: pd.DataFrame) -> None:
    fit = fit_logistic(clinical, "y", ["log10_afp", "child_pugh"])
    new = pd.DataFrame({"log10_afp": [1.0, 1.0], "child_pugh": ["A", "B"]})
    p = predict_logistic(fit, new)
    lp = np.log(p / (1 - p))
    assert lp[1] - lp[0] == pytest.approx(fit.params["child_pugh[T.B]"])
    with pytest.raises(InputError, match=r"'child_pugh' has level\(s\) \['C'\] not seen when the model was fitted"):
        predict_logistic(fit, pd.DataFrame({"log10_afp": [1.0], "child_pugh": ["C"]}))


def test_a_separating_candidate_is_skipped_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    rng = np.random.default_rng(3)
    n = 120
    data = pd.DataFrame({"signal": rng.normal(size=n)})
    data["y"] = (rng.random(n) < 1 / (1 + np.exp(-data.signal))).astype(int)
    data["leak"] = data.y * 2.0 - 1.0 + rng.normal(scale=0.01, size=n)  # separates the classes perfectly
    with caplog.at_level(logging.WARNING, logger="hccp53.clinical.stepwise"):
        result = stepwise_aic(data, "y", ["signal", "leak"])
    assert result.terms == ["signal"]
    assert "skipping step + leak" in caplog.text and "separate the classes perfectly" in caplog.text


def test_perfect_separation_is_a_clear_error() -> None:
    data = pd.DataFrame({"x": np.arange(20.0), "y": (np.arange(20) >= 10).astype(int)})
    with pytest.raises(InputError, match="on x does not converge .* separate the classes perfectly"):
        fit_logistic(data, "y", ["x"])


def test_a_constant_term_is_a_clear_error() -> None:
    data = pd.DataFrame({"x": np.full(20, 0.5) + 1e-12 * np.arange(20), "y": np.arange(20) % 2})
    with pytest.raises(InputError, match=r"x is \(nearly\) constant across the cases"):
        fit_logistic(data, "y", ["x"])


def test_bad_tables_and_arguments_are_refused(clinical: pd.DataFrame) -> None:
    data = pd.DataFrame({"x": [1.0, np.nan, 3.0, 4.0], "y": [0, 1, 0, 1]})
    with pytest.raises(InputError, match="missing values in y, x; impute or drop"):
        fit_logistic(data, "y", ["x"])
    with pytest.raises(InputError, match="no column z; add it"):
        fit_logistic(data, "y", ["z"])
    with pytest.raises(InputError, match="outcome column 'y' must hold 0 or 1"):
        fit_logistic(pd.DataFrame({"x": [1.0, 2.0, 3.0], "y": [0, 2, 1]}), "y", ["x"])
    mixed = pd.DataFrame({"x": pd.Series([1, "a", 3], dtype=object), "y": [0, 1, 1]})
    with pytest.raises(InputError, match="'x' mixes numbers and text"):
        fit_logistic(mixed, "y", ["x"], levels={})
    with pytest.raises(InputError, match="Unknown stepwise direction 'sideways'; use both, forward or backward"):
        stepwise_aic(clinical, "y", CANDIDATES, direction="sideways")
    with pytest.raises(InputError, match=r"Start term\(s\) \['bmi'\] are not among the candidates"):
        stepwise_aic(clinical, "y", CANDIDATES, start=["bmi"])


def test_odds_ratios_are_the_exponentiated_wald_intervals_of_statsmodels(clinical: pd.DataFrame) -> None:
    from hccp53.clinical.stepwise import odds_ratios

    fit = fit_logistic(clinical, "y", ["log10_afp", "child_pugh"])
    table = odds_ratios(fit).set_index("term")
    intervals = np.exp(fit.results.conf_int(alpha=0.05))  # statsmodels on the original columns
    for term in ("log10_afp", "child_pugh[T.B]"):
        assert table.loc[term, "odds_ratio"] == pytest.approx(np.exp(fit.results.params[term]), rel=1e-9)
        assert table.loc[term, "ci_low"] == pytest.approx(intervals.loc[term, 0], rel=1e-6)
        assert table.loc[term, "ci_high"] == pytest.approx(intervals.loc[term, 1], rel=1e-6)
        assert table.loc[term, "p"] == pytest.approx(fit.results.pvalues[term], rel=1e-6)


def test_a_factor_in_raw_units_fits_as_well_as_in_standard_units() -> None:
    """AFP in ng/ml spans five decades; the fit is done on standardised columns and reported in ng/ml."""
    rng = np.random.default_rng(4)
    n = 240
    afp = np.exp(rng.normal(4, 3, n))
    y = (rng.random(n) < 1 / (1 + np.exp(-(np.log10(afp) - 1.7)))).astype(int)
    raw = fit_logistic(pd.DataFrame({"afp": afp, "y": y}), "y", ["afp"])
    scaled = fit_logistic(pd.DataFrame({"afp": afp / 1000.0, "y": y}), "y", ["afp"])
    assert raw.params["afp"] * 1000.0 == pytest.approx(scaled.params["afp"], rel=1e-6)
    assert raw.llf == pytest.approx(scaled.llf, rel=1e-9) and raw.pvalues["afp"] == pytest.approx(
        scaled.pvalues["afp"], rel=1e-6)


def glm_golden(model: str) -> pd.DataFrame:
    results = pd.read_csv(GOLDEN / "glm_scale_results.csv")
    return results[results.model == model].set_index("name")


@pytest.mark.parametrize(("model", "terms"), [("raw_afp", ["age", "sex", "afp_ng_ml", "hbv", "cirrhosis"]),
                                              ("weak_score", ["weak_score", "afp_ng_ml"])])  # fmt: skip
def test_factors_in_awkward_units_fit_as_r_glm_fits_them(clinical: pd.DataFrame, model: str,
                                                         terms: list[str]) -> None:  # fmt: skip
    """AFP in ng/ml (up to 1.8e5) and a score spread over 1e-4 (a briefly trained network): the standardised Newton
    fit, reported on the original scale, gives R's glm estimates, standard errors, p-values and odds-ratio CIs."""
    from hccp53.clinical.stepwise import odds_ratios

    data = clinical.assign(afp_ng_ml=10.0 ** clinical["log10_afp"], weak_score=0.53 + 1e-6 * clinical["tumor_size"])
    fit = fit_logistic(data, "y", terms)
    expected = glm_golden(model)
    se = pd.Series(np.sqrt(np.diag(np.asarray(fit.cov))), index=fit.params.index)
    ratios = odds_ratios(fit).set_index("term")
    for column in fit.params.index:
        row = expected.loc[r_name(column)]
        assert fit.params[column] == pytest.approx(row.estimate, rel=1e-7), column
        assert se[column] == pytest.approx(row.se, rel=1e-6), column
        assert fit.pvalues[column] == pytest.approx(row.p, rel=1e-5), column
        if column != "Intercept":
            assert ratios.loc[column, "ci_low"] == pytest.approx(row.or_low, rel=1e-6), column
            assert ratios.loc[column, "ci_high"] == pytest.approx(row.or_high, rel=1e-6), column
    assert fit.aic == pytest.approx(float(expected.aic.iloc[0]), abs=1e-6)


@pytest.mark.skipif(shutil.which("Rscript") is None, reason="no Rscript on PATH (scripts/setup_system.sh installs R)")
def test_the_glm_golden_file_is_what_r_computes_now(tmp_path: Path) -> None:
    out = tmp_path / "glm.csv"
    script = ROOT / "scripts" / "golden" / "glm_scale_golden.R"
    subprocess.run(["Rscript", str(script), str(GOLDEN / "clinical_data.csv"), str(out)], check=True,
                   capture_output=True)  # fmt: skip
    assert out.read_text() == (GOLDEN / "glm_scale_results.csv").read_text()
