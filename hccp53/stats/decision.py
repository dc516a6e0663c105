"""Decision curve analysis (Vickers & Elkin 2006, Med Decis Making 26:565): net benefit against threshold.

At threshold probability ``pt`` a case is treated when its predicted probability is ``>= pt`` (as MSKCC's
``dcurves``), and

- ``net_benefit = TP/n - FP/n * pt / (1 - pt)``; "Treat all" treats everyone, "Treat none" has 0;
- ``standardized_net_benefit = net_benefit / prevalence`` (Kerr et al. 2016, the "relative utility": 1 is
  a perfect model);
- ``net_interventions_avoided = (net_benefit - net_benefit of Treat all) / (pt / (1 - pt))`` per case, as
  dcurves' ``net_intervention_avoided`` with ``nper = 1``.

Checked against dcurves 1.1.7 in ``tests/stats/test_decision.py`` (``scripts/golden/dcurves_golden.py``).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from hccp53.errors import InputError

DEFAULT_THRESHOLDS = np.round(np.arange(0.01, 1.0, 0.01), 2)
#: Reference strategies added to every decision curve.
TREAT_ALL, TREAT_NONE = "Treat all", "Treat none"


def _labels(y: np.ndarray | list) -> np.ndarray:
    labels = np.asarray(y)
    if labels.ndim != 1 or not np.isin(labels, (0, 1)).all():
        raise InputError("Decision-curve labels must be a 1-D array of 0 or 1 (1 = P53-mutated); recode them.")
    return labels.astype(bool)


def _thresholds(thresholds: np.ndarray | list) -> np.ndarray:
    pt = np.atleast_1d(np.asarray(thresholds, dtype=float))
    if pt.ndim != 1 or not np.isfinite(pt).all() or ((pt <= 0) | (pt >= 1)).any():
        raise InputError("Decision-curve thresholds must lie strictly between 0 and 1; drop 0 and 1 from them.")
    return pt


def net_benefit(y: np.ndarray | list, p: np.ndarray | list, thresholds: np.ndarray | list) -> np.ndarray:
    """Net benefit of one model at each threshold (vectorised over thresholds and cases).

    Raises
    ------
    InputError
        Labels not 0/1, probabilities of another length or outside [0, 1], thresholds outside (0, 1).
    """
    labels, pt = _labels(y), _thresholds(thresholds)
    probabilities = np.asarray(p, dtype=float)
    if probabilities.shape != labels.shape:
        raise InputError(f"{probabilities.size} probabilities do not match {labels.size} labels; give one "
                         "probability per case.")  # fmt: skip
    if not np.isfinite(probabilities).all() or (probabilities < 0).any() or (probabilities > 1).any():
        raise InputError("Decision curves need probabilities between 0 and 1; some values are outside or NaN, pass "
                         "probabilities rather than raw scores.")  # fmt: skip
    treated = probabilities[None, :] >= pt[:, None]
    n = labels.size
    tp = (treated & labels).sum(axis=1) / n
    fp = (treated & ~labels).sum(axis=1) / n
    return tp - fp * pt / (1.0 - pt)


def decision_curve(
    y: np.ndarray | list, probabilities: Mapping[str, np.ndarray], thresholds: np.ndarray | list = DEFAULT_THRESHOLDS
) -> pd.DataFrame:
    """Decision curves of each model plus "Treat all" and "Treat none".

    Parameters
    ----------
    y
        0/1 labels (1 = P53-mutated); at least one must be 1.
    probabilities
        Model name -> predicted probabilities of class 1, one per case.
    thresholds
        Threshold probabilities, strictly between 0 and 1 (default 0.01, 0.02, ..., 0.99).

    Returns
    -------
    pandas.DataFrame
        Long table, one row per (model, threshold): ``threshold``, ``model``, ``net_benefit``,
        ``standardized_net_benefit``, ``net_interventions_avoided``; the models in the given order, then
        "Treat all" and "Treat none".

    Raises
    ------
    InputError
        Bad labels, probabilities or thresholds (see :func:`net_benefit`), no P53-mutated case, or a model
        named like a reference strategy.
    """
    labels, pt = _labels(y), _thresholds(thresholds)
    if not labels.any():
        raise InputError(f"Decision curves need at least one P53-mutated case, but all {labels.size} labels are 0.")
    reserved = sorted({TREAT_ALL, TREAT_NONE} & set(probabilities))
    if reserved:
        raise InputError(f"A model is named {reserved[0]!r}, the name of a reference strategy; rename it.")
    curves = {name: net_benefit(labels, p, pt) for name, p in probabilities.items()}
    curves[TREAT_ALL] = net_benefit(labels, np.ones(labels.size), pt)
    curves[TREAT_NONE] = np.zeros(pt.size)
    odds = pt / (1.0 - pt)
    prevalence = labels.mean()
    return pd.concat([pd.DataFrame({"threshold": pt, "model": name, "net_benefit": values,
                                    "standardized_net_benefit": values / prevalence,
                                    "net_interventions_avoided": (values - curves[TREAT_ALL]) / odds})
                      for name, values in curves.items()], ignore_index=True)  # fmt: skip
