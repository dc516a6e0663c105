"""Calibration of predicted probabilities, as ``rms::val.prob`` reports it, plus binned curves and Hosmer-Lemeshow.

- ``intercept`` and ``slope``: the logistic recalibration ``logit P(y = 1) = intercept + slope * logit(p)``
  (val.prob's ``Intercept`` and ``Slope``; perfect calibration is 0 and 1).
- ``brier``: mean squared difference between p and y; ``c_index``: the AUC.
- ``smoothed``: R's ``lowess(p, y, iter = 0)`` (span 2/3), val.prob's "Smoothed" curve.
- ``binned``: observed proportion per quantile (or uniform) bin with a Wilson 95% interval.
- ``hosmer_lemeshow``: chi-square over the same bins, ``df = bins - 2``.
Checked against rms in ``tests/stats/test_calibration.py`` (``scripts/golden/rms_golden.R``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import statsmodels.api as sm
from scipy.special import logit
from scipy.stats import chi2
from statsmodels.nonparametric.smoothers_lowess import lowess
from statsmodels.stats.proportion import proportion_confint

from hccp53.errors import InputError
from hccp53.stats.roc import auc

_EPS = 1e-12


@dataclass(frozen=True)
class Calibration:
    """Calibration statistics and curves of one model on one split (see the module docstring)."""

    intercept: float
    slope: float
    brier: float
    c_index: float
    hosmer_lemeshow: tuple[float, int, float]
    binned: pd.DataFrame
    smoothed: pd.DataFrame


def _check(y: np.ndarray | list, p: np.ndarray | list) -> tuple[np.ndarray, np.ndarray]:
    labels, probabilities = np.asarray(y, dtype=float), np.asarray(p, dtype=float)
    if labels.shape != probabilities.shape or labels.ndim != 1:
        raise InputError(f"{probabilities.size} probabilities do not match {labels.size} labels.")
    if not np.isfinite(probabilities).all() or (probabilities < 0).any() or (probabilities > 1).any():
        raise InputError("Calibration needs probabilities between 0 and 1; some values are outside or NaN.")
    if not np.isin(labels, (0, 1)).all():
        raise InputError("Labels must be 0 or 1 (1 = P53-mutated).")
    return labels, probabilities


def recalibration(y: np.ndarray | list, p: np.ndarray | list) -> tuple[float, float]:
    """(intercept, slope) of the logistic regression of y on logit(p), as rms ``val.prob``."""
    labels, probabilities = _check(y, p)
    x = sm.add_constant(logit(np.clip(probabilities, _EPS, 1 - _EPS)))
    fit = sm.Logit(labels, x).fit(disp=0, method="newton", tol=1e-12, maxiter=100)
    return float(fit.params[0]), float(fit.params[1])


def bin_edges(p: np.ndarray, bins: int, strategy: str) -> np.ndarray:
    """Bin index (0 .. bins-1) of each probability: quantile bins (about equal counts) or equal widths."""
    if strategy == "quantile":
        order = np.argsort(p, kind="stable")
        index = np.empty(p.size, dtype=int)
        index[order] = np.arange(p.size) * bins // p.size
        return index
    if strategy == "uniform":
        return np.minimum((p * bins).astype(int), bins - 1)
    raise InputError(f"Unknown binning {strategy!r}; use quantile or uniform.")


def hosmer_lemeshow(y: np.ndarray | list, p: np.ndarray | list, bins: int = 10) -> tuple[float, int, float]:
    """Hosmer-Lemeshow goodness of fit over ``bins`` quantile groups: (chi2, df, p)."""
    labels, probabilities = _check(y, p)
    group = bin_edges(probabilities, bins, "quantile")
    statistic = 0.0
    for g in range(bins):
        member = group == g
        n = member.sum()
        if n == 0:
            continue
        observed, expected = labels[member].sum(), probabilities[member].sum()
        variance = expected * (1.0 - expected / n)
        if variance > 0:
            statistic += (observed - expected) ** 2 / variance
    df = bins - 2
    return float(statistic), df, float(chi2.sf(statistic, df))


def calibration(y: np.ndarray | list, p: np.ndarray | list, bins: int = 10, strategy: str = "quantile") -> Calibration:
    """Every calibration statistic and curve of one model (see the module docstring)."""
    labels, probabilities = _check(y, p)
    if bins < 3:
        raise InputError(f"Use at least 3 calibration bins, got {bins}.")
    intercept, slope = recalibration(labels, probabilities)
    group = bin_edges(probabilities, bins, strategy)
    rows = []
    for g in range(bins):
        member = group == g
        n = int(member.sum())
        if n == 0:
            continue
        events = int(labels[member].sum())
        lo, hi = proportion_confint(events, n, alpha=0.05, method="wilson")
        rows.append({"bin": g + 1, "mean_predicted": float(probabilities[member].mean()),
                     "observed": events / n, "count": n, "lower": float(lo), "upper": float(hi)})  # fmt: skip
    span = float(probabilities.max() - probabilities.min())
    smooth = lowess(labels, probabilities, frac=2.0 / 3.0, it=0, delta=0.01 * span, return_sorted=True)
    return Calibration(
        intercept=intercept,
        slope=slope,
        brier=float(np.mean((probabilities - labels) ** 2)),
        c_index=float(auc(labels.astype(int), probabilities)),
        hosmer_lemeshow=hosmer_lemeshow(labels, probabilities, bins),
        binned=pd.DataFrame(rows),
        smoothed=pd.DataFrame({"predicted": smooth[:, 0], "observed": smooth[:, 1]}),
    )
