"""ROC AUC and DeLong's method: variance, confidence interval and paired test of correlated AUCs.

The AUC is the Mann-Whitney statistic with ties counted one half; a higher score means more likely
class 1 (pROC's ``levels = c(0, 1), direction = "<"``). DeLong's covariance uses the fast algorithm of
Sun & Xu (2014, IEEE Signal Processing Letters 21:1389): three midrankings per model instead of the
n_pos x n_neg comparisons of DeLong, DeLong & Clarke-Pearson (1988), O(k n log n) for k models.
Checked against R's pROC in ``tests/stats`` (``scripts/golden/proc_golden.R``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats import norm, rankdata

from hccp53.errors import InputError


def _checked(y: np.ndarray | list, scores: np.ndarray | list) -> tuple[np.ndarray, np.ndarray, bool]:
    """Labels as bool, scores as (k, n) float; whether ``scores`` was one model (1-D)."""
    labels = np.asarray(y)
    values = np.asarray(scores, dtype=float)
    single = values.ndim == 1
    values = np.atleast_2d(values)
    if labels.ndim != 1 or values.ndim != 2 or values.shape[1] != labels.shape[0]:
        raise InputError(f"Scores of shape {np.shape(scores)} do not match {labels.shape[0]} labels.")
    if not np.isin(labels, (0, 1)).all():
        raise InputError("Labels must be 0 or 1 (1 = P53-mutated).")
    if not np.isfinite(values).all():
        raise InputError("Scores must be finite numbers; some are NaN or infinite.")
    labels = labels.astype(bool)
    if labels.all() or not labels.any():
        raise InputError("An AUC needs both classes; every label is the same.")
    return labels, values, single


def midranks(x: np.ndarray) -> np.ndarray:
    """1-based midranks along the last axis (tied values share the mean of their ranks)."""
    return rankdata(np.asarray(x, dtype=float), method="average", axis=-1)


def auc(y: np.ndarray | list, scores: np.ndarray | list) -> float | np.ndarray:
    """Mann-Whitney AUC of one model (1-D ``scores``, a float) or of k models ((k, n) ``scores``, an array)."""
    labels, values, single = _checked(y, scores)
    m, n = int(labels.sum()), int((~labels).sum())
    ranks = midranks(values)
    result = (ranks[:, labels].sum(axis=1) - m * (m + 1) / 2.0) / (m * n)
    return float(result[0]) if single else result


@dataclass(frozen=True)
class DeLong:
    """AUCs of k models on the same cases and DeLong's (k, k) covariance matrix of them."""

    auc: np.ndarray
    covariance: np.ndarray


def delong(y: np.ndarray | list, scores: np.ndarray | list) -> DeLong:
    """DeLong's AUC covariance, fast version of Sun & Xu (2014).

    With positives X (m of them) and negatives Y (n): ``tx`` are the midranks of the positives among
    themselves, ``ty`` of the negatives, ``tz`` of all cases. The structural components are
    ``V10 = (tz[X] - tx) / n`` and ``V01 = 1 - (tz[Y] - ty) / m``; the covariance is
    ``S10 / m + S01 / n`` with S the sample covariances of the components across cases.
    """
    labels, values, _ = _checked(y, scores)
    m, n = int(labels.sum()), int((~labels).sum())
    if m < 2 or n < 2:
        raise InputError("DeLong's variance needs at least two cases of each class.")
    positives, negatives = values[:, labels], values[:, ~labels]
    tx, ty, tz = midranks(positives), midranks(negatives), midranks(values)
    v10 = (tz[:, labels] - tx) / n
    v01 = 1.0 - (tz[:, ~labels] - ty) / m
    aucs = v10.mean(axis=1)
    s10 = np.atleast_2d(np.cov(v10))
    s01 = np.atleast_2d(np.cov(v01))
    return DeLong(aucs, s10 / m + s01 / n)


def delong_ci(y: np.ndarray | list, score: np.ndarray | list, level: float = 0.95) -> tuple[float, float, float]:
    """AUC and its DeLong confidence interval, as pROC's ``ci.auc(method = "delong")``.

    pROC takes ``auc -/+ qnorm(1 - (1 - level) / 2) * sqrt(var)`` and clips the interval to [0, 1].
    """
    result = delong(y, np.asarray(score, dtype=float)[None, :])
    value, variance = float(result.auc[0]), float(result.covariance[0, 0])
    half = norm.ppf(1.0 - (1.0 - level) / 2.0) * np.sqrt(variance)
    return value, max(0.0, value - half), min(1.0, value + half)


def delong_test(y: np.ndarray | list, score_a: np.ndarray | list, score_b: np.ndarray | list) -> tuple[float, float]:
    """DeLong's paired test of two AUCs on the same cases: (z, two-sided p), as pROC's ``roc.test``.

    Two identical score vectors have zero variance of the difference: z is 0 and p is 1 then.
    """
    result = delong(y, np.vstack([np.asarray(score_a, dtype=float), np.asarray(score_b, dtype=float)]))
    cov = result.covariance
    variance = cov[0, 0] + cov[1, 1] - 2.0 * cov[0, 1]
    difference = result.auc[0] - result.auc[1]
    if variance <= 0.0:
        return 0.0, 1.0
    z = float(difference / np.sqrt(variance))
    return z, float(2.0 * norm.sf(abs(z)))


def holm(pvalues: np.ndarray | list) -> np.ndarray:
    """Holm-Bonferroni adjusted p-values (R's ``p.adjust(method = "holm")``); NaN stays NaN and is not counted."""
    p = np.asarray(pvalues, dtype=float)
    out = np.full_like(p, np.nan)
    finite = np.flatnonzero(~np.isnan(p))
    if finite.size == 0:
        return out
    order = finite[np.argsort(p[finite], kind="stable")]
    k = order.size
    adjusted = np.maximum.accumulate((k - np.arange(k)) * p[order])
    out[order] = np.minimum(adjusted, 1.0)
    return out


def pairwise_delong(
    y: np.ndarray | list, scores: Mapping[str, np.ndarray], correction: str | None = "holm"
) -> pd.DataFrame:
    """DeLong p-values of every pair of models, as a square DataFrame with NaN on the diagonal.

    ``correction="holm"`` adjusts the k(k-1)/2 distinct p-values together; ``None`` (or ``"none"``) leaves them raw.
    """
    names = list(scores)
    k = len(names)
    matrix = np.full((k, k), np.nan)
    pairs = [(i, j) for i in range(k) for j in range(i + 1, k)]
    raw = np.array([delong_test(y, scores[names[i]], scores[names[j]])[1] for i, j in pairs])
    if correction not in (None, "none", "holm"):
        raise InputError(f"Unknown p-value correction {correction!r}; use holm or none.")
    values = holm(raw) if correction == "holm" and len(raw) else raw
    for (i, j), p in zip(pairs, values, strict=True):
        matrix[i, j] = matrix[j, i] = p
    return pd.DataFrame(matrix, index=names, columns=names)
