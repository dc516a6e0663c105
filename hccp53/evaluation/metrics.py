"""The statistics of the papers' tables, for every model of a predictions table.

Per model and split: AUC with its DeLong and bootstrap 95% CIs, and accuracy, sensitivity,
specificity, precision, NPV and F1 at one operating threshold with percentile bootstrap CIs. The
threshold is chosen on the training split (Youden's J, or a fixed sensitivity) and applied unchanged to
the test split; a table without a split column is one split, ``all``, and its threshold is chosen on
itself (optimistic: the report says so). One set of stratified bootstrap resamples per split is shared
by every model, so that differences between models are paired. Paired DeLong tests compare every pair of
models within a split (Holm-adjusted p-values beside the raw ones). Models whose scores are
probabilities also get calibration statistics.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from hccp53.errors import ConfigError
from hccp53.evaluation.predictions import ALL, Predictions
from hccp53.stats import (
    apply_threshold,
    auc,
    bca_ci,
    binary_metrics,
    bootstrap_auc,
    bootstrap_binary_metrics,
    bootstrap_indices,
    delong_ci,
    jackknife_auc,
    pairwise_delong,
    percentile_ci,
    threshold_for_sensitivity,
    youden_threshold,
)
from hccp53.stats.calibration import calibration

logger = logging.getLogger(__name__)

METRICS = ("accuracy", "sensitivity", "specificity", "precision", "npv", "f1")
CI_METHODS = ("bca", "percentile")


@dataclass(frozen=True)
class Settings:
    """How the statistics are computed (all written into ``metrics.json``).

    Attributes
    ----------
    n_resamples:
        Stratified bootstrap resamples per split.
    seed:
        Seed of the resamples.
    level:
        Confidence level of every interval.
    ci_method:
        Bootstrap interval of the AUC: ``bca`` or ``percentile`` (the DeLong interval is always given too).
    threshold:
        ``youden`` or ``sensitivity`` (the highest threshold reaching ``target_sensitivity``).
    target_sensitivity:
        For ``threshold="sensitivity"``.
    correction:
        Multiple-comparison adjustment of the pairwise DeLong p-values: ``holm`` or ``none``.
    calibration_bins:
        Quantile bins of the calibration curve and of the Hosmer-Lemeshow test.
    """

    n_resamples: int = 2000
    seed: int = 20260101
    level: float = 0.95
    ci_method: str = "bca"
    threshold: str = "youden"
    target_sensitivity: float = 0.8
    correction: str = "holm"
    calibration_bins: int = 10

    def __post_init__(self) -> None:
        if self.ci_method not in CI_METHODS:
            raise ConfigError(f"Unknown bootstrap CI method {self.ci_method!r}; choose one of {list(CI_METHODS)}.")
        if self.threshold not in ("youden", "sensitivity"):
            raise ConfigError(f"Unknown threshold rule {self.threshold!r}; choose youden or sensitivity.")
        if not 0.0 < self.target_sensitivity <= 1.0:
            raise ConfigError(f"Target sensitivity must be in (0, 1], got {self.target_sensitivity}.")
        if not 0.5 < self.level < 1.0:
            raise ConfigError(f"Confidence level must be between 0.5 and 1, got {self.level}.")
        if self.n_resamples < 100:
            raise ConfigError(f"Use at least 100 bootstrap resamples, got {self.n_resamples}.")
        if self.correction not in ("holm", "none"):
            raise ConfigError(f"Unknown p-value correction {self.correction!r}; choose holm or none.")


def _interval(lo: float, hi: float) -> list[float]:
    return [float(lo), float(hi)]


def choose_threshold(labels: np.ndarray, scores: np.ndarray, settings: Settings) -> float:
    """The operating threshold of one model on the split it is chosen on."""
    if settings.threshold == "youden":
        return float(youden_threshold(labels, scores))
    return float(threshold_for_sensitivity(labels, scores, settings.target_sensitivity))


def split_statistics(
    labels: np.ndarray,
    scores: dict[str, np.ndarray],
    thresholds: dict[str, float],
    probability: dict[str, bool],
    settings: Settings,
) -> dict[str, Any]:
    """AUCs, CIs, threshold metrics and calibration of every model on one split (shared resamples)."""
    names = list(scores)
    matrix = np.vstack([scores[name] for name in names])
    indices = bootstrap_indices(labels, n_resamples=settings.n_resamples, seed=settings.seed, stratified=True)
    boot = np.asarray(bootstrap_auc(labels, matrix, indices)).reshape(len(indices), len(names))
    point = np.atleast_1d(auc(labels, matrix))
    if settings.ci_method == "bca":
        jack = np.asarray(jackknife_auc(labels, matrix)).reshape(len(labels), len(names))
    out: dict[str, Any] = {}
    for k, name in enumerate(names):
        _, d_lo, d_hi = delong_ci(labels, scores[name], level=settings.level)
        if settings.ci_method == "bca":
            b_lo, b_hi = bca_ci(point[k], boot[:, k], jack[:, k], level=settings.level)
        else:
            b_lo, b_hi = percentile_ci(boot[:, k], level=settings.level)
        predicted = apply_threshold(scores[name], thresholds[name])
        values = binary_metrics(labels, predicted)
        resampled = bootstrap_binary_metrics(labels, predicted, indices)
        metrics = {}
        for metric in METRICS:
            lo, hi = percentile_ci(np.asarray(resampled[metric], dtype=float), level=settings.level)
            metrics[metric] = {"value": float(values[metric]), "ci": _interval(lo, hi)}
        entry: dict[str, Any] = {
            "auc": float(point[k]),
            "auc_ci_delong": _interval(d_lo, d_hi),
            "auc_ci_bootstrap": _interval(b_lo, b_hi),
            "threshold": float(thresholds[name]),
            "metrics": metrics,
        }
        if probability[name]:
            entry["calibration"] = calibration_summary(labels, scores[name], settings.calibration_bins)
        out[name] = entry
    return out


def calibration_summary(labels: np.ndarray, probabilities: np.ndarray, bins: int) -> dict[str, Any]:
    """Calibration intercept and slope, Brier score and Hosmer-Lemeshow test of one model."""
    result = calibration(labels, probabilities, bins=bins)
    chi2, df, p = result.hosmer_lemeshow
    return {
        "intercept": float(result.intercept),
        "slope": float(result.slope),
        "brier": float(result.brier),
        "hosmer_lemeshow": {"chi2": float(chi2), "df": int(df), "p": float(p)},
    }


def delong_matrices(labels: np.ndarray, scores: dict[str, np.ndarray], correction: str) -> dict[str, Any]:
    """Pairwise DeLong p-values, raw and adjusted, as nested dicts (row model -> column model -> p)."""

    def as_dict(frame: pd.DataFrame) -> dict[str, dict[str, float | None]]:
        return {r: {c: (None if pd.isna(v) else float(v)) for c, v in row.items()} for r, row in frame.iterrows()}

    if len(scores) < 2:
        return {}
    raw = pairwise_delong(labels, scores, correction=None)
    out = {"p": as_dict(raw)}
    if correction != "none":
        out[f"p_{correction}"] = as_dict(pairwise_delong(labels, scores, correction=correction))
    return out


def cross_validation(predictions: Predictions) -> dict[str, Any]:
    """Per-fold AUC (mean and SD) and the pooled out-of-fold AUC of each model, from a ``fold`` column.

    Only the training split's rows are used (the test split is never part of a cross-validation).
    """
    frame = predictions.frame
    if "fold" not in frame.columns:
        return {}
    part = frame[frame["split"] != "test"]
    out: dict[str, Any] = {}
    for model in predictions.models:
        per_fold = {}
        for fold, rows in part.groupby("fold"):
            if rows["label"].nunique() == 2:
                per_fold[int(fold)] = float(auc(rows["label"].to_numpy(), rows[model].to_numpy()))
        values = np.array(list(per_fold.values()))
        out[model] = {
            "fold_auc": per_fold,
            "mean_auc": float(values.mean()) if len(values) else None,
            "sd_auc": float(values.std(ddof=1)) if len(values) > 1 else None,
            "pooled_auc": float(auc(part["label"].to_numpy(), part[model].to_numpy())),
        }
    return out


def evaluate_predictions(predictions: Predictions, settings: Settings | None = None) -> dict[str, Any]:
    """Every statistic of the report, as the JSON-ready dict written to ``metrics.json``.

    Thresholds are chosen on the ``training`` split when there is one, else on the only split there is.
    """
    settings = settings or Settings()
    splits = predictions.splits
    chosen_on = "training" if "training" in splits else splits[0]
    if chosen_on != "training":
        logger.warning("No training split: the operating thresholds are chosen on the %s cases themselves, "
                       "which flatters the threshold metrics.", chosen_on if chosen_on != ALL else "same")  # fmt: skip
    basis = predictions.part(chosen_on)
    thresholds = {m: choose_threshold(basis["label"].to_numpy(), basis[m].to_numpy(), settings)
                  for m in predictions.models}  # fmt: skip
    probability = {m: predictions.is_probability(m) for m in predictions.models}
    result: dict[str, Any] = {
        "settings": asdict(settings),
        "models": list(predictions.models),
        "probability_models": [m for m in predictions.models if probability[m]],
        "threshold_chosen_on": chosen_on,
        "splits": {},
        "delong": {},
    }
    for split in splits:
        part = predictions.part(split)
        labels = part["label"].to_numpy()
        scores = {m: part[m].to_numpy(dtype=float) for m in predictions.models}
        result["splits"][split] = {
            "cases": int(len(part)),
            "mutated": int(labels.sum()),
            "models": split_statistics(labels, scores, thresholds, probability, settings),
        }
        result["delong"][split] = delong_matrices(labels, scores, settings.correction)
    cv = cross_validation(predictions)
    if cv:
        result["cross_validation"] = cv
    return result


def performance_table(metrics: dict[str, Any], splits: Sequence[str] | None = None, digits: int = 3) -> pd.DataFrame:
    """The papers' table, cohorts as row blocks: per split, one row per model; AUC (95% DeLong CI), accuracy,
    sensitivity, specificity, precision, NPV and F1 with their bootstrap 95% CI, as formatted strings."""
    splits = list(splits or metrics["splits"])
    rows = []
    for split in splits:
        for model in metrics["models"]:
            entry = metrics["splits"][split]["models"][model]
            lo, hi = entry["auc_ci_delong"]
            row: dict[str, str] = {"Cohort": split.capitalize() if split != ALL else "All", "Model": model,
                                   "AUC (95% CI)": f"{entry['auc']:.{digits}f} ({lo:.{digits}f}-{hi:.{digits}f})"}
            for metric in METRICS:
                label = {"npv": "NPV", "f1": "F1"}.get(metric, metric.capitalize())
                value, ci = entry["metrics"][metric]["value"], entry["metrics"][metric].get("ci")
                cell = "n/a" if value is None else f"{value:.{digits}f}"
                if value is not None and ci and None not in ci:
                    cell += f" ({ci[0]:.{digits}f}-{ci[1]:.{digits}f})"
                row[label] = cell
            rows.append(row)
    return pd.DataFrame(rows)


def calibration_table(metrics: dict[str, Any]) -> pd.DataFrame:
    """Per split and model with probabilities: calibration intercept and slope, Brier score, Hosmer-Lemeshow."""
    rows = []
    for split, values in metrics["splits"].items():
        for model, entry in values["models"].items():
            if "calibration" not in entry:
                continue
            c = entry["calibration"]
            rows.append({"split": split, "model": model, "intercept": c["intercept"], "slope": c["slope"],
                         "brier": c["brier"], "hosmer_lemeshow_chi2": c["hosmer_lemeshow"]["chi2"],
                         "hosmer_lemeshow_df": c["hosmer_lemeshow"]["df"],
                         "hosmer_lemeshow_p": c["hosmer_lemeshow"]["p"]})  # fmt: skip
    return pd.DataFrame(rows, columns=["split", "model", "intercept", "slope", "brier", "hosmer_lemeshow_chi2",
                                       "hosmer_lemeshow_df", "hosmer_lemeshow_p"])  # fmt: skip


def delong_table(metrics: dict[str, Any], split: str, adjusted: bool = False) -> pd.DataFrame:
    """The DeLong p-value matrix of one split as a DataFrame (NaN on the diagonal)."""
    matrices = metrics["delong"].get(split, {})
    key = next((k for k in matrices if k != "p"), "p") if adjusted else "p"
    if key not in matrices:
        return pd.DataFrame()
    return pd.DataFrame(matrices[key]).astype(float)
