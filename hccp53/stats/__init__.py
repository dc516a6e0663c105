"""Statistics of the evaluation: AUC, DeLong, bootstrap, thresholds, calibration, decision curves.

Checked against R (pROC, rms) in ``tests/stats``; ``scripts/golden/`` holds the scripts that make the golden values.
"""

from hccp53.stats.bootstrap import (
    auc_confidence,
    bca_ci,
    binary_metrics,
    bootstrap_auc,
    bootstrap_binary_metrics,
    bootstrap_indices,
    jackknife_auc,
    percentile_ci,
)
from hccp53.stats.roc import DeLong, auc, delong, delong_ci, delong_test, holm, midranks, pairwise_delong
from hccp53.stats.threshold import apply_threshold, threshold_for_sensitivity, youden_threshold

__all__ = [
    "DeLong",
    "apply_threshold",
    "auc",
    "auc_confidence",
    "bca_ci",
    "binary_metrics",
    "bootstrap_auc",
    "bootstrap_binary_metrics",
    "bootstrap_indices",
    "delong",
    "delong_ci",
    "delong_test",
    "holm",
    "jackknife_auc",
    "midranks",
    "pairwise_delong",
    "percentile_ci",
    "threshold_for_sensitivity",
    "youden_threshold",
]
