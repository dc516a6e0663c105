"""Operating thresholds chosen on one split and applied unchanged to another.

A case is called positive when ``score >= threshold``. Candidate thresholds are the midpoints between
consecutive distinct scores (plus one below the lowest and one above the highest), as pROC's
``coords``: a midpoint generalises to new cases better than a score of the training split itself.
"""

from __future__ import annotations

import numpy as np

from hccp53.stats.roc import _checked


def _candidates(labels: np.ndarray, score: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Thresholds (ascending) and the sensitivity and specificity of ``score >= threshold`` at each."""
    distinct = np.unique(score)
    middles = (distinct[:-1] + distinct[1:]) / 2.0
    thresholds = np.concatenate([[distinct[0] - 1.0], middles, [distinct[-1] + 1.0]])
    positives, negatives = np.sort(score[labels]), np.sort(score[~labels])
    sensitivity = 1.0 - np.searchsorted(positives, thresholds, side="left") / positives.size
    specificity = np.searchsorted(negatives, thresholds, side="left") / negatives.size
    return thresholds, sensitivity, specificity


def youden_threshold(y: np.ndarray | list, score: np.ndarray | list) -> float:
    """Threshold maximising Youden's J = sensitivity + specificity - 1.

    Ties in J are broken towards the highest threshold (the fewest positive calls).
    """
    labels, values, _ = _checked(y, score)
    thresholds, sensitivity, specificity = _candidates(labels, values[0])
    j = sensitivity + specificity - 1.0
    best = np.flatnonzero(j >= j.max() - 1e-12)
    return float(thresholds[best[-1]])


def threshold_for_sensitivity(y: np.ndarray | list, score: np.ndarray | list, sensitivity: float) -> float:
    """The highest threshold whose sensitivity is at least ``sensitivity``."""
    labels, values, _ = _checked(y, score)
    thresholds, sens, _ = _candidates(labels, values[0])
    ok = np.flatnonzero(sens >= sensitivity - 1e-12)
    return float(thresholds[ok[-1]])


def apply_threshold(score: np.ndarray | list, threshold: float) -> np.ndarray:
    """0/1 predictions: 1 where ``score >= threshold``."""
    return (np.asarray(score, dtype=float) >= threshold).astype(np.int64)
