"""Nomogram of a logistic model, with the point scales of R's ``rms::nomogram`` (rms 6.5).

Each term has an axis of values: a continuous term ``pretty(low, high, 10)`` of its range (R's
``pretty``; rms takes the range from ``datadist``: the full observed range of the data, its ``Low`` and
``High`` limits), a factor its levels, and a number with at most 10 distinct values (datadist's
``n.unique``) those values. A term's contribution to the linear predictor is ``beta * x`` (for a factor the
coefficient of the level, 0 for the reference level). The term whose contributions over its axis span
the widest range gets 0-100 points (``maxscale``), every other term the same points per unit of linear
predictor (``points_per_lp``), each axis starting at 0 for its lowest contribution. Total points map back
to the linear predictor as ``lp = lp_at_zero + total / points_per_lp`` and to the risk through the
logistic function (rms ``fun = plogis``).

As rms: the Linear Predictor ticks are ``pretty(range of the linear predictors, 10)`` (rms uses the
fitted model's linear predictors), the Total Points axis is ``pretty(c(0, max(100, points of the highest
linear-predictor tick)), 10)`` and risk ticks outside the Linear Predictor ticks are left out. rms labels
runs of equal points as "a-b"; here every value keeps its own tick. Checked against rms in
``tests/report/test_nomogram.py`` (``scripts/golden/rms_golden.R``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from numbers import Real
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402
from scipy.special import expit, logit  # noqa: E402

from hccp53.clinical.stepwise import LogisticFit, factor_levels  # noqa: E402
from hccp53.errors import InputError  # noqa: E402

DEFAULT_RISKS = (0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95)
N_UNIQUE = 10  # rms datadist's n.unique: a number with at most this many values shows those values
RISK_LABEL = "Risk of P53 mutation"


def pretty(lo: float, hi: float, n: int = 5) -> np.ndarray:
    """R's ``pretty(c(lo, hi), n)``: about ``n + 1`` equally spaced round values covering [lo, hi]."""
    h, h5 = 1.5, 0.5 + 1.5 * 1.5
    min_n = n // 3
    dx = hi - lo
    if dx == 0 and hi == 0:
        cell, small = 1.0, True
    else:
        cell = max(abs(lo), abs(hi))
        unit_factor = (1 + 1 / (1 + h)) if h5 >= 1.5 * h + 0.5 else (1 + 1.5 / (1 + h5))
        small = dx < cell * unit_factor * max(1, n) * np.finfo(float).eps * 3
    if small:
        if cell > 10:
            cell = 9 + cell / 10
        cell *= 0.75
        if min_n > 1:
            cell /= min_n
    else:
        cell = dx / n if n > 1 else dx
    base = 10.0 ** math.floor(math.log10(cell))
    unit = base
    if 2 * base - cell < h * (cell - unit):
        unit = 2 * base
        if 5 * base - cell < h5 * (cell - unit):
            unit = 5 * base
            if 10 * base - cell < h * (cell - unit):
                unit = 10 * base
    ns, nu = math.floor(lo / unit + 1e-7), math.ceil(hi / unit - 1e-7)
    while ns * unit > lo + 1e-10 * unit:
        ns -= 1
    while nu * unit < hi - 1e-10 * unit:
        nu += 1
    k = int(0.5 + nu - ns)
    if k < min_n:
        k = min_n - k
        if ns >= 0:
            nu += k // 2
            ns -= k // 2 + k % 2
        else:
            ns -= k // 2
            nu += k // 2 + k % 2
    return np.round(np.arange(ns, nu + 1) * unit, 12)


@dataclass(frozen=True)
class Axis:
    """One term's row: the values shown, their points, and whether the term is a factor (text levels)."""

    term: str
    values: tuple[Any, ...]
    points: np.ndarray
    categorical: bool


@dataclass(frozen=True)
class NomogramScales:
    """Every axis of the nomogram (see the module docstring).

    Attributes
    ----------
    axes:
        One :class:`Axis` per term, in the order of ``ranges``.
    coefficients:
        The coefficients the scales were built from (``term`` or ``term[T.level]``).
    points_per_lp:
        Points per unit of linear predictor (rms ``attr(nom, "info")$sc``).
    lp_at_zero:
        Linear predictor of 0 total points (rms ``attr(nom, "info")$Intercept``).
    total_ticks:
        Values of the Total Points axis.
    lp_ticks, lp_points:
        Linear Predictor ticks and their total points.
    risks, risk_points:
        Probabilities of the risk axis (those inside the Linear Predictor ticks) and their total points.
    maxscale:
        Points of the widest term (100).
    """

    axes: tuple[Axis, ...]
    coefficients: Mapping[str, float]
    points_per_lp: float
    lp_at_zero: float
    total_ticks: np.ndarray
    lp_ticks: np.ndarray
    lp_points: np.ndarray
    risks: tuple[float, ...]
    risk_points: np.ndarray
    maxscale: float = 100.0

    def points(self, row: Mapping[str, Any]) -> float:
        """Total points of one case: ``row`` maps each term to its value (any value, not only the ticks)."""
        missing = [a.term for a in self.axes if a.term not in row]
        if missing:
            raise InputError(f"The case has no value for {', '.join(missing)}; give every term of the nomogram.")
        total = 0.0
        for axis in self.axes:
            levels = axis.values if axis.categorical else None
            lowest = _contributions(self.coefficients, axis.term, axis.values, levels).min()
            value = _contributions(self.coefficients, axis.term, [row[axis.term]], levels)[0]
            total += (value - lowest) * self.points_per_lp
        return float(total)

    def linear_predictor(self, total_points: float) -> float:
        """Linear predictor (log-odds) of a total."""
        return float(self.lp_at_zero + total_points / self.points_per_lp)

    def risk(self, total_points: float) -> float:
        """Risk read off the nomogram for a total."""
        return float(expit(self.linear_predictor(total_points)))


def _contributions(coefficients: Mapping[str, float], term: str, values: Sequence[Any],
                   levels: Sequence[str] | None) -> np.ndarray:  # fmt: skip
    """``beta * x`` of each value of ``term``; for a factor (``levels``, reference first) the level's coefficient."""
    if levels is None:
        try:
            return float(coefficients[term]) * np.asarray(values, dtype=float)
        except (TypeError, ValueError):
            raise InputError(f"Term {term!r} is numeric but got {list(values)}; give numbers.") from None
    unknown = [v for v in values if str(v) not in levels]
    if unknown:
        raise InputError(f"Factor {term!r} has no level {unknown[0]!r} (levels: {list(levels)}); give one of them.")
    return np.asarray([0.0 if str(v) == levels[0] else float(coefficients[f"{term}[T.{v}]"]) for v in values])


def _axis_values(term: str, spec: Any, intervals: int) -> tuple[tuple[Any, ...], bool]:
    """(axis values, categorical) of one entry of ``ranges``."""
    if isinstance(spec, tuple) and len(spec) == 2 and all(isinstance(v, Real) for v in spec):
        lo, hi = float(spec[0]), float(spec[1])
        if not (np.isfinite(lo) and np.isfinite(hi) and lo < hi):
            raise InputError(f"The range of {term!r} is ({lo:g}, {hi:g}); give (low, high) with low < high, or a "
                             "list of its values.")  # fmt: skip
        return tuple(float(v) for v in pretty(lo, hi, intervals)), False
    values = list(spec) if isinstance(spec, Sequence | np.ndarray | pd.Index) and not isinstance(spec, str) else []
    if not values:
        raise InputError(f"The range of {term!r} is {spec!r}; give a (low, high) tuple for a continuous term or a "
                         "non-empty list of its values (the levels of a factor, reference first).")  # fmt: skip
    if all(isinstance(v, str) for v in values):
        return tuple(values), True
    if all(isinstance(v, Real) and np.isfinite(float(v)) for v in values):
        return tuple(float(v) for v in values), False
    raise InputError(f"The values of {term!r} mix text and numbers ({values}); give one type.")


def data_ranges(data: pd.DataFrame, terms: Sequence[str], levels: Mapping[str, Sequence[str]] | None = None,
                n_unique: int = N_UNIQUE) -> dict[str, tuple[float, float] | list[Any]]:  # fmt: skip
    """``ranges`` for :func:`nomogram_scales` taken from data, as rms's ``datadist``.

    A factor (a key of ``levels``, or a text/category column) gives its levels, a number with at most
    ``n_unique`` distinct values those values, any other number its ``(min, max)``.
    """
    levels = dict(factor_levels(data, terms) if levels is None else levels)
    ranges: dict[str, tuple[float, float] | list[Any]] = {}
    for term in terms:
        if term not in data.columns:
            raise InputError(f"The data has no column {term!r} for the nomogram; add it.")
        if term in levels:
            ranges[term] = [str(v) for v in levels[term]]
            continue
        column = pd.to_numeric(data[term], errors="coerce").dropna().to_numpy(dtype=float)
        distinct = np.unique(column)
        if distinct.size == 0:
            raise InputError(f"Column {term!r} has no numeric value; a nomogram axis needs its range.")
        if distinct.size <= n_unique:
            ranges[term] = [float(v) for v in distinct]
        else:
            ranges[term] = (float(distinct[0]), float(distinct[-1]))
    return ranges


def nomogram_scales(
    coefficients: Mapping[str, float] | LogisticFit,
    intercept: float | pd.DataFrame,
    ranges: Mapping[str, tuple[float, float] | Sequence[Any]] | None = None,
    *,
    lp_range: tuple[float, float] | None = None,
    risks: Sequence[float] = DEFAULT_RISKS,
    maxscale: float = 100.0,
    intervals: int = 10,
) -> NomogramScales:
    """The point scales of a logistic model, as ``rms::nomogram(fit, fun = plogis)``.

    Two forms: ``nomogram_scales(coefficients, intercept, ranges)`` from numbers, or
    ``nomogram_scales(fit, data)`` from a :class:`~hccp53.clinical.stepwise.LogisticFit` and the rows it
    was fitted on (coefficients and intercept from the fit, ``ranges = data_ranges(data, fit.terms)`` and
    ``lp_range`` the range of the fit's linear predictors on ``data``, as rms with ``datadist(data)``).

    Parameters
    ----------
    coefficients
        Coefficient of each numeric term (``"age"``) and of each non-reference factor level
        (``"sex[T.M]"``, the naming of :class:`LogisticFit`); or a fitted model.
    intercept
        The model's intercept; or, with a fitted model, the data (its ranges and linear predictors).
    ranges
        Term -> ``(low, high)`` (a tuple: continuous, axis ``pretty(low, high, intervals)``), or a list of
        values to show (a factor's levels, reference first, or the values of a discrete number). The
        nomogram rows follow this order. rms takes ``(min, max)`` of the data: see :func:`data_ranges`.
    lp_range
        Range of the linear predictor over the cases, for the Linear Predictor and Total Points axes
        (rms uses the fitted model's linear predictors); default the range the axes can reach.
    risks
        Probabilities to mark on the risk axis.
    maxscale
        Points of the widest term.
    intervals
        ``n`` of R's ``pretty`` for the axes (rms ``nint``).

    Returns
    -------
    NomogramScales

    Raises
    ------
    InputError
        A coefficient without a range, a term without a coefficient, a bad range, or all coefficients 0.
    """
    if isinstance(coefficients, LogisticFit):
        fit = coefficients
        if not isinstance(intercept, pd.DataFrame):
            raise InputError("nomogram_scales(fit, data) needs the fitted rows as a DataFrame second; pass the data "
                             "the model was fitted on.")  # fmt: skip
        data = intercept
        if not fit.terms:
            raise InputError("A nomogram needs at least one term in the model; the fit has only an intercept.")
        betas = {str(k): float(v) for k, v in fit.params.items() if k != "Intercept"}
        ranges = data_ranges(data, fit.terms, fit.levels) if ranges is None else ranges
        lp = fit.linear_predictor(data)
        lp_range = (float(np.nanmin(lp)), float(np.nanmax(lp))) if lp_range is None else lp_range
        return nomogram_scales(betas, float(fit.params["Intercept"]), ranges, lp_range=lp_range, risks=risks,
                               maxscale=maxscale, intervals=intervals)  # fmt: skip
    if isinstance(intercept, pd.DataFrame) or not isinstance(intercept, Real):
        raise InputError(f"The intercept must be a number, got {type(intercept).__name__}; pass "
                         "nomogram_scales(coefficients, intercept, ranges) or nomogram_scales(fit, data).")  # fmt: skip
    if not ranges:
        raise InputError("A nomogram needs ranges for at least one term; give {term: (low, high) or [values]}.")
    axes_values = {term: _axis_values(term, spec, intervals) for term, spec in ranges.items()}
    for key in coefficients:
        owner = key.split("[T.", 1)[0] if key.endswith("]") and "[T." in key else key
        if owner not in axes_values or axes_values[owner][1] != (owner != key):
            raise InputError(f"Coefficient {key!r} belongs to no term of ranges {list(ranges)}; give its term a "
                             "range (and the intercept separately).")  # fmt: skip
        if owner != key and key.split("[T.", 1)[1][:-1] not in axes_values[owner][0]:
            raise InputError(f"Coefficient {key!r} is for a level missing from ranges[{owner!r}] = "
                             f"{list(axes_values[owner][0])}; add the level.")  # fmt: skip
    for term, (values, categorical) in axes_values.items():
        if not categorical and term not in coefficients:
            raise InputError(f"Term {term!r} has a range but no coefficient; give coefficients[{term!r}].")
        if categorical:
            without = [v for v in values[1:] if f"{term}[T.{v}]" not in coefficients]
            if without:
                raise InputError(f"Factor {term!r} has no coefficient for level(s) {without}; give "
                                 f"'{term}[T.level]' for every level but the reference {values[0]!r}.")  # fmt: skip
    contributions = {t: _contributions(coefficients, t, v, v if c else None) for t, (v, c) in axes_values.items()}
    widest = max(float(c.max() - c.min()) for c in contributions.values())
    if widest <= 0:
        raise InputError("Every coefficient of the model is 0 over the given ranges: there is nothing to draw.")
    scale = maxscale / widest
    axes = tuple(Axis(t, v, (contributions[t] - contributions[t].min()) * scale, c)
                 for t, (v, c) in axes_values.items())  # fmt: skip
    lp_at_zero = float(intercept) + sum(float(c.min()) for c in contributions.values())
    if lp_range is None:
        lp_range = (lp_at_zero, lp_at_zero + sum(float(a.points.max()) for a in axes) / scale)
    lp_ticks = pretty(float(lp_range[0]), float(lp_range[1]), intervals)
    sum_max = maxscale if len(axes) == 1 else max(maxscale, scale * float(np.max(lp_ticks - lp_at_zero)))
    risk_lp = logit(np.asarray(risks, dtype=float))
    inside = (risk_lp >= lp_ticks.min()) & (risk_lp <= lp_ticks.max())
    return NomogramScales(
        axes=axes,
        coefficients=dict(coefficients),
        points_per_lp=scale,
        lp_at_zero=lp_at_zero,
        total_ticks=pretty(0.0, sum_max, intervals),
        lp_ticks=lp_ticks,
        lp_points=(lp_ticks - lp_at_zero) * scale,
        risks=tuple(float(r) for r, keep in zip(risks, inside, strict=True) if keep),
        risk_points=(risk_lp[inside] - lp_at_zero) * scale,
        maxscale=maxscale,
    )


def _label(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def draw_nomogram(scales: NomogramScales, path_or_ax: str | Path | Axes, title: str = "Nomogram: risk of P53 mutation",
                  labels: Mapping[str, str] | None = None) -> Path | Axes:  # fmt: skip
    """Draw the classic nomogram: Points (0-100), one row per term, Total Points, Linear Predictor, risk.

    Parameters
    ----------
    scales
        From :func:`nomogram_scales`.
    path_or_ax
        A PNG path to write (120 dpi), or matplotlib axes to draw into.
    title
        Figure title.
    labels
        Display names of terms (default the term names).

    Returns
    -------
    pathlib.Path or matplotlib.axes.Axes
        The written path, or the axes drawn into.
    """
    labels = labels or {}
    width = scales.maxscale
    total_span = float(scales.total_ticks.max())
    per_total = width / total_span  # the total-points rows are drawn on the same width as the Points row
    top = np.linspace(0.0, width, 11)
    rows: list[tuple[str, np.ndarray, list[str]]] = [("Points", top, [f"{v:g}" for v in top])]
    for axis in scales.axes:
        rows.append((labels.get(axis.term, axis.term), axis.points, [_label(v) for v in axis.values]))
    rows.append(("Total Points", scales.total_ticks * per_total, [f"{v:g}" for v in scales.total_ticks]))
    rows.append(("Linear Predictor", scales.lp_points * per_total, [f"{v:g}" for v in scales.lp_ticks]))
    rows.append((RISK_LABEL, scales.risk_points * per_total, [f"{r:g}" for r in scales.risks]))
    if isinstance(path_or_ax, Axes):
        ax, fig = path_or_ax, None
    else:
        fig, ax = plt.subplots(figsize=(9.0, 0.62 * len(rows) + 1.0))
    for k, (name, positions, texts) in enumerate(rows):
        y = len(rows) - k
        ax.text(-0.04 * width, y, name, ha="right", va="center", fontsize=9, fontweight="bold" if k == 0 else "normal")
        if len(positions) == 0:
            continue
        order = np.argsort(positions, kind="stable")
        ax.plot([positions.min(), positions.max()], [y, y], color="k", lw=0.9)
        last = -np.inf
        for position, text in zip(np.asarray(positions)[order], np.asarray(texts)[order], strict=True):
            ax.plot([position, position], [y, y + 0.12], color="k", lw=0.8)
            if position - last >= (1.1 * len(text) + 1.0) * width / 100:  # labels must not collide
                ax.text(position, y + 0.18, text, ha="center", va="bottom", fontsize=7)
                last = position
        if k == 0:
            for minor in np.linspace(0.0, width, 51):
                ax.plot([minor, minor], [y, y + 0.06], color="k", lw=0.5)
    ax.set_xlim(-0.38 * width, 1.04 * width)
    ax.set_ylim(0.4, len(rows) + 0.8)
    ax.axis("off")
    ax.set_title(title, fontsize=11)
    if fig is None:
        return ax
    fig.tight_layout()
    path = Path(path_or_ax)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
