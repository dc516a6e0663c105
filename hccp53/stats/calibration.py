"""Calibration of predicted probabilities, as ``rms::val.prob`` reports it, plus binned curves and Hosmer-Lemeshow.

- ``intercept`` and ``slope``: the logistic recalibration ``logit P(y = 1) = intercept + slope * logit(p)``,
  both from that one fit, exactly val.prob's ``Intercept`` and ``Slope`` (``lrm.fit(logit(p), y)``; perfect
  calibration is 0 and 1). As val.prob, cases with p of exactly 0 or 1 (infinite logit) are left out of
  this fit only (with a logged warning), and a constant p gives slope 0 and intercept ``logit(mean(y))``.
- ``brier``: mean of ``(p - y)^2``; ``c_index``: the AUC, val.prob's ``C (ROC)`` = Dxy / 2 + 0.5.
- ``smoothed``: val.prob's "Smoothed" curve, R's ``lowess(p, y, iter = 0)``: statsmodels' lowess with
  ``frac = 2/3`` (R's ``f``), ``it = 0`` (no robustness iterations) and ``delta = 0.01 * (max p - min p)``
  (R's default), one row per case sorted by p.
- ``binned``: observed proportion per bin with a Wilson 95% interval. ``quantile`` bins are R's
  ``cut(p, quantile(p, 0:bins / bins), include.lowest = TRUE)`` (type-7 quantiles, right-closed
  intervals; tied quantiles are merged, so heavily tied p can give fewer bins); ``uniform`` bins are
  ``[0, 1/bins), ..., [1 - 1/bins, 1]``. Empty bins are left out.
- ``hosmer_lemeshow``: ``sum (O - E)^2 / (E (1 - E / n))`` over the quantile groups above (whatever
  ``strategy``), as ``ResourceSelection::hoslem.test``; ``df`` = number of non-empty groups - 2 (``bins - 2``
  without ties; with fewer than 3 groups the p-value is NaN and a warning is logged).

Checked against rms and R in ``tests/stats/test_calibration.py`` (``scripts/golden/rms_golden.R``).
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import pandas as pd
import statsmodels.api as sm
from scipy.special import logit
from scipy.stats import chi2
from statsmodels.nonparametric.smoothers_lowess import lowess
from statsmodels.stats.proportion import proportion_confint

from hccp53.errors import InputError
from hccp53.stats.roc import auc

logger = logging.getLogger(__name__)

#: Values of ``strategy`` that :func:`calibration` accepts.
STRATEGIES = ("quantile", "uniform")
LOWESS_FRAC = 2.0 / 3.0  # R lowess's f
LOWESS_ITERATIONS = 0  # val.prob: lowess(p, y, iter = 0)


class HosmerLemeshow(NamedTuple):
    """Hosmer-Lemeshow statistic, its degrees of freedom and p-value (unpacks as ``chi2, df, p``)."""

    chi2: float
    df: int
    p: float


@dataclass(frozen=True)
class Calibration:
    """Calibration statistics and curves of one model on one split (see the module docstring).

    Attributes
    ----------
    intercept, slope:
        Logistic recalibration of y on logit(p) (val.prob's ``Intercept`` and ``Slope``).
    brier:
        Brier score.
    c_index:
        Concordance index (AUC).
    hosmer_lemeshow:
        ``(chi2, df, p)`` over quantile groups.
    binned:
        Columns ``bin`` (1-based), ``mean_predicted``, ``observed``, ``count``, ``lower``, ``upper`` (Wilson 95%).
    smoothed:
        Columns ``predicted``, ``observed``: the lowess calibration curve.
    """

    intercept: float
    slope: float
    brier: float
    c_index: float
    hosmer_lemeshow: HosmerLemeshow
    binned: pd.DataFrame
    smoothed: pd.DataFrame


def _check(y: np.ndarray | list, p: np.ndarray | list) -> tuple[np.ndarray, np.ndarray]:
    labels, probabilities = np.asarray(y, dtype=float), np.asarray(p, dtype=float)
    if labels.shape != probabilities.shape or labels.ndim != 1:
        raise InputError(f"{probabilities.size} probabilities do not match {labels.size} labels; give one "
                         "probability per case.")  # fmt: skip
    if not np.isfinite(probabilities).all() or (probabilities < 0).any() or (probabilities > 1).any():
        raise InputError("Calibration needs probabilities between 0 and 1; some values are outside or NaN, pass "
                         "probabilities rather than raw scores.")  # fmt: skip
    if not np.isin(labels, (0, 1)).all():
        raise InputError("Labels must be 0 or 1 (1 = P53-mutated); recode them.")
    if labels.all() or not labels.any():
        raise InputError(f"Calibration needs both classes, but all {labels.size} labels are {int(labels[0])}; "
                         "evaluate on a split with mutated and wild-type cases.")  # fmt: skip
    return labels, probabilities


def recalibration(y: np.ndarray | list, p: np.ndarray | list) -> tuple[float, float]:
    """(intercept, slope) of the logistic regression of y on logit(p), as rms ``val.prob``."""
    labels, probabilities = _check(y, p)
    if np.unique(probabilities).size == 1:  # val.prob's special case
        return float(logit(labels.mean())), 0.0
    finite = (probabilities > 0) & (probabilities < 1)
    if not finite.all():
        logger.warning("%d case(s) with probability 0 or 1 left out of the logistic recalibration (as val.prob).",
                       int((~finite).sum()))  # fmt: skip
    x = sm.add_constant(logit(probabilities[finite]), has_constant="add")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # separation by p: the (huge) estimates are what val.prob reports too
        fit = sm.Logit(labels[finite], x).fit(disp=0, method="newton", tol=1e-12, maxiter=100)
    return float(fit.params[0]), float(fit.params[1])


def quantile_bins(p: np.ndarray, bins: int) -> np.ndarray:
    """0-based group of each probability: R's ``cut(p, quantile(p, 0:bins / bins), include.lowest = TRUE)``."""
    breaks = np.unique(np.quantile(p, np.linspace(0.0, 1.0, bins + 1)))  # type 7, R's default
    if breaks.size < 2:
        return np.zeros(p.size, dtype=int)
    return np.clip(np.searchsorted(breaks, p, side="left") - 1, 0, breaks.size - 2)


def bin_index(p: np.ndarray, bins: int, strategy: str) -> np.ndarray:
    """0-based bin of each probability: ``quantile`` or ``uniform`` (see the module docstring)."""
    if strategy == "quantile":
        return quantile_bins(p, bins)
    if strategy == "uniform":
        return np.minimum((p * bins).astype(int), bins - 1)
    raise InputError(f"Unknown calibration binning {strategy!r}; use {' or '.join(STRATEGIES)}.")


def hosmer_lemeshow(y: np.ndarray | list, p: np.ndarray | list, bins: int = 10) -> HosmerLemeshow:
    """Hosmer-Lemeshow goodness of fit over ``bins`` quantile groups (see the module docstring)."""
    labels, probabilities = _check(y, p)
    group = quantile_bins(probabilities, bins)
    n = np.bincount(group)
    observed, expected = np.bincount(group, labels), np.bincount(group, probabilities)
    used = n > 0
    variance = expected[used] * (1.0 - expected[used] / n[used])
    statistic = float(np.sum(np.divide((observed[used] - expected[used]) ** 2, variance,
                                       out=np.zeros(variance.size), where=variance > 0)))  # fmt: skip
    df = int(used.sum()) - 2
    if df < 1:
        logger.warning("Hosmer-Lemeshow: the probabilities form only %d distinct group(s); no test (p = NaN).",
                       df + 2)  # fmt: skip
        return HosmerLemeshow(statistic, df, float("nan"))
    return HosmerLemeshow(statistic, df, float(chi2.sf(statistic, df)))


def calibration(y: np.ndarray | list, p: np.ndarray | list, bins: int = 10, strategy: str = "quantile") -> Calibration:
    """Every calibration statistic and curve of one model (see the module docstring).

    Parameters
    ----------
    y
        0/1 labels (1 = P53-mutated).
    p
        Predicted probabilities of class 1.
    bins
        Number of bins of ``binned`` and groups of ``hosmer_lemeshow`` (at least 3).
    strategy
        ``quantile`` (about equal counts) or ``uniform`` (equal widths) bins for ``binned``.

    Returns
    -------
    Calibration

    Raises
    ------
    InputError
        Mismatched lengths, probabilities outside [0, 1], labels not 0/1 or of one class, fewer than 3 bins,
        an unknown strategy.
    """
    labels, probabilities = _check(y, p)
    if bins < 3:
        raise InputError(f"Use at least 3 calibration bins (Hosmer-Lemeshow has bins - 2 degrees of freedom), "
                         f"got {bins}.")  # fmt: skip
    group = bin_index(probabilities, bins, strategy)
    intercept, slope = recalibration(labels, probabilities)
    rows = []
    for g in np.unique(group):
        member = group == g
        n, events = int(member.sum()), int(labels[member].sum())
        lo, hi = proportion_confint(events, n, alpha=0.05, method="wilson")
        rows.append({"bin": int(g) + 1, "mean_predicted": float(probabilities[member].mean()),
                     "observed": events / n, "count": n, "lower": float(lo), "upper": float(hi)})  # fmt: skip
    span = float(probabilities.max() - probabilities.min())
    smooth = lowess(labels, probabilities, frac=LOWESS_FRAC, it=LOWESS_ITERATIONS, delta=0.01 * span,
                    return_sorted=True)  # fmt: skip
    return Calibration(
        intercept=intercept,
        slope=slope,
        brier=float(np.mean((probabilities - labels) ** 2)),
        c_index=float(auc(labels.astype(int), probabilities)),
        hosmer_lemeshow=hosmer_lemeshow(labels, probabilities, bins),
        binned=pd.DataFrame(rows, columns=["bin", "mean_predicted", "observed", "count", "lower", "upper"]),
        smoothed=pd.DataFrame({"predicted": smooth[:, 0], "observed": smooth[:, 1]}),
    )
