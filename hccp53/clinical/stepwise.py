"""Logistic regression of clinical factors, with bidirectional stepwise selection by AIC.

Reproduces R's ``MASS::stepAIC(glm(y ~ start, binomial), scope = list(lower = ~1, upper = ~ all candidates),
direction = "both")``: from the start model, every step tries dropping each term of the model and adding
each candidate out of it, takes the change with the lowest AIC (``-2 log L + 2 k``; ties go to the first
drop, then the first add, as R orders them) and stops when no change lowers the AIC by more than 1e-7.

A categorical factor (object, string or category dtype: ``sex`` "F"/"M", ``child_pugh`` "A"/"B") is one
term of k-1 treatment-coded columns named ``term[T.level]``, its first level in sorted order the reference,
as R's ``factor``. Numeric and boolean columns are one column each. Checked against MASS in
``tests/clinical/test_stepwise.py`` (``scripts/golden/stepaic_golden.R``).
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
from scipy import stats
from statsmodels.tools.sm_exceptions import PerfectSeparationError

from hccp53.errors import InputError

logger = logging.getLogger(__name__)

_TOLERANCE = 1e-7  # stepAIC's: a change must lower the AIC by more than this
_DIRECTIONS = ("both", "forward", "backward")


@dataclass
class LogisticFit:
    """A fitted logistic regression with its coding, so that new rows are coded the same way.

    Attributes
    ----------
    terms:
        The model's terms (columns of the data), in model order.
    levels:
        Sorted levels of each categorical term; the first is the reference.
    params, pvalues:
        Coefficients and their Wald p-values, indexed by design column (``Intercept``, ``age``, ``sex[T.M]``).
    aic, llf:
        ``-2 log L + 2 k`` and the log-likelihood.
    results:
        The statsmodels ``LogitResults`` (``summary()``, ``bse``, ``conf_int()``) on the original columns; where
        those are too ill-conditioned for statsmodels, that of the fit on standardised columns (then use
        ``params``, ``pvalues`` and ``cov``, which are always on the original scale).
    cov:
        Covariance of ``params`` (Wald), for confidence intervals of the coefficients and odds ratios.
    """

    terms: list[str]
    levels: dict[str, list[str]]
    params: pd.Series
    pvalues: pd.Series
    aic: float
    llf: float
    results: Any = field(default=None, repr=False, compare=False)
    cov: pd.DataFrame | None = field(default=None, repr=False, compare=False)

    def design(self, data: pd.DataFrame) -> pd.DataFrame:
        """The design matrix of ``data`` (intercept first), coded as at fitting time."""
        return design_matrix(data, self.terms, self.levels)

    def linear_predictor(self, data: pd.DataFrame) -> np.ndarray:
        """``X beta`` of each row of ``data`` (the log-odds)."""
        return self.design(data).to_numpy(dtype=float) @ self.params.to_numpy()

    def predict(self, data: pd.DataFrame) -> np.ndarray:
        """P(outcome = 1) of each row of ``data``."""
        return 1.0 / (1.0 + np.exp(-self.linear_predictor(data)))


@dataclass
class StepwiseResult:
    """The model chosen by :func:`stepwise_aic`.

    Attributes
    ----------
    terms:
        Selected terms, in model order (start terms first, then in order of entry).
    aic:
        AIC of the selected model.
    result:
        The selected model as a :class:`LogisticFit` (its statsmodels results in ``result.results``).
    steps:
        ``("start", AIC)``, then ``("+ term" or "- term", AIC after the step)`` for every step taken.
    """

    terms: list[str]
    aic: float
    result: LogisticFit
    steps: list[tuple[str, float]] = field(default_factory=list)


def _is_categorical(column: pd.Series) -> bool:
    dtype = column.dtype
    types = pd.api.types
    return isinstance(dtype, pd.CategoricalDtype) or types.is_object_dtype(dtype) or types.is_string_dtype(dtype)


def factor_levels(data: pd.DataFrame, terms: Sequence[str]) -> dict[str, list[str]]:
    """Sorted levels (as text) of every categorical term of ``data`` among ``terms``."""
    return {t: sorted(str(v) for v in data[t].dropna().unique()) for t in terms if _is_categorical(data[t])}


def design_matrix(data: pd.DataFrame, terms: Sequence[str], levels: dict[str, list[str]]) -> pd.DataFrame:
    """Intercept, then each term: its own column, or treatment dummies ``term[T.level]`` for a factor.

    Raises
    ------
    InputError
        A factor has a level that ``levels`` does not know, or a numeric term holds text.
    """
    columns: dict[str, np.ndarray] = {"Intercept": np.ones(len(data))}
    for term in terms:
        if term in levels:
            values = data[term].astype(str).to_numpy()
            unknown = sorted(set(values) - set(levels[term]))
            if unknown:
                raise InputError(f"Clinical factor {term!r} has level(s) {unknown} not seen when the model was "
                                 f"fitted (known: {levels[term]}); recode those cases or refit.")  # fmt: skip
            for level in levels[term][1:]:
                columns[f"{term}[T.{level}]"] = (values == level).astype(float)
        else:
            try:
                columns[term] = pd.to_numeric(data[term], errors="raise").to_numpy(dtype=float)
            except (TypeError, ValueError):
                raise InputError(f"Clinical factor {term!r} mixes numbers and text; give it one type (text for a "
                                 "categorical factor).") from None  # fmt: skip
    return pd.DataFrame(columns, index=data.index)


def is_constant(values: pd.Series | np.ndarray) -> bool:
    """Whether a column is constant up to rounding (spread below 1e-9 of its size): only then is it refused.

    A column of any other spread is fitted, on standardised columns, however small or large its unit.
    """
    array = np.asarray(values, dtype=float)
    return float(np.ptp(array)) <= 1e-9 * (1.0 + float(np.abs(array).max()))


def fit_logistic(data: pd.DataFrame, outcome: str, terms: Sequence[str],
                 levels: dict[str, list[str]] | None = None) -> LogisticFit:  # fmt: skip
    """Maximum-likelihood logistic regression of ``outcome`` (0/1) on ``terms`` (Newton, statsmodels ``Logit``).

    Parameters
    ----------
    data
        One row per case; ``outcome`` and every term are columns.
    outcome
        The 0/1 column (1 = P53-mutated).
    terms
        Columns to regress on; text or category columns are factors (see the module docstring).
    levels
        Factor levels to code with (default: those of ``data``); pass the fitted ones to refit on a subset.

    Returns
    -------
    LogisticFit

    Raises
    ------
    InputError
        A column is missing, has missing values or is constant, the outcome is not 0/1, or the fit does not
        converge (a factor separates the classes perfectly).
    """
    missing = [t for t in (outcome, *terms) if t not in data.columns]
    if missing:
        raise InputError(f"The clinical table has no column {', '.join(missing)}; add it or leave it out of the "
                         "model.")  # fmt: skip
    if data[[outcome, *terms]].isna().any().any():
        raise InputError(f"The clinical table has missing values in {', '.join([outcome, *terms])}; impute or drop "
                         "those cases first.")  # fmt: skip
    y = pd.to_numeric(data[outcome], errors="coerce").to_numpy(dtype=float)
    if not np.isin(y, (0.0, 1.0)).all():
        raise InputError(f"The outcome column {outcome!r} must hold 0 or 1 (1 = P53-mutated); recode it.")
    levels = factor_levels(data, terms) if levels is None else levels
    x = design_matrix(data, terms, levels)
    columns = x.drop(columns="Intercept")
    constant = [c for c in columns.columns if is_constant(columns[c])]
    if constant:
        raise InputError(f"{', '.join(constant)} {'is' if len(constant) == 1 else 'are'} (nearly) constant across the "
                         "cases; a logistic regression cannot estimate its effect, leave it out.")  # fmt: skip
    # Fitted on standardised columns (Newton's method is then indifferent to a factor's scale, e.g. AFP in
    # ng/ml), reported on the original scale: the maximum-likelihood fit is the same model either way.
    mean, sd = columns.mean(), columns.std(ddof=0)
    standardised = pd.concat([x[["Intercept"]], (columns - mean) / sd], axis=1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a convergence, separation or singular-Hessian warning is a failed fit here
        try:
            fit = sm.Logit(y, standardised).fit(disp=0, method="newton", maxiter=100, tol=1e-10)
        except (Warning, PerfectSeparationError, np.linalg.LinAlgError) as error:
            raise InputError(f"The logistic regression on {', '.join(terms) or 'the intercept'} does not converge "
                             f"({type(error).__name__}); a factor may separate the classes perfectly, leave it "
                             "out or merge its levels.") from None  # fmt: skip
    to_original = np.eye(x.shape[1])  # beta = A beta_z: slopes / sd; intercept - sum(slope * mean / sd)
    to_original[0, 1:] = -(mean / sd).to_numpy()
    to_original[1:, 1:] = np.diag(1.0 / sd.to_numpy())
    start = to_original @ np.asarray(fit.params)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        try:  # one Newton check from the optimum on the original columns: statsmodels results on their scale
            fit = sm.Logit(y, x).fit(disp=0, method="newton", maxiter=25, tol=1e-10, start_params=start)
            params, cov = pd.Series(np.asarray(fit.params), index=x.columns), fit.cov_params()
        except (Warning, PerfectSeparationError, np.linalg.LinAlgError):  # too ill-conditioned: transform instead
            params = pd.Series(start, index=x.columns)
            cov = pd.DataFrame(to_original @ np.asarray(fit.cov_params()) @ to_original.T, index=x.columns,
                               columns=x.columns)  # fmt: skip
    cov = pd.DataFrame(np.asarray(cov), index=x.columns, columns=x.columns)
    pvalues = pd.Series(2.0 * stats.norm.sf(np.abs(params / np.sqrt(np.diag(cov)))), index=x.columns)
    return LogisticFit(list(terms), levels, params, pvalues, float(-2.0 * fit.llf + 2.0 * x.shape[1]),
                       float(fit.llf), fit, cov)  # fmt: skip


def odds_ratios(fit: LogisticFit, level: float = 0.95) -> pd.DataFrame:
    """Odds ratio, its Wald confidence interval and p-value of every design column but the intercept.

    Per unit of a numeric term (per decade of a ``log10_`` or ``log10p1_`` one), per level against the reference
    of a factor. An odds ratio beyond the floating-point range (per unit of a score that spans 1e-4) is ``inf``, as
    R's ``exp`` gives it.
    """
    z = stats.norm.ppf(0.5 + level / 2.0)
    se = np.sqrt(np.diag(np.asarray(fit.cov, dtype=float)))
    with np.errstate(over="ignore"):
        rows = [{"term": name, "odds_ratio": float(np.exp(beta)), "ci_low": float(np.exp(beta - z * s)),
                 "ci_high": float(np.exp(beta + z * s)), "p": float(fit.pvalues[name])}
                for (name, beta), s in zip(fit.params.items(), se, strict=True) if name != "Intercept"]  # fmt: skip
    return pd.DataFrame(rows, columns=["term", "odds_ratio", "ci_low", "ci_high", "p"])


def predict_logistic(result: LogisticFit, data: pd.DataFrame) -> np.ndarray:
    """P(outcome = 1) of each row of ``data`` under a fitted model (factors coded as at fitting time)."""
    return result.predict(data)


def stepwise_aic(
    data: pd.DataFrame,
    outcome: str,
    candidates: Sequence[str],
    direction: str = "both",
    start: Sequence[str] = (),
) -> StepwiseResult:
    """Stepwise selection of logistic-regression terms by AIC, as ``MASS::stepAIC`` (see the module docstring).

    Parameters
    ----------
    data
        One row per case with ``outcome`` (0/1) and every candidate.
    outcome
        The 0/1 column.
    candidates
        The upper scope: every term that may enter. The lower scope is the intercept-only model.
    direction
        ``both`` (drop or add at each step), ``forward`` (add only) or ``backward`` (drop only).
    start
        Terms of the start model; default none, or every candidate for ``backward``.

    Returns
    -------
    StepwiseResult

    Raises
    ------
    InputError
        Unknown direction, a start term outside the candidates, or a start model that cannot be fitted.

    Notes
    -----
    A candidate model that does not converge (perfect separation, singular information matrix) is
    skipped with a logged warning and the step chooses among the others; R's ``glm`` would instead report
    a huge coefficient and a finite AIC, so the two can differ only on such data.
    """
    if direction not in _DIRECTIONS:
        raise InputError(f"Unknown stepwise direction {direction!r}; use both, forward or backward.")
    outside = [t for t in start if t not in candidates]
    if outside:
        raise InputError(f"Start term(s) {outside} are not among the candidates {list(candidates)}; add them to the "
                         "candidates.")  # fmt: skip
    levels = factor_levels(data, [t for t in candidates if t in data.columns])
    current = list(start) if start or direction != "backward" else list(candidates)
    best = fit_logistic(data, outcome, current, levels)
    steps: list[tuple[str, float]] = [("start", best.aic)]
    while True:
        options: list[tuple[str, list[str]]] = []
        if direction in ("both", "backward"):
            options += [(f"- {term}", [t for t in current if t != term]) for term in current]
        if direction in ("both", "forward"):
            options += [(f"+ {term}", [*current, term]) for term in candidates if term not in current]
        scored: list[tuple[float, str, list[str], LogisticFit]] = []
        for label, terms in options:
            try:
                fit = fit_logistic(data, outcome, terms, levels)
            except InputError as error:
                logger.warning("Stepwise AIC: skipping step %s (%s)", label, error)
                continue
            scored.append((fit.aic, label, terms, fit))
        if not scored:
            break
        aic, label, terms, fit = min(scored, key=lambda item: item[0])  # the first of equal AICs, as R's order()
        if aic >= best.aic - _TOLERANCE:
            break
        current, best = terms, fit
        steps.append((label, aic))
        logger.debug("Stepwise AIC: %s, AIC %.4f", label, aic)
    return StepwiseResult(list(current), best.aic, best, steps)


def describe(result: StepwiseResult) -> dict[str, Any]:
    """JSON-ready summary: terms, AIC, coefficients and steps."""
    return {"terms": result.terms, "aic": result.aic,
            "coefficients": {k: float(v) for k, v in result.result.params.items()},
            "steps": [{"step": s, "aic": a} for s, a in result.steps]}  # fmt: skip
