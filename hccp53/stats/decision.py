"""Decision curve analysis (Vickers & Elkin 2006): net benefit of treating by a model against a threshold.

Net benefit at threshold probability pt: ``TP/n - FP/n * pt / (1 - pt)`` where a case is treated when
its predicted probability is >= pt (as MSKCC's ``dcurves``); "Treat all" treats everyone, "Treat none"
has net benefit 0. Checked against dcurves in ``tests/stats/test_decision.py``.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from hccp53.errors import InputError

DEFAULT_THRESHOLDS = np.round(np.arange(0.01, 1.0, 0.01), 2)


def net_benefit(y: np.ndarray | list, p: np.ndarray | list, thresholds: np.ndarray | list) -> np.ndarray:
    """Net benefit of one model at each threshold (vectorised over thresholds)."""
    labels = np.asarray(y).astype(bool)
    probabilities = np.asarray(p, dtype=float)
    pt = np.asarray(thresholds, dtype=float)
    if ((pt <= 0) | (pt >= 1)).any():
        raise InputError("Decision-curve thresholds must lie strictly between 0 and 1.")
    treated = probabilities[None, :] >= pt[:, None]
    n = labels.size
    tp = (treated & labels).sum(axis=1) / n
    fp = (treated & ~labels).sum(axis=1) / n
    return tp - fp * pt / (1.0 - pt)


def decision_curve(
    y: np.ndarray | list, probabilities: Mapping[str, np.ndarray], thresholds: np.ndarray | list = DEFAULT_THRESHOLDS
) -> pd.DataFrame:
    """Net benefit of each model, "Treat all" and "Treat none": long table (threshold, model, net_benefit)."""
    labels = np.asarray(y)
    pt = np.asarray(thresholds, dtype=float)
    curves = {name: net_benefit(labels, p, pt) for name, p in probabilities.items()}
    curves["Treat all"] = net_benefit(labels, np.ones(labels.size), pt)
    curves["Treat none"] = np.zeros(pt.size)
    return pd.concat([pd.DataFrame({"threshold": pt, "model": name, "net_benefit": values})
                      for name, values in curves.items()], ignore_index=True)  # fmt: skip
