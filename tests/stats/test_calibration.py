"""Calibration statistics against rms::val.prob, R's lowess, cut(quantile) bins and the Hosmer-Lemeshow formula."""

from __future__ import annotations

import logging
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from hccp53.errors import InputError
from hccp53.stats.calibration import calibration, hosmer_lemeshow, recalibration

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = Path(__file__).parent / "golden"
SCRIPT = ROOT / "scripts" / "golden" / "rms_golden.R"


@pytest.fixture(scope="module")
def data() -> pd.DataFrame:
    return pd.read_csv(GOLDEN / "rms_data.csv")


@pytest.fixture(scope="module")
def rms() -> pd.DataFrame:
    return pd.read_csv(GOLDEN / "rms_results.csv", keep_default_na=False)


def value(rms: pd.DataFrame, what: str, name: str) -> float:
    return float(rms[(rms.what == what) & (rms.name == name)].value.iloc[0])


def test_intercept_slope_brier_c_match_val_prob(data: pd.DataFrame, rms: pd.DataFrame) -> None:
    result = calibration(data.y, data.p)
    assert result.intercept == pytest.approx(value(rms, "val.prob", "Intercept"), abs=1e-8)
    assert result.slope == pytest.approx(value(rms, "val.prob", "Slope"), abs=1e-8)
    assert result.brier == pytest.approx(value(rms, "val.prob", "Brier"), abs=1e-12)
    assert result.c_index == pytest.approx(value(rms, "val.prob", "C (ROC)"), abs=1e-12)


def test_the_smoothed_curve_is_r_lowess(data: pd.DataFrame, rms: pd.DataFrame) -> None:
    expected = rms[rms.what == "lowess"]
    smooth = calibration(data.y, data.p).smoothed
    np.testing.assert_allclose(smooth.predicted, expected.x.astype(float), rtol=0, atol=1e-12)
    np.testing.assert_allclose(smooth.observed, expected.value.astype(float), rtol=0, atol=1e-9)


def test_quantile_bins_and_hosmer_lemeshow_match_r(data: pd.DataFrame, rms: pd.DataFrame) -> None:
    result = calibration(data.y, data.p, bins=10)
    bins = rms[rms.what == "quantile_bin"].pivot(index="x", columns="name", values="value").astype(float)
    bins.index = bins.index.astype(int)
    bins = bins.sort_index()
    np.testing.assert_array_equal(result.binned["bin"], bins.index)
    np.testing.assert_array_equal(result.binned["count"], bins["count"])
    np.testing.assert_allclose(result.binned.observed * result.binned["count"], bins.events, atol=1e-9)
    np.testing.assert_allclose(result.binned.mean_predicted, bins.mean_p, rtol=1e-12)
    chi2, df, p = result.hosmer_lemeshow
    assert chi2 == pytest.approx(value(rms, "hosmer_lemeshow", "chi2"), rel=1e-10)
    assert df == value(rms, "hosmer_lemeshow", "df")
    assert p == pytest.approx(value(rms, "hosmer_lemeshow", "p"), rel=1e-8)


@pytest.mark.skipif(shutil.which("Rscript") is None, reason="no Rscript on PATH (scripts/setup_system.sh installs R)")
def test_the_golden_file_is_what_rms_computes_now(tmp_path: Path) -> None:
    out = tmp_path / "rms.csv"
    subprocess.run(["Rscript", str(SCRIPT), str(GOLDEN / "rms_data.csv"), str(out)], check=True, capture_output=True)
    assert out.read_text() == (GOLDEN / "rms_results.csv").read_text()


def test_a_calibrated_model_has_slope_one_and_a_good_hosmer_lemeshow() -> None:
    rng = np.random.default_rng(1)
    p = rng.uniform(0.05, 0.95, 20000)
    y = (rng.random(p.size) < p).astype(int)
    result = calibration(y, p)
    assert result.slope == pytest.approx(1.0, abs=0.05) and result.intercept == pytest.approx(0.0, abs=0.05)
    assert result.hosmer_lemeshow.df == 8 and result.hosmer_lemeshow.p > 0.01
    binned = result.binned
    assert len(binned) == 10 and (binned["count"] == 2000).all()
    np.testing.assert_allclose(binned.observed, binned.mean_predicted, atol=0.04)
    assert (binned.lower <= binned.observed).all() and (binned.observed <= binned.upper).all()
    smooth = result.smoothed
    assert np.abs(smooth.observed - smooth.predicted).max() < 0.05
    uniform = calibration(y, p, strategy="uniform").binned
    assert list(uniform["bin"]) == list(range(1, 11))
    assert ((uniform["bin"] - 1) / 10 < uniform.mean_predicted).all()
    assert (uniform.mean_predicted < uniform["bin"] / 10).all()


def test_hosmer_lemeshow_by_hand() -> None:
    p = np.repeat([0.2, 0.5, 0.8], 10)
    y = np.r_[np.repeat([1, 0], [4, 6]), np.repeat([1, 0], [5, 5]), np.repeat([1, 0], [6, 4])]
    statistic, df, _ = hosmer_lemeshow(y, p, bins=3)
    # (4-2)^2/(2*0.8) + 0 + (6-8)^2/(8*0.2)
    assert statistic == pytest.approx(4 / 1.6 + 4 / 1.6) and df == 1


def test_recalibration_follows_val_prob_at_the_edges(caplog: pytest.LogCaptureFixture) -> None:
    y = np.array([0, 1, 1, 0, 1, 0, 1, 1])
    assert recalibration(y, np.full(8, 0.3)) == pytest.approx((np.log(5 / 3), 0.0))  # constant p
    p = np.array([0.0, 0.8, 0.6, 0.3, 0.4, 0.5, 0.9, 1.0])
    with caplog.at_level(logging.WARNING, logger="hccp53.stats.calibration"):
        edges = recalibration(y, p)
    assert "2 case(s) with probability 0 or 1 left out" in caplog.text
    assert edges == pytest.approx(recalibration(y[1:-1], p[1:-1]))


def test_bad_input_is_refused() -> None:
    with pytest.raises(InputError, match="between 0 and 1"):
        calibration([0, 1, 1], [0.2, 1.3, 0.5])
    with pytest.raises(InputError, match="3 probabilities do not match 2 labels"):
        calibration([0, 1], [0.2, 0.3, 0.5])
    with pytest.raises(InputError, match="needs both classes, but all 3 labels are 1"):
        calibration([1, 1, 1], [0.2, 0.3, 0.5])
    with pytest.raises(InputError, match="at least 3 calibration bins"):
        calibration([0, 1, 1, 0], [0.2, 0.3, 0.5, 0.1], bins=2)
    with pytest.raises(InputError, match="Unknown calibration binning 'deciles'; use quantile or uniform"):
        calibration([0, 1, 1, 0], [0.2, 0.3, 0.5, 0.1], strategy="deciles")
