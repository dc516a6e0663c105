"""Decision curves: net benefit equal to MSKCC's dcurves (golden values from scripts/golden/dcurves_golden.py)."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from hccp53.errors import InputError
from hccp53.stats.decision import decision_curve, net_benefit

GOLDEN = Path(__file__).parent / "golden"


def test_net_benefit_and_interventions_avoided_match_dcurves() -> None:
    data = pd.read_csv(GOLDEN / "dca_data.csv")
    expected = pd.read_csv(GOLDEN / "dca_results.csv")
    ours = decision_curve(data.y, {"model_a": data.model_a, "model_b": data.model_b})
    assert list(ours.model.unique()) == ["model_a", "model_b", "Treat all", "Treat none"]
    merged = expected.merge(ours, on=["model", "threshold"], suffixes=("_dcurves", "_ours"))
    assert len(merged) == len(expected) == len(ours) == 4 * 99
    np.testing.assert_allclose(merged.net_benefit_ours, merged.net_benefit_dcurves, rtol=0, atol=1e-12)
    np.testing.assert_allclose(merged.net_interventions_avoided, merged.net_intervention_avoided, rtol=0, atol=1e-9)
    np.testing.assert_allclose(ours.standardized_net_benefit, ours.net_benefit / data.y.mean(), rtol=1e-15)


def test_net_benefit_by_hand() -> None:
    y = np.array([1, 1, 0, 0, 0])
    p = np.array([0.9, 0.4, 0.6, 0.2, 0.1])
    # at 0.5: treated = cases 0 and 2 -> TP 1, FP 1: 1/5 - 1/5 * 0.5/0.5 = 0
    # at 0.3: treated = 0, 1, 2 -> TP 2, FP 1: 2/5 - 1/5 * 0.3/0.7
    np.testing.assert_allclose(net_benefit(y, p, [0.5, 0.3]), [0.0, 0.4 - 0.2 * 0.3 / 0.7])
    curve = decision_curve(y, {"m": p}, [0.3]).set_index("model")
    assert curve.loc["Treat all", "net_benefit"] == pytest.approx(0.4 - 0.6 * 0.3 / 0.7)
    assert curve.loc["Treat none", "net_benefit"] == 0.0
    assert curve.loc["m", "standardized_net_benefit"] == pytest.approx((0.4 - 0.2 * 0.3 / 0.7) / 0.4)


def test_a_large_cohort_is_fast() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 5000)
    start = time.perf_counter()
    curve = decision_curve(y, {f"m{k}": rng.random(5000) for k in range(5)})
    assert time.perf_counter() - start < 2.0 and len(curve) == 7 * 99


def test_bad_input_is_refused() -> None:
    with pytest.raises(InputError, match="strictly between 0 and 1"):
        net_benefit([0, 1], [0.2, 0.8], [0.0, 0.5])
    with pytest.raises(InputError, match="3 probabilities do not match 2 labels"):
        decision_curve([0, 1], {"m": [0.2, 0.8, 0.5]})
    with pytest.raises(InputError, match="probabilities between 0 and 1"):
        decision_curve([0, 1], {"m": [0.2, 1.8]})
    with pytest.raises(InputError, match="labels must be a 1-D array of 0 or 1"):
        decision_curve([0, 2], {"m": [0.2, 0.8]})
    with pytest.raises(InputError, match="at least one P53-mutated case, but all 2 labels are 0"):
        decision_curve([0, 0], {"m": [0.2, 0.8]})
    with pytest.raises(InputError, match="A model is named 'Treat all'"):
        decision_curve([0, 1], {"Treat all": [0.2, 0.8]})
