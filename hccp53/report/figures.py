"""The report's figures: ROC curves with bootstrap bands, calibration curves and decision curves.

Every function draws with matplotlib's Agg backend and returns the :class:`~matplotlib.figure.Figure`
(the caller saves it); colours follow the model order so that one model keeps its colour across figures.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from sklearn.metrics import roc_curve  # noqa: E402

from hccp53.stats import auc, bootstrap_indices  # noqa: E402
from hccp53.stats.calibration import calibration  # noqa: E402
from hccp53.stats.decision import decision_curve  # noqa: E402

#: False-positive rates at which the bootstrap band is taken (vertical averaging).
FPR_GRID = np.linspace(0.0, 1.0, 101)


def colours(models: Sequence[str]) -> dict[str, tuple]:
    """One colour per model, stable in model order."""
    cmap = plt.get_cmap("tab10" if len(models) <= 10 else "tab20")
    return {m: cmap(i % cmap.N) for i, m in enumerate(models)}


def roc_band(labels: np.ndarray, scores: np.ndarray, indices: np.ndarray, level: float = 0.95) -> np.ndarray:
    """Pointwise bootstrap band of the ROC curve: (lower, median, upper) sensitivity over :data:`FPR_GRID`.

    Each resample's ROC curve is read as a step function (the highest sensitivity reached at or
    below each false-positive rate); the band is the percentile interval across resamples.
    """
    curves = np.empty((len(indices), len(FPR_GRID)))
    for b, rows in enumerate(indices):
        fpr, tpr, _ = roc_curve(labels[rows], scores[rows], drop_intermediate=False)
        curves[b] = tpr[np.searchsorted(fpr, FPR_GRID, side="right") - 1]
    alpha = (1.0 - level) / 2.0
    return np.quantile(curves, [alpha, 0.5, 1.0 - alpha], axis=0)


def roc_figure(
    labels: np.ndarray,
    scores: Mapping[str, np.ndarray],
    title: str,
    band_resamples: int = 500,
    seed: int = 0,
    level: float = 0.95,
    palette: Mapping[str, tuple] | None = None,
) -> Figure:
    """ROC curves of several models on one split: an overlay, then one panel per model with its band.

    ``band_resamples`` stratified bootstrap resamples make each model's pointwise ``level`` band.
    """
    names = list(scores)
    palette = palette or colours(names)
    panels = len(names) + 1
    cols = min(4, panels)
    rows = int(np.ceil(panels / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 3.3 * rows), squeeze=False)
    indices = bootstrap_indices(labels, n_resamples=band_resamples, seed=seed, stratified=True)
    overlay = axes[0, 0]
    for k, name in enumerate(names, start=1):
        fpr, tpr, _ = roc_curve(labels, scores[name])
        value = float(auc(labels, scores[name]))
        overlay.plot(fpr, tpr, color=palette[name], lw=1.4, label=f"{name} ({value:.3f})")
        ax = axes.flat[k]
        lower, _, upper = roc_band(labels, scores[name], indices, level)
        ax.fill_between(FPR_GRID, lower, upper, color=palette[name], alpha=0.25, lw=0,
                        label=f"{level:.0%} bootstrap band")  # fmt: skip
        ax.plot(fpr, tpr, color=palette[name], lw=1.6, label=f"AUC {value:.3f}")
        ax.set_title(name, fontsize=9)
        ax.legend(loc="lower right", fontsize=7, frameon=False)
    overlay.set_title(f"{title}: all models", fontsize=9)
    overlay.legend(loc="lower right", fontsize=6, frameon=False)
    for ax in axes.flat[:panels]:
        ax.plot([0, 1], [0, 1], color="0.6", lw=0.8, ls="--")
        ax.set(xlim=(0, 1), ylim=(0, 1.01), xlabel="1 - specificity", ylabel="Sensitivity")
        ax.set_aspect("equal")
        ax.tick_params(labelsize=7)
        ax.xaxis.label.set_size(8)
        ax.yaxis.label.set_size(8)
    for ax in axes.flat[panels:]:
        ax.set_axis_off()
    fig.suptitle(f"ROC curves, {title} (n = {len(labels)}, {int(labels.sum())} P53-mutated)", fontsize=11)
    fig.tight_layout()
    return fig


def calibration_figure(
    labels: np.ndarray,
    probabilities: Mapping[str, np.ndarray],
    title: str,
    bins: int = 10,
    palette: Mapping[str, tuple] | None = None,
) -> Figure:
    """Calibration of probability models: binned observed rates (points) and the smoothed curve (line)."""
    names = list(probabilities)
    palette = palette or colours(names)
    fig, (ax, hist) = plt.subplots(2, 1, figsize=(5.4, 6.4), height_ratios=[4, 1], sharex=True)
    ax.plot([0, 1], [0, 1], color="0.5", lw=0.8, ls="--", label="Ideal")
    for name in names:
        result = calibration(labels, probabilities[name], bins=bins)
        binned, smooth = result.binned, result.smoothed
        ax.plot(smooth["predicted"], smooth["observed"], color=palette[name], lw=1.5,
                label=f"{name} (slope {result.slope:.2f}, Brier {result.brier:.3f})")  # fmt: skip
        ax.plot(binned["mean_predicted"], binned["observed"], "o", color=palette[name], ms=3.5)
        hist.hist(probabilities[name], bins=20, range=(0, 1), histtype="step", color=palette[name])
    ax.set(xlim=(0, 1), ylim=(0, 1), ylabel="Observed proportion P53-mutated")
    ax.set_title(f"Calibration, {title}: points = {bins} quantile bins, lines = lowess", fontsize=9)
    ax.legend(loc="upper left", fontsize=7, frameon=False)
    hist.set(xlabel="Predicted probability of P53 mutation", ylabel="Cases")
    fig.tight_layout()
    return fig


def decision_figure(
    labels: np.ndarray,
    probabilities: Mapping[str, np.ndarray],
    title: str,
    palette: Mapping[str, tuple] | None = None,
) -> Figure:
    """Decision curve analysis: net benefit against threshold probability, with treat-all and treat-none."""
    names = list(probabilities)
    palette = palette or colours(names)
    curves = decision_curve(labels, probabilities)
    fig, ax = plt.subplots(figsize=(6.0, 4.4))
    prevalence = float(np.mean(labels))
    for model, rows in curves.groupby("model", sort=False):
        style = {"Treat all": dict(color="0.3", ls=":", lw=1.2), "Treat none": dict(color="0.3", ls="-", lw=0.9)}
        kwargs = style.get(model, dict(color=palette.get(model, "k"), lw=1.5))
        ax.plot(rows["threshold"], rows["net_benefit"], label=model, **kwargs)
    ax.set(xlim=(0, 1), ylim=(-0.05, max(prevalence, 0.05) * 1.1), xlabel="Threshold probability",
           ylabel="Net benefit")  # fmt: skip
    ax.set_title(f"Decision curves, {title}", fontsize=10)
    ax.legend(fontsize=7, frameon=False, loc="upper right")
    fig.tight_layout()
    return fig
