"""Nomogram of a logistic model, with the point scales of R's ``rms::nomogram``.

For each term the axis runs over ``pretty(range(x), 10)`` of the data (R's ``pretty``; a factor shows its
levels). A term's contribution to the linear predictor is ``beta * x`` (``beta`` of the level for a factor,
0 for its reference); the term whose contributions span the widest range gets 0-100 points and every
other term the same points per unit of linear predictor (``points_per_lp``). Total points map back to the
linear predictor as ``lp = lp_at_zero + total / points_per_lp`` and to the risk through the logistic
function. Checked against rms in ``tests/report/test_nomogram.py`` (``scripts/golden/rms_golden.R``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from scipy.special import logit  # noqa: E402

from hccp53.clinical.stepwise import LogisticFit  # noqa: E402
from hccp53.errors import InputError  # noqa: E402

DEFAULT_RISKS = (0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95)


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
    """One term's row: the values shown and their points."""

    term: str
    values: tuple[Any, ...]
    points: np.ndarray


@dataclass(frozen=True)
class NomogramScales:
    """Every axis of the nomogram (see the module docstring)."""

    axes: tuple[Axis, ...]
    points_per_lp: float
    lp_at_zero: float
    total_ticks: np.ndarray
    risks: tuple[float, ...]
    risk_points: np.ndarray

    def points(self, row: dict[str, Any], fit: LogisticFit) -> float:
        """Total points of one case (any value, not only the axis ticks)."""
        total = 0.0
        for axis in self.axes:
            total += (_contribution(fit, axis.term, [row[axis.term]])[0] - _minimum(fit, axis)) * self.points_per_lp
        return float(total)

    def risk(self, total_points: float) -> float:
        """Risk read off the nomogram for a total."""
        return float(1.0 / (1.0 + np.exp(-(self.lp_at_zero + total_points / self.points_per_lp))))


def _contribution(fit: LogisticFit, term: str, values: Sequence[Any]) -> np.ndarray:
    if term in fit.levels:
        return np.array([0.0 if str(v) == fit.levels[term][0] else float(fit.params[f"{term}[T.{v}]"])
                         for v in values])  # fmt: skip
    return float(fit.params[term]) * np.asarray(values, dtype=float)


def _minimum(fit: LogisticFit, axis: Axis) -> float:
    return float(_contribution(fit, axis.term, axis.values).min())


def nomogram_scales(
    fit: LogisticFit, data: pd.DataFrame, risks: Sequence[float] = DEFAULT_RISKS, maxscale: float = 100.0,
    intervals: int = 10,
) -> NomogramScales:  # fmt: skip
    """The point scales of ``fit`` (a :class:`~hccp53.clinical.stepwise.LogisticFit`) over ``data``'s ranges.

    Parameters
    ----------
    fit
        The logistic model; its terms are columns of ``data``.
    data
        The rows the model was fitted on (the axes span their range, as rms's ``datadist``).
    risks
        Probabilities marked on the risk axis.
    """
    if not fit.terms:
        raise InputError("A nomogram needs at least one term in the model.")
    values: dict[str, tuple[Any, ...]] = {}
    for term in fit.terms:
        if term in fit.levels:
            values[term] = tuple(fit.levels[term])
        else:
            column = pd.to_numeric(data[term]).to_numpy(dtype=float)
            distinct = np.unique(column)
            if distinct.size <= 2:  # a 0/1 indicator (or a constant): its own values, as rms shows few-valued terms
                values[term] = tuple(float(v) for v in distinct)
            else:
                values[term] = tuple(pretty(float(column.min()), float(column.max()), intervals))
    contributions = {t: _contribution(fit, t, v) for t, v in values.items()}
    widest = max(c.max() - c.min() for c in contributions.values())
    if widest <= 0:
        raise InputError("Every coefficient of the model is 0: there is nothing to draw.")
    scale = maxscale / widest
    axes = tuple(Axis(t, values[t], (contributions[t] - contributions[t].min()) * scale) for t in fit.terms)
    lp_at_zero = float(fit.params["Intercept"]) + sum(float(c.min()) for c in contributions.values())
    total_max = sum(float(a.points.max()) for a in axes)
    ticks = pretty(0.0, total_max, intervals)
    ticks = ticks[ticks <= total_max + 1e-9]
    risk_points = (logit(np.asarray(risks, dtype=float)) - lp_at_zero) * scale
    return NomogramScales(axes, scale, lp_at_zero, ticks, tuple(risks), risk_points)


def _label(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def draw_nomogram(scales: NomogramScales, path: str | Path, title: str = "Nomogram: risk of P53 mutation",
                  labels: dict[str, str] | None = None) -> Path:  # fmt: skip
    """Draw the classic nomogram (Points, one row per term, Total Points, risk) into a PNG."""
    labels = labels or {}
    total_span = float(scales.total_ticks.max()) if scales.total_ticks.size else 100.0
    top = np.arange(0, 101, 10.0)
    rows: list[tuple[str, np.ndarray, list[str]]] = [("Points", top, [f"{v:g}" for v in top])]
    for axis in scales.axes:
        rows.append((labels.get(axis.term, axis.term), axis.points, [_label(v) for v in axis.values]))
    rows.append(("Total Points", scales.total_ticks * 100.0 / total_span, [f"{v:g}" for v in scales.total_ticks]))
    visible = (scales.risk_points >= 0) & (scales.risk_points <= total_span)
    rows.append(("Risk of P53 mutation", scales.risk_points[visible] * 100.0 / total_span,
                 [f"{r:g}" for r, v in zip(scales.risks, visible, strict=True) if v]))  # fmt: skip
    fig, ax = plt.subplots(figsize=(9.0, 0.62 * len(rows) + 1.0))
    for k, (name, positions, texts) in enumerate(rows):
        y = len(rows) - k
        ax.text(-4, y, name, ha="right", va="center", fontsize=9, fontweight="bold" if k == 0 else "normal")
        if len(positions) == 0:
            continue
        order = np.argsort(positions)
        ax.plot([positions.min(), positions.max()], [y, y], color="k", lw=0.9)
        last = -np.inf
        for position, text in zip(np.asarray(positions)[order], np.asarray(texts)[order], strict=True):
            ax.plot([position, position], [y, y + 0.12], color="k", lw=0.8)
            if position - last >= 1.1 * len(text) + 1.0:  # in points (1/100 of the width): labels must not collide
                ax.text(position, y + 0.18, text, ha="center", va="bottom", fontsize=7)
                last = position
        if k == 0:
            for minor in np.arange(0, 101, 2.0):
                ax.plot([minor, minor], [y, y + 0.06], color="k", lw=0.5)
    ax.set_xlim(-38, 104)
    ax.set_ylim(0.4, len(rows) + 0.8)
    ax.axis("off")
    ax.set_title(title, fontsize=11)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
