"""Logistic regression of clinical factors, with bidirectional stepwise selection by AIC.

Reproduces R's ``MASS::stepAIC(glm(y ~ 1, binomial), scope = list(lower = ~1, upper = ~ all),
direction = "both")``: from the start model, every step tries dropping each term in the model and adding
each term out of it, takes the change with the lowest AIC (``-2 log L + 2 k``) and stops when no change
lowers it. A categorical factor (text values) is one term of k-1 treatment-coded columns, its first
level (sorted, as R's ``factor``) the reference. Checked against MASS in ``tests/clinical``.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import statsmodels.api as sm

from hccp53.errors import InputError

logger = logging.getLogger(__name__)

_TOLERANCE = 1e-7  # stepAIC's: a change must lower the AIC by more than this


@dataclass
class StepwiseResult:
    """The selected model.

    Attributes
    ----------
    terms:
        Selected terms, in the order they entered.
    aic:
        AIC of the selected model.
    result:
        The fitted :class:`LogisticFit`.
    steps:
        ``("+ term" or "- term", AIC after the step)``, starting with ``("start", AIC)``.
    """

    terms: list[str]
    aic: float
    result: LogisticFit
    steps: list[tuple[str, float]] = field(default_factory=list)


@dataclass
class LogisticFit:
    """A fitted logistic regression with its design (so that new data is coded the same way).

    ``params`` and ``pvalues`` are Series named by column (``age``, ``sex[T.M]``, ``Intercept``).
    """

    terms: list[str]
    levels: dict[str, list[str]]
    params: pd.Series
    pvalues: pd.Series
    aic: float
    llf: float

    def design(self, data: pd.DataFrame) -> pd.DataFrame:
        """The design matrix of ``data`` (intercept first)."""
        return design_matrix(data, self.terms, self.levels)

    def linear_predictor(self, data: pd.DataFrame) -> np.ndarray:
        return self.design(data).to_numpy(dtype=float) @ self.params.to_numpy()

    def predict(self, data: pd.DataFrame) -> np.ndarray:
        """P(outcome = 1) of each row of ``data``."""
        return 1.0 / (1.0 + np.exp(-self.linear_predictor(data)))


def factor_levels(data: pd.DataFrame, terms: Sequence[str]) -> dict[str, list[str]]:
    """Sorted levels of every categorical term (text or category dtype)."""
    levels = {}
    for term in terms:
        column = data[term]
        if isinstance(column.dtype, pd.CategoricalDtype) or column.dtype == object or pd.api.types.is_string_dtype(
            column.dtype
        ):
            levels[term] = sorted(str(v) for v in column.dropna().unique())
    return levels


def design_matrix(data: pd.DataFrame, terms: Sequence[str], levels: dict[str, list[str]]) -> pd.DataFrame:
    """Intercept, then each term: one column, or treatment dummies ``term[T.level]`` for a factor."""
    columns: dict[str, np.ndarray] = {"Intercept": np.ones(len(data))}
    for term in terms:
        if term in levels:
            values = data[term].astype(str).to_numpy()
            unknown = sorted(set(values) - set(levels[term]))
            if unknown:
                raise InputError(f"Clinical factor {term!r} has level(s) {unknown} not seen when the model was fitted.")
            for level in levels[term][1:]:
                columns[f"{term}[T.{level}]"] = (values == level).astype(float)
        else:
            columns[term] = pd.to_numeric(data[term], errors="raise").to_numpy(dtype=float)
    return pd.DataFrame(columns, index=data.index)


def fit_logistic(data: pd.DataFrame, outcome: str, terms: Sequence[str],
                 levels: dict[str, list[str]] | None = None) -> LogisticFit:  # fmt: skip
    """Maximum-likelihood logistic regression of ``outcome`` (0/1) on ``terms``.

    Raises
    ------
    InputError
        A term is missing, has missing values, or the fit does not converge (e.g. perfect separation).
    """
    missing = [t for t in (outcome, *terms) if t not in data.columns]
    if missing:
        raise InputError(f"The clinical table has no column {', '.join(missing)}.")
    if data[[outcome, *terms]].isna().any().any():
        raise InputError(f"The clinical table has missing values in {outcome} or {', '.join(terms)}; impute or drop "
                         "those cases first.")  # fmt: skip
    levels = factor_levels(data, terms) if levels is None else levels
    x = design_matrix(data, terms, levels)
    spread = x.drop(columns="Intercept").std(ddof=0)
    constant = [c for c in spread.index if spread[c] <= 1e-6 * (1.0 + abs(float(x[c].mean())))]
    if constant:
        raise InputError(f"{', '.join(constant)} {'is' if len(constant) == 1 else 'are'} (nearly) constant across the "
                         "cases; a logistic regression cannot estimate its effect.")  # fmt: skip
    y = data[outcome].to_numpy(dtype=float)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a convergence or separation warning is a failed fit here
        try:
            fit = sm.Logit(y, x).fit(disp=0, method="newton", maxiter=100, tol=1e-10)
        except Exception as error:  # statsmodels raises several types (PerfectSeparation*, LinAlgError, warnings)
            raise InputError(f"The logistic regression on {', '.join(terms) or 'the intercept'} does not converge "
                             f"({type(error).__name__}); a factor may separate the classes perfectly.") from None
    k = x.shape[1]
    params, pvalues = pd.Series(fit.params, index=x.columns), pd.Series(fit.pvalues, index=x.columns)
    return LogisticFit(list(terms), levels, params, pvalues, float(-2.0 * fit.llf + 2.0 * k), float(fit.llf))


def predict_logistic(result: LogisticFit, data: pd.DataFrame) -> np.ndarray:
    """P(outcome = 1) of each row of ``data`` under a fitted model."""
    return result.predict(data)


def stepwise_aic(
    data: pd.DataFrame,
    outcome: str,
    candidates: Sequence[str],
    direction: str = "both",
    start: Sequence[str] = (),
) -> StepwiseResult:
    """Stepwise selection of logistic-regression terms by AIC (see the module docstring).

    ``direction`` is ``both``, ``forward`` or ``backward`` (backward starts from every candidate unless
    ``start`` is given). A candidate model that does not converge is skipped with a logged warning.
    """
    if direction not in ("both", "forward", "backward"):
        raise InputError(f"Unknown stepwise direction {direction!r}; use both, forward or backward.")
    levels = factor_levels(data, candidates)
    current = list(start) if start or direction != "backward" else list(candidates)
    best = fit_logistic(data, outcome, current, levels)
    steps: list[tuple[str, float]] = [("start", best.aic)]
    while True:
        options: list[tuple[float, str, list[str], LogisticFit]] = []
        if direction in ("both", "backward"):
            for term in current:
                options.append((np.nan, f"- {term}", [t for t in current if t != term], best))
        if direction in ("both", "forward"):
            for term in candidates:
                if term not in current:
                    options.append((np.nan, f"+ {term}", [*current, term], best))
        scored = []
        for _, label, terms, _ in options:
            try:
                fit = fit_logistic(data, outcome, terms, levels)
            except InputError as error:
                logger.warning("Stepwise AIC: skipping %s (%s)", label, error)
                continue
            scored.append((fit.aic, label, terms, fit))
        if not scored:
            break
        aic, label, terms, fit = min(scored, key=lambda item: item[0])
        if aic >= best.aic - _TOLERANCE:
            break
        current, best = terms, fit
        steps.append((label, aic))
    return StepwiseResult(list(current), best.aic, best, steps)


def describe(result: StepwiseResult) -> dict[str, Any]:
    """JSON-ready summary: terms, AIC, coefficients and steps."""
    return {"terms": result.terms, "aic": result.aic,
            "coefficients": {k: float(v) for k, v in result.result.params.items()},
            "steps": [{"step": s, "aic": a} for s, a in result.steps]}  # fmt: skip
