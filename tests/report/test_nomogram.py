"""Nomogram scales against rms::nomogram, R's pretty(), and a rendered figure that is looked at."""

from __future__ import annotations

from pathlib import Path

import matplotlib.image as mpimg
import numpy as np
import pandas as pd
import pytest

from hccp53.clinical.stepwise import fit_logistic
from hccp53.report.nomogram import draw_nomogram, nomogram_scales, pretty

GOLDEN = Path(__file__).resolve().parents[1] / "stats" / "golden"


@pytest.fixture(scope="module")
def fitted() -> tuple[pd.DataFrame, object, pd.DataFrame]:
    data = pd.read_csv(GOLDEN / "rms_data.csv")
    results = pd.read_csv(GOLDEN / "rms_results.csv", keep_default_na=False)
    return data, fit_logistic(data, "y", ["x1", "x2", "sex"]), results


def test_coefficients_equal_lrm(fitted: tuple) -> None:
    _, fit, results = fitted
    rows = results[results.what == "coefficient"].set_index("name").value.astype(float)
    assert fit.params["Intercept"] == pytest.approx(rows["Intercept"], abs=1e-7)
    assert fit.params["x1"] == pytest.approx(rows["x1"], abs=1e-7)
    assert fit.params["sex[T.M]"] == pytest.approx(rows["sex=M"], abs=1e-7)


def test_points_and_risk_axis_match_rms(fitted: tuple) -> None:
    data, fit, results = fitted
    scales = nomogram_scales(fit, data, risks=(0.1, 0.3, 0.5, 0.7, 0.9))
    points = results[results.what == "points"]
    for axis in scales.axes:
        expected = points[points.name == axis.term]
        assert [str(v) if isinstance(v, str) else float(v) for v in axis.values] == [
            x if axis.term == "sex" else float(x) for x in expected.x]
        np.testing.assert_allclose(axis.points, expected.value.astype(float), atol=1e-6)
    scale = float(results[results.what == "scale"].value.iloc[0])
    assert scales.points_per_lp == pytest.approx(scale, rel=1e-7)
    risk = results[results.what == "risk_axis"]
    # rms finds these by interpolating along the linear predictor (approx), exact to about 1e-6 relative
    np.testing.assert_allclose(scales.risk_points, risk.x.astype(float), rtol=2e-6)
    total = results[results.what == "total_axis"].value.astype(float)
    np.testing.assert_allclose(scales.total_ticks, total)


def test_points_of_a_case_give_back_its_model_probability(fitted: tuple) -> None:
    data, fit, _ = fitted
    scales = nomogram_scales(fit, data)
    row = {"x1": 47.3, "x2": 0.41, "sex": "M"}
    assert scales.risk(scales.points(row, fit)) == pytest.approx(fit.predict(pd.DataFrame([row]))[0], rel=1e-12)


@pytest.mark.parametrize(("lo", "hi", "n", "expected"), [
    (21.49, 76.45, 10, np.arange(20, 81, 5.0)),
    (0.0, 1.0, 5, np.linspace(0, 1, 6)),
    (0.0012, 0.0047, 5, [0.001, 0.002, 0.003, 0.004, 0.005]),  # R: pretty(c(0.0012, 0.0047))
    (-7.3, 12.1, 5, [-10, -5, 0, 5, 10, 15]),                  # R: pretty(c(-7.3, 12.1))
])  # fmt: skip
def test_pretty_as_r(lo: float, hi: float, n: int, expected: list[float]) -> None:
    np.testing.assert_allclose(pretty(lo, hi, n), expected)


def test_the_nomogram_figure_is_drawn(fitted: tuple, tmp_path: Path) -> None:
    data, fit, _ = fitted
    path = draw_nomogram(nomogram_scales(fit, data), tmp_path / "nomogram.png", labels={"x1": "Age"})
    assert path.stat().st_size > 10_000
    image = mpimg.imread(path)[..., :3]
    dark = (image < 0.5).any(axis=-1)
    rows_with_ink = np.flatnonzero(dark.mean(axis=1) > 0.05)  # the horizontal axis lines
    bands = np.sum(np.diff(rows_with_ink) > 3) + 1 if rows_with_ink.size else 0
    assert bands >= 6, bands  # Points, x1, x2, sex, Total Points, Risk
    assert 0.01 < dark.mean() < 0.2
