"""ROC AUC and DeLong's method: variance, confidence interval and paired test of correlated AUCs.

The AUC is the Mann-Whitney statistic with ties counted one half; a higher score means more likely
class 1 (pROC's ``levels = c(0, 1), direction = "<"``). DeLong's covariance uses the fast algorithm of
Sun & Xu (2014, IEEE Signal Processing Letters 21:1389): three midrankings per model instead of the
n_pos x n_neg comparisons of DeLong, DeLong & Clarke-Pearson (1988, Biometrics 44:837), O(k n log n)
for k models. Checked against R's pROC in ``tests/stats`` (``scripts/golden/proc_golden.R``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats import norm, rankdata

from hccp53.errors import InputError

#: Values of ``correction`` that :func:`pairwise_delong` accepts.
CORRECTIONS = (None, "none", "holm")


def _checked(y: np.ndarray | list, scores: np.ndarray | list) -> tuple[np.ndarray, np.ndarray, bool]:
    """Labels as bool (n,), scores as float (k, n), and whether ``scores`` was one model (1-D)."""
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
    """1-based midranks along the last axis: tied values share the mean of their ranks.

    Parameters
    ----------
    x : numpy.ndarray
        Values, 1-D or 2-D; the rows of a 2-D array are ranked independently (O(n log n) each).

    Returns
    -------
    numpy.ndarray
        Float ranks of the same shape as ``x``.
    """
    return rankdata(np.asarray(x, dtype=float), method="average", axis=-1)


def auc(y: np.ndarray | list, scores: np.ndarray | list) -> float | np.ndarray:
    """Mann-Whitney AUC, ties counted one half (pROC's ``direction = "<"``: higher score, class 1).

    Parameters
    ----------
    y : array-like of 0/1, shape (n,)
        Labels (1 = P53-mutated).
    scores : array-like, shape (n,) or (k, n)
        One model's scores, or k models' scores on the same cases.

    Returns
    -------
    float or numpy.ndarray
        The AUC (a float for 1-D ``scores``), or the k AUCs.

    Raises
    ------
    InputError
        If the shapes disagree, a label is not 0/1, a score is NaN or infinite, or one class is missing.
    """
    labels, values, single = _checked(y, scores)
    m, n = int(labels.sum()), int((~labels).sum())
    ranks = midranks(values)
    result = (ranks[:, labels].sum(axis=1) - m * (m + 1) / 2.0) / (m * n)
    return float(result[0]) if single else result


@dataclass(frozen=True)
class DeLong:
    """AUCs of k models on the same cases and DeLong's covariance of them.

    Attributes
    ----------
    auc : numpy.ndarray
        (k,) AUCs.
    covariance : numpy.ndarray
        (k, k) covariance matrix; its diagonal is pROC's ``var(roc)``.
    """

    auc: np.ndarray
    covariance: np.ndarray


def _components(labels: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """DeLong's structural components (Sun & Xu): V10 (k, m) of the positives, V01 (k, n) of the negatives."""
    m, n = int(labels.sum()), int((~labels).sum())
    if m < 2 or n < 2:
        raise InputError(f"DeLong's variance needs at least two cases of each class; got {m} positive, {n} negative.")
    tx, ty, tz = midranks(values[:, labels]), midranks(values[:, ~labels]), midranks(values)
    return (tz[:, labels] - tx) / n, 1.0 - (tz[:, ~labels] - ty) / m


def delong(y: np.ndarray | list, scores: np.ndarray | list) -> DeLong:
    """DeLong's AUC covariance, by the fast algorithm of Sun & Xu (2014).

    With positives X (m of them) and negatives Y (n): ``tx`` are the midranks of the positives among
    themselves, ``ty`` of the negatives, ``tz`` of all cases. The structural components are
    ``V10 = (tz[X] - tx) / n`` and ``V01 = 1 - (tz[Y] - ty) / m``; the covariance is
    ``S10 / m + S01 / n`` with S the sample covariances (denominator m - 1, n - 1) of the components.

    Parameters
    ----------
    y : array-like of 0/1, shape (n,)
        Labels.
    scores : array-like, shape (n,) or (k, n)
        One or k models' scores on the same cases.

    Returns
    -------
    DeLong
        (k,) AUCs and their (k, k) covariance (k = 1 for 1-D ``scores``).

    Raises
    ------
    InputError
        As :func:`auc`, and if a class has fewer than two cases.
    """
    v10, v01 = _components(*_checked(y, scores)[:2])
    s10 = np.atleast_2d(np.cov(v10))
    s01 = np.atleast_2d(np.cov(v01))
    return DeLong(v10.mean(axis=1), s10 / v10.shape[1] + s01 / v01.shape[1])


def delong_ci(y: np.ndarray | list, score: np.ndarray | list, level: float = 0.95) -> tuple[float, float, float]:
    """AUC and its DeLong confidence interval, as pROC's ``ci.auc(roc, method = "delong")``.

    The interval is ``auc -/+ qnorm(1 - (1 - level) / 2) * sqrt(var)``, clipped to [0, 1] as pROC clips it.

    Parameters
    ----------
    y : array-like of 0/1, shape (n,)
        Labels.
    score : array-like, shape (n,)
        One model's scores.
    level : float
        Confidence level, between 0 and 1.

    Returns
    -------
    tuple of float
        (auc, lower, upper).

    Raises
    ------
    InputError
        As :func:`delong`, and if ``level`` is not between 0 and 1.
    """
    if not 0.0 < level < 1.0:
        raise InputError(f"The confidence level must be between 0 and 1, got {level}.")
    result = delong(y, np.asarray(score, dtype=float)[None, :])
    value, variance = float(result.auc[0]), float(result.covariance[0, 0])
    half = norm.ppf(1.0 - (1.0 - level) / 2.0) * np.sqrt(variance)
    return value, max(0.0, value - half), min(1.0, value + half)


def _paired_z(v10: np.ndarray, v01: np.ndarray, i: int, j: int) -> tuple[float, float]:
    """pROC's ``delong.paired.test`` of models i and j: z = d / sqrt(var), 0 when both are 0; p = 2 Phi(-|z|).

    The variance of the difference is taken from the differences of the components, which equals
    ``L S L'`` with ``L = (1, -1)`` and is exactly 0 (never a rounding error below it) for identical models.
    """
    d10, d01 = v10[i] - v10[j], v01[i] - v01[j]
    difference = float(d10.mean())
    variance = float(np.var(d10, ddof=1) / d10.size + np.var(d01, ddof=1) / d01.size)
    if variance > 0.0:
        z = difference / np.sqrt(variance)
    else:
        z = 0.0 if difference == 0.0 else float(np.copysign(np.inf, difference))
    return float(z), float(2.0 * norm.sf(abs(z)))


def delong_test(y: np.ndarray | list, score_a: np.ndarray | list, score_b: np.ndarray | list) -> tuple[float, float]:
    """DeLong's paired test of two AUCs on the same cases, as pROC's ``roc.test(method = "delong", paired = TRUE)``.

    As in pROC, a difference with zero variance gives z = 0, p = 1 when the AUCs are equal (two identical
    models) and z = +/-inf, p = 0 when they are not (e.g. a perfect model against a constant one).

    Parameters
    ----------
    y : array-like of 0/1, shape (n,)
        Labels.
    score_a, score_b : array-like, shape (n,)
        The two models' scores.

    Returns
    -------
    tuple of float
        (z, two-sided p); z > 0 when model a has the higher AUC.

    Raises
    ------
    InputError
        As :func:`delong`.
    """
    labels, values, _ = _checked(y, np.vstack([np.asarray(score_a, dtype=float), np.asarray(score_b, dtype=float)]))
    return _paired_z(*_components(labels, values), 0, 1)


def holm(pvalues: np.ndarray | list) -> np.ndarray:
    """Holm-Bonferroni adjusted p-values, as R's ``p.adjust(p, method = "holm")``.

    Parameters
    ----------
    pvalues : array-like of float
        Raw p-values of any shape; NaN entries stay NaN and are not counted as tests (as R's NA).

    Returns
    -------
    numpy.ndarray
        Adjusted p-values, the shape of ``pvalues``.
    """
    p = np.asarray(pvalues, dtype=float)
    flat = p.ravel()
    out = np.full_like(flat, np.nan)
    finite = np.flatnonzero(~np.isnan(flat))
    if finite.size:
        order = finite[np.argsort(flat[finite], kind="stable")]
        k = order.size
        out[order] = np.minimum(np.maximum.accumulate((k - np.arange(k)) * flat[order]), 1.0)
    return out.reshape(p.shape)


def pairwise_delong(
    y: np.ndarray | list, scores: Mapping[str, np.ndarray], correction: str | None = "holm"
) -> pd.DataFrame:
    """Paired DeLong p-values of every pair of models, as a square table.

    The components of all k models are computed once; each pair is tested as :func:`delong_test` does.

    Parameters
    ----------
    y : array-like of 0/1, shape (n,)
        Labels.
    scores : mapping of str to array-like
        Model name to its scores on the same n cases.
    correction : {"holm", None, "none"}
        ``"holm"`` adjusts the k(k-1)/2 distinct p-values together (:func:`holm`); ``None`` or ``"none"``
        leaves them raw.

    Returns
    -------
    pandas.DataFrame
        (k, k) p-values indexed and columned by model name, symmetric, NaN on the diagonal.

    Raises
    ------
    InputError
        As :func:`delong`, and for an unknown ``correction``.
    """
    if correction not in CORRECTIONS:
        raise InputError(f"Unknown p-value correction {correction!r}; use 'holm' or None.")
    names = list(scores)
    k = len(names)
    matrix = np.full((k, k), np.nan)
    if k >= 2:
        labels, values, _ = _checked(y, np.vstack([np.asarray(scores[name], dtype=float) for name in names]))
        v10, v01 = _components(labels, values)
        pairs = [(i, j) for i in range(k) for j in range(i + 1, k)]
        raw = np.array([_paired_z(v10, v01, i, j)[1] for i, j in pairs])
        adjusted = holm(raw) if correction == "holm" else raw
        for (i, j), p in zip(pairs, adjusted, strict=True):
            matrix[i, j] = matrix[j, i] = p
    return pd.DataFrame(matrix, index=names, columns=names)
