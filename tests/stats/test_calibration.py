"""Calibration statistics against rms::val.prob; curves and Hosmer-Lemeshow by hand."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from hccp53.errors import InputError
from hccp53.stats.calibration import calibration, hosmer_lemeshow

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = Path(__file__).parent / "golden"
SCRIPT = ROOT / "scripts" / "golden" / "rms_golden.R"


def rms(what: str, name: str) -> float:
    results = pd.read_csv(GOLDEN / "rms_results.csv", keep_default_na=False)
    return float(results[(results.what == what) & (results.name == name)].value.iloc[0])


def test_intercept_slope_brier_c_match_val_prob() -> None:
    data = pd.read_csv(GOLDEN / "rms_data.csv")
    result = calibration(data.y, data.p)
    assert result.intercept == pytest.approx(rms("val.prob", "Intercept"), abs=1e-7)
    assert result.slope == pytest.approx(rms("val.prob", "Slope"), abs=1e-7)
    assert result.brier == pytest.approx(rms("val.prob", "Brier"), abs=1e-12)
    assert result.c_index == pytest.approx(rms("val.prob", "C (ROC)"), abs=1e-12)


@pytest.mark.skipif(shutil.which("Rscript") is None, reason="no Rscript (scripts/setup_system.sh installs R)")
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
    assert result.hosmer_lemeshow[1] == 8 and result.hosmer_lemeshow[2] > 0.01
    binned = result.binned
    assert len(binned) == 10 and (binned["count"] == 2000).all()
    np.testing.assert_allclose(binned.observed, binned.mean_predicted, atol=0.04)
    assert (binned.lower <= binned.observed).all() and (binned.observed <= binned.upper).all()
    smooth = result.smoothed
    assert np.abs(smooth.observed - smooth.predicted).max() < 0.05


def test_hosmer_lemeshow_by_hand() -> None:
    p = np.repeat([0.2, 0.5, 0.8], 10)
    y = np.r_[np.repeat([1, 0], [4, 6]), np.repeat([1, 0], [5, 5]), np.repeat([1, 0], [6, 4])]
    statistic, df, _ = hosmer_lemeshow(y, p, bins=3)
    # (4-2)^2/(2*0.8) + 0 + (6-8)^2/(8*0.2)
    assert statistic == pytest.approx(4 / 1.6 + 4 / 1.6) and df == 1


def test_bad_probabilities_are_refused() -> None:
    with pytest.raises(InputError, match="between 0 and 1"):
        calibration([0, 1, 1], [0.2, 1.3, 0.5])
    with pytest.raises(InputError, match="at least 3 calibration bins"):
        calibration([0, 1, 1, 0], [0.2, 0.3, 0.5, 0.1], bins=2)
