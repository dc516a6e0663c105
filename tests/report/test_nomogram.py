"""Nomogram scales against rms::nomogram, R's pretty(), and a rendered figure that is looked at."""

from __future__ import annotations

from pathlib import Path

import matplotlib.image as mpimg
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from hccp53.clinical.stepwise import LogisticFit, fit_logistic
from hccp53.errors import InputError
from hccp53.report.nomogram import NomogramScales, data_ranges, draw_nomogram, nomogram_scales, pretty

GOLDEN = Path(__file__).resolve().parents[1] / "stats" / "golden"
TERMS = ["x1", "x2", "sex", "hbv"]
RISKS = (0.1, 0.3, 0.5, 0.7, 0.9)  # rms_golden.R's fun.at


@pytest.fixture(scope="module")
def data() -> pd.DataFrame:
    return pd.read_csv(GOLDEN / "rms_data.csv")


@pytest.fixture(scope="module")
def rms() -> pd.DataFrame:
    return pd.read_csv(GOLDEN / "rms_results.csv", keep_default_na=False)


@pytest.fixture(scope="module")
def fit(data: pd.DataFrame) -> LogisticFit:
    return fit_logistic(data, "y", TERMS)


def r_coefficients(rms: pd.DataFrame) -> pd.Series:
    rows = rms[rms.what == "coefficient"].set_index("name").value.astype(float)
    return rows.rename({"sex=M": "sex[T.M]"})


def check_against_rms(scales: NomogramScales, rms: pd.DataFrame, atol: float) -> None:
    points = rms[rms.what == "points"]
    assert [a.term for a in scales.axes] == TERMS
    for axis in scales.axes:
        expected = points[points.name == axis.term]
        shown = list(expected.x) if axis.categorical else list(expected.x.astype(float))
        assert list(axis.values) == shown, axis.term
        np.testing.assert_allclose(axis.points, expected.value.astype(float), rtol=0, atol=atol, err_msg=axis.term)
    scale = rms[rms.what == "scale"].set_index("name").value.astype(float)
    assert scales.points_per_lp == pytest.approx(scale["points_per_lp"], rel=1e-7)
    assert scales.lp_at_zero == pytest.approx(scale["lp_at_zero"], abs=1e-6)
    np.testing.assert_array_equal(scales.total_ticks, rms[rms.what == "total_axis"].value.astype(float))
    lp_axis = rms[rms.what == "lp_axis"]
    np.testing.assert_array_equal(scales.lp_ticks, lp_axis.x.astype(float))
    np.testing.assert_allclose(scales.lp_points, lp_axis.value.astype(float), rtol=0, atol=atol)
    risk = rms[rms.what == "risk_axis"]
    assert scales.risks == tuple(risk.value.astype(float))
    # rms inverts plogis by linear interpolation over 1000 points (approx): exact to about 1e-6 relative
    np.testing.assert_allclose(scales.risk_points, risk.x.astype(float), rtol=2e-6)


def test_coefficients_equal_lrm(fit: LogisticFit, rms: pd.DataFrame) -> None:
    expected = r_coefficients(rms)
    assert sorted(fit.params.index) == sorted(expected.index)
    for name, value in expected.items():
        assert fit.params[name] == pytest.approx(value, abs=1e-7), name


def test_scales_from_r_coefficients_and_ranges_equal_rms(data: pd.DataFrame, rms: pd.DataFrame) -> None:
    coefficients = r_coefficients(rms)
    limits = rms[rms.what == "limit"].pivot(index="name", columns="x", values="value").astype(float)
    ranges = {"x1": (limits.loc["x1", "low"], limits.loc["x1", "high"]),
              "x2": (limits.loc["x2", "low"], limits.loc["x2", "high"]), "sex": ["F", "M"], "hbv": [0, 1]}  # fmt: skip
    lp = (coefficients["Intercept"] + coefficients["x1"] * data.x1 + coefficients["x2"] * data.x2
          + coefficients["sex[T.M]"] * (data.sex == "M") + coefficients["hbv"] * data.hbv)  # fmt: skip
    betas = coefficients.drop("Intercept").to_dict()
    scales = nomogram_scales(betas, coefficients["Intercept"], ranges, lp_range=(lp.min(), lp.max()), risks=RISKS)
    check_against_rms(scales, rms, atol=1e-9)


def test_scales_of_a_fit_and_its_data_equal_rms(fit: LogisticFit, data: pd.DataFrame, rms: pd.DataFrame) -> None:
    check_against_rms(nomogram_scales(fit, data, risks=RISKS), rms, atol=1e-6)


def test_data_ranges_follow_datadist(data: pd.DataFrame) -> None:
    ranges = data_ranges(data.assign(grade=np.arange(len(data)) % 4 + 1), ["x1", "sex", "hbv", "grade"])
    assert ranges["x1"] == (data.x1.min(), data.x1.max())
    assert ranges["sex"] == ["F", "M"] and ranges["hbv"] == [0.0, 1.0] and ranges["grade"] == [1.0, 2.0, 3.0, 4.0]
    wide = data_ranges(pd.DataFrame({"k": np.arange(11.0)}), ["k"])
    assert wide["k"] == (0.0, 10.0)  # 11 distinct values > datadist's n.unique = 10


def test_points_of_a_case_give_back_its_model_probability(fit: LogisticFit, data: pd.DataFrame) -> None:
    scales = nomogram_scales(fit, data)
    row = {"x1": 47.3, "x2": 0.41, "sex": "M", "hbv": 1}
    total = scales.points(row)
    assert scales.risk(total) == pytest.approx(fit.predict(pd.DataFrame([row]))[0], rel=1e-12)
    assert scales.linear_predictor(total) == pytest.approx(fit.linear_predictor(pd.DataFrame([row]))[0], rel=1e-12)
    with pytest.raises(InputError, match="Factor 'sex' has no level 'X'"):
        scales.points({**row, "sex": "X"})
    with pytest.raises(InputError, match="no value for hbv; give every term"):
        scales.points({"x1": 47.3, "x2": 0.41, "sex": "M"})


@pytest.mark.parametrize(("lo", "hi", "n", "expected"), [
    (21.49, 76.45, 10, np.arange(20, 81, 5.0)),
    (0.0, 1.0, 5, np.linspace(0, 1, 6)),
    (0.0012, 0.0047, 5, [0.001, 0.002, 0.003, 0.004, 0.005]),  # R: pretty(c(0.0012, 0.0047))
    (-7.3, 12.1, 5, [-10, -5, 0, 5, 10, 15]),                  # R: pretty(c(-7.3, 12.1))
])  # fmt: skip
def test_pretty_as_r(lo: float, hi: float, n: int, expected: list[float]) -> None:
    np.testing.assert_allclose(pretty(lo, hi, n), expected)


def test_the_nomogram_figure_is_drawn(fit: LogisticFit, data: pd.DataFrame, tmp_path: Path) -> None:
    path = draw_nomogram(nomogram_scales(fit, data), tmp_path / "nomogram.png", labels={"x1": "Age"})
    assert path.stat().st_size > 10_000
    image = mpimg.imread(path)[..., :3]
    dark = (image < 0.5).any(axis=-1)
    rows_with_ink = np.flatnonzero(dark.mean(axis=1) > 0.05)  # the horizontal axis lines
    bands = np.sum(np.diff(rows_with_ink) > 3) + 1 if rows_with_ink.size else 0
    assert bands >= 8, bands  # Points, x1, x2, sex, hbv, Total Points, Linear Predictor, Risk
    assert 0.01 < dark.mean() < 0.2
    fig, ax = plt.subplots()
    try:
        assert draw_nomogram(nomogram_scales(fit, data), ax) is ax
        texts = {t.get_text() for t in ax.texts}
        assert {"Points", "x1", "x2", "sex", "hbv", "Total Points", "Linear Predictor", "Risk of P53 mutation"} <= texts
    finally:
        plt.close(fig)


def test_inconsistent_coefficients_and_ranges_are_refused() -> None:
    with pytest.raises(InputError, match="Coefficient 'age' belongs to no term of ranges"):
        nomogram_scales({"age": 0.1, "afp": 1.0}, -1.0, {"afp": (0.0, 5.0)})
    with pytest.raises(InputError, match="Term 'age' has a range but no coefficient"):
        nomogram_scales({"afp": 1.0}, -1.0, {"afp": (0.0, 5.0), "age": (20.0, 80.0)})
    with pytest.raises(InputError, match=r"Factor 'cp' has no coefficient for level\(s\) \['C'\]"):
        nomogram_scales({"cp[T.B]": 0.5}, -1.0, {"cp": ["A", "B", "C"]})
    with pytest.raises(InputError, match=r"Coefficient 'cp\[T.D\]' is for a level missing from ranges"):
        nomogram_scales({"cp[T.B]": 0.5, "cp[T.D]": 0.1}, -1.0, {"cp": ["A", "B"]})
    with pytest.raises(InputError, match=r"The range of 'afp' is \(5, 0\); give \(low, high\) with low < high"):
        nomogram_scales({"afp": 1.0}, -1.0, {"afp": (5.0, 0.0)})
    with pytest.raises(InputError, match="Every coefficient of the model is 0"):
        nomogram_scales({"afp": 0.0}, -1.0, {"afp": (0.0, 5.0)})
    with pytest.raises(InputError, match="The intercept must be a number"):
        nomogram_scales({"afp": 1.0}, "-1", {"afp": (0.0, 5.0)})  # type: ignore[arg-type]
