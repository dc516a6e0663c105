"""Operating thresholds chosen on one split and applied unchanged to another.

A case is called positive when ``score >= threshold``. Candidate thresholds are the midpoints between
consecutive distinct scores, plus one below the lowest score (everyone positive) and one above the
highest (no one positive), as pROC's ``coords`` (which uses -Inf and Inf for those two; here they are
the extreme scores -/+ 1, finite so that they can be written to JSON). A midpoint generalises to the
cases of another split better than a score of the split the threshold was chosen on.
"""

from __future__ import annotations

import numpy as np

from hccp53.errors import InputError
from hccp53.stats.roc import _checked

#: Two Youden's J (or sensitivities) closer than this are the same (rounding of the counts' ratios).
TOLERANCE = 1e-12


def _candidates(labels: np.ndarray, score: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Thresholds (ascending) and the sensitivity and specificity of ``score >= threshold`` at each."""
    distinct = np.unique(score)
    middles = (distinct[:-1] + distinct[1:]) / 2.0
    lowest = distinct[0] - 1.0
    highest = max(distinct[-1] + 1.0, np.nextafter(distinct[-1], np.inf))  # above the top even for huge scores
    thresholds = np.concatenate([[lowest], middles, [highest]])
    positives, negatives = np.sort(score[labels]), np.sort(score[~labels])
    sensitivity = 1.0 - np.searchsorted(positives, thresholds, side="left") / positives.size
    specificity = np.searchsorted(negatives, thresholds, side="left") / negatives.size
    return thresholds, sensitivity, specificity


def _one_model(y: np.ndarray | list, score: np.ndarray | list) -> tuple[np.ndarray, np.ndarray]:
    labels, values, _ = _checked(y, score)
    if values.shape[0] != 1:
        raise InputError(f"A threshold is chosen for one model at a time; got scores of shape {values.shape}.")
    return labels, values[0]


def youden_threshold(y: np.ndarray | list, score: np.ndarray | list) -> float:
    """Threshold maximising Youden's J = sensitivity + specificity - 1 over the candidate cut points.

    Ties in J (within :data:`TOLERANCE`) are broken towards the highest threshold, the fewest positive
    calls: deterministic, the conservative call when two cut points are equally good, and the highest of
    the tied thresholds that pROC's ``coords(best.method = "youden")`` returns.

    Parameters
    ----------
    y : array-like of 0/1, shape (n,)
        Labels.
    score : array-like, shape (n,)
        One model's scores.

    Returns
    -------
    float
        The threshold; :func:`apply_threshold` calls ``score >= threshold`` positive.

    Raises
    ------
    InputError
        As :func:`hccp53.stats.auc`, and for more than one model's scores.
    """
    thresholds, sensitivity, specificity = _candidates(*_one_model(y, score))
    j = sensitivity + specificity - 1.0
    best = np.flatnonzero(j >= j.max() - TOLERANCE)
    return float(thresholds[best[-1]])


def threshold_for_sensitivity(y: np.ndarray | list, score: np.ndarray | list, sensitivity: float) -> float:
    """The highest candidate threshold whose sensitivity is at least ``sensitivity``.

    Parameters
    ----------
    y : array-like of 0/1, shape (n,)
        Labels.
    score : array-like, shape (n,)
        One model's scores.
    sensitivity : float
        Target sensitivity, between 0 and 1.

    Returns
    -------
    float
        The threshold (the highest, so the specificity is the best the target allows).

    Raises
    ------
    InputError
        As :func:`youden_threshold`, and if ``sensitivity`` is not between 0 and 1.
    """
    if not 0.0 <= sensitivity <= 1.0:
        raise InputError(f"The target sensitivity must be between 0 and 1, got {sensitivity}.")
    thresholds, sens, _ = _candidates(*_one_model(y, score))
    ok = np.flatnonzero(sens >= sensitivity - TOLERANCE)  # never empty: the lowest threshold has sensitivity 1
    return float(thresholds[ok[-1]])


def apply_threshold(score: np.ndarray | list, threshold: float) -> np.ndarray:
    """0/1 predictions, 1 where ``score >= threshold``.

    Parameters
    ----------
    score : array-like
        Scores of any shape.
    threshold : float
        From :func:`youden_threshold` or :func:`threshold_for_sensitivity`.

    Returns
    -------
    numpy.ndarray
        int64 array of 0 and 1, the shape of ``score``.
    """
    return (np.asarray(score, dtype=float) >= threshold).astype(np.int64)
