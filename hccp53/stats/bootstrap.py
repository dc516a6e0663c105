"""Vectorised, paired bootstrap of AUCs and threshold metrics, with percentile and BCa intervals.

One (B, n) array of case indices is drawn per split and shared by every model, so that model
differences are paired. Resampled AUCs are computed for all B resamples and k models at once from
midranks (a case drawn twice is tied with itself, as in a loop over ``roc_auc_score``).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
from scipy.stats import norm, rankdata

from hccp53.errors import InputError
from hccp53.stats.roc import _checked, auc, delong_ci, midranks


def bootstrap_indices(y: np.ndarray | list, n_resamples: int = 2000, seed: int = 0,
                      stratified: bool = True) -> np.ndarray:  # fmt: skip
    """(B, n) case indices of ``n_resamples`` bootstrap resamples.

    ``stratified`` resamples the positives and the negatives separately, keeping both counts, so that
    every resample has an AUC; positives come first in each row, then negatives.
    """
    labels = np.asarray(y).astype(bool)
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


#: Above this many (positive x negative) pairs the kernel matrix is too large: rank each resample instead.
KERNEL_PAIRS = 4_000_000


def _draw_counts(indices: np.ndarray, n: int) -> np.ndarray:
    """(B, n) how many times each case is drawn in each resample."""
    b = indices.shape[0]
    flat = (indices + (np.arange(b) * n)[:, None]).ravel()
    return np.bincount(flat, minlength=b * n).reshape(b, n).astype(float)


def bootstrap_auc(y: np.ndarray | list, scores: np.ndarray | list, indices: np.ndarray) -> np.ndarray:
    """AUC of each resample and model: (B, k), or (B,) for one model (1-D ``scores``).

    A resample's AUC is ``c_pos' K c_neg / (m n)`` with ``K[i, j] = 1, 1/2, 0`` as positive i scores
    above, equal to or below negative j and ``c`` the number of times each case is drawn: one matrix
    product per model for all resamples, exactly the Mann-Whitney AUC of the resampled cases (a case drawn
    twice is tied with itself). Past :data:`KERNEL_PAIRS` pairs each resample is ranked instead (midranks).
    A resample with one class only (possible without stratification) gets NaN.
    """
    labels, values, single = _checked(y, scores)
    idx = np.asarray(indices)
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
    """Leave-one-out AUCs: (n,) for one model, (n, k) for k.

    Removing a positive x removes its ``(#negatives below x) + 0.5 (#ties)`` placements from the
    numerator and one positive from the denominator (likewise for a negative), so all n values come
    from one ranking: O(k n log n).
    """
    labels, values, single = _checked(y, scores)
    m, n = int(labels.sum()), int((~labels).sum())
    tz = midranks(values)
    tx = midranks(values[:, labels])
    ty = midranks(values[:, ~labels])
    # Placement of each positive: negatives below it (+ half ties); of each negative: positives above it.
    pos_place = tz[:, labels] - tx                            # (k, m)
    neg_place = m - (tz[:, ~labels] - ty)                     # (k, n): positives above each negative (+ ties/2)
    total = pos_place.sum(axis=1, keepdims=True)              # = AUC * m * n
    out = np.empty((values.shape[0], labels.size))
    if m > 1:
        out[:, labels] = (total - pos_place) / ((m - 1) * n)
    else:
        out[:, labels] = np.nan
    if n > 1:
        out[:, ~labels] = (total - neg_place) / (m * (n - 1))
    else:
        out[:, ~labels] = np.nan
    return out[0] if single else out.T


def percentile_ci(boot: np.ndarray, level: float = 0.95) -> tuple[np.ndarray | float, np.ndarray | float]:
    """Percentile interval of bootstrap replicates (column-wise for (B, k)); NaN replicates are ignored."""
    alpha = (1.0 - level) / 2.0
    lo, hi = np.nanquantile(np.asarray(boot, dtype=float), [alpha, 1.0 - alpha], axis=0)
    return (float(lo), float(hi)) if np.ndim(lo) == 0 else (lo, hi)


def bca_ci(estimate: float | np.ndarray, boot: np.ndarray, jackknife: np.ndarray,
           level: float = 0.95) -> tuple[np.ndarray | float, np.ndarray | float]:  # fmt: skip
    """Efron's bias-corrected and accelerated interval (column-wise for (B, k) replicates).

    ``z0 = Phi^-1(#{boot < estimate} / B)`` (ties counted one half), acceleration
    ``a = sum(d^3) / (6 (sum(d^2))^1.5)`` with ``d = mean(jackknife) - jackknife``; the interval takes the
    bootstrap quantiles at ``Phi(z0 + (z0 + z) / (1 - a (z0 + z)))`` for ``z = Phi^-1(alpha), Phi^-1(1 - alpha)``.
    Falls back to the percentile interval where z0 is infinite (every replicate on one side).
    """
    boot = np.asarray(boot, dtype=float)
    single = boot.ndim == 1
    boot2 = boot[:, None] if single else boot
    jack = np.asarray(jackknife, dtype=float)
    jack2 = jack[:, None] if jack.ndim == 1 else jack
    theta = np.atleast_1d(np.asarray(estimate, dtype=float))
    alpha = (1.0 - level) / 2.0
    valid = ~np.isnan(boot2)
    count = valid.sum(axis=0)
    below = ((boot2 < theta) & valid).sum(axis=0) + 0.5 * ((boot2 == theta) & valid).sum(axis=0)
    z0 = norm.ppf(below / count)
    d = np.nanmean(jack2, axis=0) - jack2
    denominator = 6.0 * np.nansum(d**2, axis=0) ** 1.5
    with np.errstate(invalid="ignore", divide="ignore"):
        a = np.where(denominator > 0, np.nansum(d**3, axis=0) / denominator, 0.0)
    lo = np.empty(theta.size)
    hi = np.empty(theta.size)
    for j in range(theta.size):
        column = boot2[valid[:, j], j]
        if not np.isfinite(z0[j]):
            lo[j], hi[j] = np.quantile(column, [alpha, 1.0 - alpha])
            continue
        q = []
        for z in (norm.ppf(alpha), norm.ppf(1.0 - alpha)):
            q.append(norm.cdf(z0[j] + (z0[j] + z) / (1.0 - a[j] * (z0[j] + z))))
        lo[j], hi[j] = np.quantile(column, q)
    return (float(lo[0]), float(hi[0])) if single else (lo, hi)


def _counts(y: np.ndarray, predicted: np.ndarray) -> dict[str, np.ndarray]:
    y = y.astype(bool)
    p = predicted.astype(bool)
    return {"tp": (y & p).sum(-1), "tn": (~y & ~p).sum(-1), "fp": (~y & p).sum(-1), "fn": (y & ~p).sum(-1)}


def _ratio(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
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


def binary_metrics(y: np.ndarray | list, predicted: np.ndarray | list) -> dict[str, float]:
    """Accuracy, sensitivity, specificity, precision, NPV and F1 of 0/1 predictions (NaN for a 0 denominator)."""
    labels, predicted = np.asarray(y), np.asarray(predicted)
    if labels.shape != predicted.shape:
        raise InputError(f"{predicted.size} predictions do not match {labels.size} labels.")
    return {k: float(v) for k, v in _metrics(_counts(labels, predicted)).items()}


def bootstrap_binary_metrics(y: np.ndarray | list, predicted: np.ndarray | list,
                             indices: np.ndarray) -> dict[str, np.ndarray]:  # fmt: skip
    """:func:`binary_metrics` of every resample: each metric a (B,) array."""
    labels, predicted = np.asarray(y), np.asarray(predicted)
    return _metrics(_counts(labels[indices], predicted[indices]))


def auc_confidence(
    y: np.ndarray | list,
    scores: Mapping[str, np.ndarray],
    n_resamples: int = 2000,
    seed: int = 0,
    level: float = 0.95,
    method: str = "bca",
) -> pd.DataFrame:
    """AUC and its interval for each model: one row per model (auc, lower, upper, method)."""
    names = list(scores)
    if method == "delong":
        rows = [delong_ci(y, scores[name], level) for name in names]
    elif method in ("bca", "percentile"):
        matrix = np.vstack([np.asarray(scores[name], dtype=float) for name in names])
        point = np.atleast_1d(auc(y, matrix))
        boot = bootstrap_auc(y, matrix, bootstrap_indices(y, n_resamples, seed))
        if method == "bca":
            lo, hi = bca_ci(point, boot, jackknife_auc(y, matrix), level)
        else:
            lo, hi = percentile_ci(boot, level)
        rows = list(zip(point, np.atleast_1d(lo), np.atleast_1d(hi), strict=True))
    else:
        raise InputError(f"Unknown interval method {method!r}; use bca, percentile or delong.")
    frame = pd.DataFrame(rows, columns=["auc", "lower", "upper"], index=pd.Index(names, name="model"))
    frame["method"] = method
    return frame
