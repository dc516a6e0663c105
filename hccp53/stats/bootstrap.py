"""Vectorised, paired bootstrap of AUCs and threshold metrics, with percentile and BCa intervals.

One (B, n) array of case indices is drawn per split and shared by every model, so that model
differences are paired. Resampled AUCs are computed for all B resamples and k models at once, exactly
as a loop over ``sklearn.metrics.roc_auc_score`` on the resampled cases would (a case drawn twice is
tied with itself).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping

import numpy as np
import pandas as pd
from scipy.stats import norm, rankdata

from hccp53.errors import InputError
from hccp53.stats.roc import _checked, auc, delong_ci, midranks

#: Interval methods of :func:`auc_confidence`.
METHODS = ("bca", "percentile", "delong")

#: Above this many (positive x negative) pairs the kernel matrix is too large: rank each resample instead.
KERNEL_PAIRS = 4_000_000


def _level(level: float) -> float:
    if not 0.0 < level < 1.0:
        raise InputError(f"The confidence level must be between 0 and 1, got {level}.")
    return level


def bootstrap_indices(y: np.ndarray | list, n_resamples: int = 2000, seed: int = 0,
                      stratified: bool = True) -> np.ndarray:  # fmt: skip
    """Case indices of ``n_resamples`` bootstrap resamples, to be shared by every model.

    Parameters
    ----------
    y : array-like of 0/1, shape (n,)
        Labels.
    n_resamples : int
        B, the number of resamples.
    seed : int
        Seed of ``numpy.random.default_rng``; the same seed gives the same indices.
    stratified : bool
        Resample the positives and the negatives separately, keeping both counts (every resample then
        has an AUC); each row holds the positives' draws first, then the negatives'. Without
        stratification the rows are ``default_rng(seed).integers(0, n, (B, n))``, the draws of
        ``scipy.stats.bootstrap(paired=True, rng=default_rng(seed))``.

    Returns
    -------
    numpy.ndarray
        (B, n) integer indices into the cases.

    Raises
    ------
    InputError
        If ``n_resamples`` is below 1, a label is not 0/1, or (stratified) one class is missing.
    """
    labels = np.asarray(y)
    if labels.ndim != 1 or not np.isin(labels, (0, 1)).all():
        raise InputError("Labels must be a 1-D array of 0 or 1 (1 = P53-mutated).")
    if n_resamples < 1:
        raise InputError(f"Ask for at least one bootstrap resample, got {n_resamples}.")
    labels = labels.astype(bool)
    rng = np.random.default_rng(seed)
    n = labels.size
    if not stratified:
        return rng.integers(0, n, size=(n_resamples, n))
    positives, negatives = np.flatnonzero(labels), np.flatnonzero(~labels)
    if positives.size == 0 or negatives.size == 0:
        raise InputError("A stratified bootstrap needs both classes; every label is the same.")
    draw_p = positives[rng.integers(0, positives.size, size=(n_resamples, positives.size))]
    draw_n = negatives[rng.integers(0, negatives.size, size=(n_resamples, negatives.size))]
    return np.concatenate([draw_p, draw_n], axis=1)


def _checked_indices(indices: np.ndarray, n: int) -> np.ndarray:
    idx = np.asarray(indices)
    if idx.ndim != 2 or not np.issubdtype(idx.dtype, np.integer):
        raise InputError(f"Bootstrap indices must be a 2-D integer array (resamples x cases), got {idx.dtype} "
                         f"of shape {idx.shape}.")  # fmt: skip
    if idx.size and (idx.min() < 0 or idx.max() >= n):
        raise InputError(f"Bootstrap indices must lie in 0..{n - 1} for {n} cases; "
                         "were they drawn for another split?")  # fmt: skip
    return idx


def _draw_counts(indices: np.ndarray, n: int) -> np.ndarray:
    """(B, n) how many times each case is drawn in each resample."""
    b = indices.shape[0]
    flat = (indices + (np.arange(b) * n)[:, None]).ravel()
    return np.bincount(flat, minlength=b * n).reshape(b, n).astype(float)


def bootstrap_auc(y: np.ndarray | list, scores: np.ndarray | list, indices: np.ndarray) -> np.ndarray:
    """AUC of every resample and model, vectorised over both.

    A resample's AUC is ``c_pos' K c_neg / (m n)`` with ``K[i, j] = 1, 1/2, 0`` as positive i scores
    above, equal to or below negative j and ``c`` the number of times each case is drawn: one matrix
    product per model for all resamples, exactly the Mann-Whitney AUC of the resampled cases (a case
    drawn twice is tied with itself). Past :data:`KERNEL_PAIRS` pairs each resample is ranked instead
    (midranks), with the same result.

    Parameters
    ----------
    y : array-like of 0/1, shape (n,)
        Labels.
    scores : array-like, shape (n,) or (k, n)
        One or k models' scores on the same cases.
    indices : numpy.ndarray
        (B, n') case indices, usually :func:`bootstrap_indices`.

    Returns
    -------
    numpy.ndarray
        (B, k) AUCs, or (B,) for 1-D ``scores``; NaN for a resample with one class only (possible
        without stratification).

    Raises
    ------
    InputError
        As :func:`hccp53.stats.auc`, and if ``indices`` is not a 2-D integer array of valid case indices.
    """
    labels, values, single = _checked(y, scores)
    idx = _checked_indices(indices, labels.size)
    positives, negatives = np.flatnonzero(labels), np.flatnonzero(~labels)
    out = np.empty((idx.shape[0], values.shape[0]))
    if positives.size * negatives.size <= KERNEL_PAIRS:
        counts = _draw_counts(idx, labels.size)
        c_pos, c_neg = counts[:, positives], counts[:, negatives]
        m, n = c_pos.sum(axis=1), c_neg.sum(axis=1)
        for k, row in enumerate(values):  # loop over models only (k is small)
            a, b = row[positives][:, None], row[negatives][None, :]
            kernel = (a > b) + 0.5 * (a == b)
            with np.errstate(invalid="ignore", divide="ignore"):
                out[:, k] = np.einsum("bj,bj->b", c_pos @ kernel, c_neg) / (m * n)
    else:
        resampled_labels = labels[idx]
        m = resampled_labels.sum(axis=1).astype(float)
        n = idx.shape[1] - m
        for k, row in enumerate(values):
            ranks = rankdata(row[idx], method="average", axis=1)  # midranks within each resample
            rank_sum = np.where(resampled_labels, ranks, 0.0).sum(axis=1)
            with np.errstate(invalid="ignore", divide="ignore"):
                out[:, k] = (rank_sum - m * (m + 1) / 2.0) / (m * n)
    out[(m == 0) | (n == 0)] = np.nan
    return out[:, 0] if single else out


def jackknife_auc(y: np.ndarray | list, scores: np.ndarray | list) -> np.ndarray:
    """Leave-one-out AUCs, all from one ranking.

    Removing a positive x removes its placement ``(#negatives below x) + (#tied negatives) / 2`` from the
    Mann-Whitney numerator and one positive from the denominator (likewise for a negative): O(k n log n).

    Parameters
    ----------
    y : array-like of 0/1, shape (n,)
        Labels.
    scores : array-like, shape (n,) or (k, n)
        One or k models' scores.

    Returns
    -------
    numpy.ndarray
        (n,) AUCs without case i, or (n, k); NaN where leaving case i out empties its class.

    Raises
    ------
    InputError
        As :func:`hccp53.stats.auc`.
    """
    labels, values, single = _checked(y, scores)
    m, n = int(labels.sum()), int((~labels).sum())
    tz = midranks(values)
    tx = midranks(values[:, labels])
    ty = midranks(values[:, ~labels])
    pos_place = tz[:, labels] - tx  # (k, m): negatives below each positive (+ ties/2)
    neg_place = m - (tz[:, ~labels] - ty)  # (k, n): positives above each negative (+ ties/2)
    total = pos_place.sum(axis=1, keepdims=True)  # = AUC * m * n
    out = np.full((values.shape[0], labels.size), np.nan)
    if m > 1:
        out[:, labels] = (total - pos_place) / ((m - 1) * n)
    if n > 1:
        out[:, ~labels] = (total - neg_place) / (m * (n - 1))
    return out[0] if single else out.T


def percentile_ci(boot: np.ndarray, level: float = 0.95) -> tuple[np.ndarray | float, np.ndarray | float]:
    """Percentile interval of bootstrap replicates.

    Parameters
    ----------
    boot : numpy.ndarray
        (B,) or (B, k) replicates; NaN replicates are left out (a column of NaN only gives NaN).
    level : float
        Confidence level, between 0 and 1.

    Returns
    -------
    tuple
        (lower, upper): floats for (B,) replicates, (k,) arrays for (B, k). Quantiles are NumPy's default
        (linear), as ``scipy.stats.bootstrap(method="percentile")``.
    """
    alpha = (1.0 - _level(level)) / 2.0
    with warnings.catch_warnings():  # a column of NaN only (say, precision without positive calls) gives NaN
        warnings.simplefilter("ignore", RuntimeWarning)
        lo, hi = np.nanquantile(np.asarray(boot, dtype=float), [alpha, 1.0 - alpha], axis=0)
    return (float(lo), float(hi)) if np.ndim(lo) == 0 else (lo, hi)


def bca_ci(estimate: float | np.ndarray, boot: np.ndarray, jackknife: np.ndarray,
           level: float = 0.95) -> tuple[np.ndarray | float, np.ndarray | float]:  # fmt: skip
    """Efron's bias-corrected and accelerated (BCa) interval, column-wise.

    Bias correction ``z0 = Phi^-1(#{boot < estimate} / B)`` (ties with the estimate counted one half),
    acceleration ``a = sum(d^3) / (6 (sum(d^2))^1.5)`` with ``d = mean(jackknife) - jackknife``; the interval
    takes the bootstrap quantiles at ``Phi(z0 + (z0 + z) / (1 - a (z0 + z)))`` for ``z = Phi^-1(alpha)`` and
    ``Phi^-1(1 - alpha)`` (Efron & Tibshirani 1993, ch. 14). Given the same replicates and jackknife this
    is ``scipy.stats.bootstrap(method="BCa")``'s interval.

    Parameters
    ----------
    estimate : float or numpy.ndarray
        The statistic on the original sample, a float or (k,).
    boot : numpy.ndarray
        (B,) or (B, k) bootstrap replicates; NaN replicates are left out.
    jackknife : numpy.ndarray
        (n,) or (n, k) leave-one-out values (:func:`jackknife_auc`); NaN values are left out.
    level : float
        Confidence level, between 0 and 1.

    Returns
    -------
    tuple
        (lower, upper): floats for (B,) replicates, (k,) arrays for (B, k). Where every replicate lies on
        one side of the estimate (z0 infinite) the percentile interval is returned for that column
        (scipy returns NaN there); a column of NaN replicates only gives NaN.
    """
    alpha = (1.0 - _level(level)) / 2.0
    boot = np.asarray(boot, dtype=float)
    single = boot.ndim == 1
    boot2 = boot[:, None] if single else boot
    jack = np.asarray(jackknife, dtype=float)
    jack2 = jack[:, None] if jack.ndim == 1 else jack
    theta = np.broadcast_to(np.asarray(estimate, dtype=float), (boot2.shape[1],))
    valid = ~np.isnan(boot2)
    count = valid.sum(axis=0)
    below = ((boot2 < theta) & valid).sum(axis=0) + 0.5 * ((boot2 == theta) & valid).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        z0 = norm.ppf(below / count)
    d = np.nanmean(jack2, axis=0) - jack2
    denominator = 6.0 * np.nansum(d**2, axis=0) ** 1.5
    with np.errstate(invalid="ignore", divide="ignore"):
        a = np.where(denominator > 0, np.nansum(d**3, axis=0) / denominator, 0.0)
    z = norm.ppf([alpha, 1.0 - alpha])
    lo = np.full(theta.size, np.nan)
    hi = np.full(theta.size, np.nan)
    for j in range(theta.size):  # one column per model: k is small
        column = boot2[valid[:, j], j]
        if column.size == 0:
            continue
        if np.isfinite(z0[j]):
            q = norm.cdf(z0[j] + (z0[j] + z) / (1.0 - a[j] * (z0[j] + z)))
        else:
            q = np.array([alpha, 1.0 - alpha])
        lo[j], hi[j] = np.quantile(column, q)
    return (float(lo[0]), float(hi[0])) if single else (lo, hi)


def _counts(y: np.ndarray, predicted: np.ndarray) -> dict[str, np.ndarray]:
    y = y.astype(bool)
    p = predicted.astype(bool)
    return {"tp": (y & p).sum(-1), "tn": (~y & ~p).sum(-1), "fp": (~y & p).sum(-1), "fn": (y & ~p).sum(-1)}


def _ratio(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return np.where(b > 0, a / np.where(b > 0, b, 1.0), np.nan)


def _metrics(c: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    tp, tn, fp, fn = c["tp"], c["tn"], c["fp"], c["fn"]
    return {
        "accuracy": _ratio(tp + tn, tp + tn + fp + fn),
        "sensitivity": _ratio(tp, tp + fn),
        "specificity": _ratio(tn, tn + fp),
        "precision": _ratio(tp, tp + fp),
        "npv": _ratio(tn, tn + fn),
        "f1": _ratio(2 * tp, 2 * tp + fp + fn),
    }


def _binary(y: np.ndarray | list, predicted: np.ndarray | list) -> tuple[np.ndarray, np.ndarray]:
    labels, calls = np.asarray(y), np.asarray(predicted)
    if labels.ndim != 1 or labels.shape != calls.shape:
        raise InputError(f"{calls.size} predictions do not match {labels.size} labels.")
    for name, values in (("Labels", labels), ("Predictions", calls)):
        if not np.isin(values, (0, 1)).all():
            raise InputError(f"{name} must be 0 or 1; threshold scores with apply_threshold first.")
    return labels, calls


def binary_metrics(y: np.ndarray | list, predicted: np.ndarray | list) -> dict[str, float]:
    """Accuracy, sensitivity, specificity, precision, NPV and F1 of 0/1 predictions.

    Parameters
    ----------
    y, predicted : array-like of 0/1, shape (n,)
        Labels and predictions (:func:`hccp53.stats.apply_threshold`).

    Returns
    -------
    dict of str to float
        Keys ``accuracy``, ``sensitivity``, ``specificity``, ``precision``, ``npv``, ``f1``; NaN (no error)
        where a denominator is 0, e.g. precision with no positive call.

    Raises
    ------
    InputError
        If the lengths differ or a value is not 0/1.
    """
    labels, calls = _binary(y, predicted)
    return {k: float(v) for k, v in _metrics(_counts(labels, calls)).items()}


def bootstrap_binary_metrics(y: np.ndarray | list, predicted: np.ndarray | list,
                             indices: np.ndarray) -> dict[str, np.ndarray]:  # fmt: skip
    """:func:`binary_metrics` of every resample, vectorised.

    Parameters
    ----------
    y, predicted : array-like of 0/1, shape (n,)
        Labels and predictions.
    indices : numpy.ndarray
        (B, n') case indices (:func:`bootstrap_indices`).

    Returns
    -------
    dict of str to numpy.ndarray
        The keys of :func:`binary_metrics`, each a (B,) array.

    Raises
    ------
    InputError
        As :func:`binary_metrics`, and for invalid ``indices``.
    """
    labels, calls = _binary(y, predicted)
    idx = _checked_indices(indices, labels.size)
    return _metrics(_counts(labels[idx], calls[idx]))


def auc_confidence(
    y: np.ndarray | list,
    scores: Mapping[str, np.ndarray],
    n_resamples: int = 2000,
    seed: int = 0,
    level: float = 0.95,
    method: str = "bca",
) -> pd.DataFrame:
    """AUC and its confidence interval for each model, one table for a report.

    Parameters
    ----------
    y : array-like of 0/1, shape (n,)
        Labels.
    scores : mapping of str to array-like
        Model name to its scores on the same cases.
    n_resamples, seed : int
        Stratified bootstrap resamples, shared by all models (``bca`` and ``percentile`` only).
    level : float
        Confidence level, between 0 and 1.
    method : {"bca", "percentile", "delong"}
        Interval: bootstrap BCa (:func:`bca_ci`), bootstrap percentile or DeLong
        (:func:`hccp53.stats.delong_ci`, which ignores ``n_resamples`` and ``seed``).

    Returns
    -------
    pandas.DataFrame
        Indexed by model name (index name ``model``), columns ``auc``, ``lower``, ``upper``, ``method``.

    Raises
    ------
    InputError
        For an unknown ``method``, or as the functions above.
    """
    if method not in METHODS:
        raise InputError(f"Unknown interval method {method!r}; use bca, percentile or delong.")
    _level(level)
    names = list(scores)
    if method == "delong":
        rows = [delong_ci(y, scores[name], level) for name in names]
    else:
        matrix = np.vstack([np.asarray(scores[name], dtype=float) for name in names])
        point = np.atleast_1d(auc(y, matrix))
        boot = bootstrap_auc(y, matrix, bootstrap_indices(y, n_resamples, seed))
        if method == "bca":
            lo, hi = bca_ci(point, boot, jackknife_auc(y, matrix), level)
        else:
            lo, hi = percentile_ci(boot, level)
        rows = list(zip(point, np.atleast_1d(lo), np.atleast_1d(hi), strict=True))
    frame = pd.DataFrame(rows, columns=["auc", "lower", "upper"], index=pd.Index(names, name="model"))
    frame["method"] = method
    return frame
