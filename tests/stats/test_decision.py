"""Decision curves: net benefit equal to MSKCC's dcurves (golden values from scripts/golden/dcurves_golden.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from hccp53.errors import InputError
from hccp53.stats.decision import decision_curve, net_benefit

GOLDEN = Path(__file__).parent / "golden"


def test_net_benefit_matches_dcurves() -> None:
    data = pd.read_csv(GOLDEN / "dca_data.csv")
    expected = pd.read_csv(GOLDEN / "dca_results.csv")
    ours = decision_curve(data.y, {"model_a": data.model_a, "model_b": data.model_b})
    merged = expected.merge(ours, on=["model", "threshold"], suffixes=("_dcurves", "_ours"))
    assert len(merged) == len(expected) == len(ours) == 4 * 99
    np.testing.assert_allclose(merged.net_benefit_ours, merged.net_benefit_dcurves, atol=1e-12)


def test_net_benefit_by_hand() -> None:
    y = np.array([1, 1, 0, 0, 0])
    p = np.array([0.9, 0.4, 0.6, 0.2, 0.1])
    # at 0.5: treated = cases 0 and 2 -> TP 1, FP 1: 1/5 - 1/5 * 0.5/0.5 = 0
    # at 0.3: treated = 0, 1, 2 -> TP 2, FP 1: 2/5 - 1/5 * 0.3/0.7
    np.testing.assert_allclose(net_benefit(y, p, [0.5, 0.3]), [0.0, 0.4 - 0.2 * 0.3 / 0.7])


def test_thresholds_must_be_open_interval() -> None:
    with pytest.raises(InputError, match="strictly between 0 and 1"):
        net_benefit([0, 1], [0.2, 0.8], [0.0, 0.5])
