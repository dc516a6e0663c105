"""Write an evaluation: ``metrics.json``, the papers' tables as CSV, the figures and ``report.html``.

Everything is written into a temporary folder beside the output folder and moved into place at the
end, so that a failure leaves no half-written evaluation.
"""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import pandas as pd

from hccp53.evaluation.metrics import (
    Settings,
    calibration_table,
    delong_table,
    evaluate_predictions,
    performance_table,
)
from hccp53.evaluation.predictions import ALL, Predictions
from hccp53.report.figures import calibration_figure, colours, decision_figure, roc_figure
from hccp53.report.html import Section, write_report
from hccp53.staging import staged_output

logger = logging.getLogger(__name__)

RESEARCH_BANNER = ("Research use only. Figures computed on the cohort given; on the synthetic cohort of hccp53 "
                   "they describe the software, not patients.")  # fmt: skip


def _split_title(split: str) -> str:
    return {"training": "training split", "test": "test split", ALL: "all cases"}[split]


def write_figures(predictions: Predictions, metrics: dict[str, Any], folder: Path) -> dict[str, list[tuple]]:
    """ROC, calibration and decision-curve PNGs per split; returns split -> [(caption, path)]."""
    palette = colours(predictions.models)
    settings = metrics["settings"]
    figures: dict[str, list[tuple]] = {}
    for split in predictions.splits:
        part = predictions.part(split)
        labels = part["label"].to_numpy()
        title = _split_title(split)
        scores = {m: part[m].to_numpy(dtype=float) for m in predictions.models}
        items = []
        path = folder / f"roc_{split}.png"
        fig = roc_figure(labels, scores, title, seed=settings["seed"], level=settings["level"], palette=palette)
        fig.savefig(path, dpi=110)
        plt.close(fig)
        items.append((f"ROC curves, {title}; shaded: pointwise {settings['level']:.0%} bootstrap band.", path))
        probabilities = {m: scores[m] for m in metrics["probability_models"]}
        if probabilities:
            path = folder / f"calibration_{split}.png"
            fig = calibration_figure(labels, probabilities, title, bins=settings["calibration_bins"], palette=palette)
            fig.savefig(path, dpi=110)
            plt.close(fig)
            items.append((f"Calibration, {title}.", path))
            path = folder / f"decision_curve_{split}.png"
            fig = decision_figure(labels, probabilities, title, palette=palette)
            fig.savefig(path, dpi=110)
            plt.close(fig)
            items.append((f"Decision curve analysis, {title}.", path))
        figures[split] = items
    return figures


def _best_models(metrics: dict[str, Any], alpha: float = 0.05) -> list[str]:
    """One plain sentence per split: the model with the highest AUC, and whether it differs from the next.

    A model fitted on the training split (radiomics, clinical, combined) has an apparent training AUC; where
    the full workflow cross-validated it, the sentence gives that figure too, so that it is not read as one
    on the same footing as the networks' out-of-fold AUCs.
    """
    cross_validated = metrics.get("cross_validation_fitted_models") or {}
    sentences = []
    for split, values in metrics["splits"].items():
        ranked = sorted(values["models"], key=lambda m: values["models"][m]["auc"], reverse=True)
        if not ranked:
            continue
        best = values["models"][ranked[0]]
        lo, hi = best["auc_ci_delong"]
        sentence = f"{_split_title(split).capitalize()}: the best model is {ranked[0]} (AUC {best['auc']:.3f}, " \
                   f"95% CI {lo:.3f}-{hi:.3f})"
        if len(ranked) > 1:
            p = metrics["delong"].get(split, {}).get("p", {}).get(ranked[0], {}).get(ranked[1])
            runner_up = values["models"][ranked[1]]["auc"]
            if p is not None:
                verdict = "significant" if p < alpha else "not significant"
                sentence += f"; its difference from {ranked[1]} (AUC {runner_up:.3f}) is {verdict} " \
                            f"(DeLong p = {p:.3g}, unadjusted)"
        if split == "training" and ranked[0] in cross_validated:
            sentence += f". {ranked[0]}'s training AUC is apparent (it was fitted on these cases); its " \
                        f"cross-validated AUC is {cross_validated[ranked[0]]['pooled_auc']:.3f}"
        sentences.append(sentence + ".")
    return sentences


def _summary_paragraphs(predictions: Predictions, metrics: dict[str, Any]) -> list[str]:
    settings = metrics["settings"]
    rule = ("Youden's J" if settings["threshold"] == "youden"
            else f"the highest threshold with sensitivity >= {settings['target_sensitivity']}")  # fmt: skip
    counts = "; ".join(f"{_split_title(s)}: {v['cases']} cases, {v['mutated']} P53-mutated"
                       for s, v in metrics["splits"].items())  # fmt: skip
    text = [
        *_best_models(metrics),
        f"Models: {', '.join(predictions.models)}. {counts}.",
        f"AUC 95% CIs: DeLong in the tables; {settings['ci_method']} bootstrap in metrics.json "
        f"({settings['n_resamples']} stratified resamples, seed {settings['seed']}, shared by all models). "
        f"Operating threshold per model: {rule} on the {metrics['threshold_chosen_on']} cases, applied "
        "unchanged to every split.",
    ]
    if metrics["threshold_chosen_on"] != "training":
        text.append("There is no training split: thresholds were chosen on the evaluated cases themselves, "
                    "so accuracy, sensitivity, specificity, precision and F1 are optimistic.")  # fmt: skip
    ranked = [m for m in predictions.models if m not in metrics["probability_models"]]
    if ranked:
        text.append(f"Scores of {', '.join(ranked)} are not probabilities (outside 0-1): they get ROC statistics "
                    "but no calibration or decision curve.")  # fmt: skip
    return text


def write_evaluation(
    predictions: Predictions,
    out: str | Path,
    settings: Settings | None = None,
    overwrite: bool = False,
    extra_sections: Sequence[Section] = (),
    extra_files: Sequence[Path] = (),
    extra_metrics: dict[str, Any] | None = None,
    title: str = "P53 mutation of HCC: model evaluation",
    extra_tables: Mapping[str, pd.DataFrame] | None = None,
) -> dict[str, Any]:
    """Compute every statistic of ``predictions`` and write the evaluation folder ``out``.

    Writes ``metrics.json``, ``predictions.csv`` (the checked table), ``table_performance.csv`` (the
    papers' layout), ``delong_<split>.csv`` (pairwise p-values; ``_holm`` adjusted beside them),
    ``cross_validation.csv`` when the table has folds, PNG figures under ``figures/`` and ``report.html``.
    ``extra_*`` come from the full workflow (nomogram, selected features, odds ratios ...): files are copied in,
    sections appended to the report, metrics merged into ``metrics.json``, tables written as CSV files of
    their names.

    Returns
    -------
    dict
        The content of ``metrics.json``.
    """
    with staged_output(Path(out), overwrite, fix="choose another --out or pass --overwrite") as staging:
        metrics = evaluate_predictions(predictions, settings)
        metrics.update(extra_metrics or {})
        figures_dir = staging / "figures"
        figures_dir.mkdir()
        predictions.frame.to_csv(staging / "predictions.csv", index=False)
        table = performance_table(metrics)
        table.to_csv(staging / "table_performance.csv", index=False)
        tables: list[tuple[str, Any]] = [("Performance (AUC with DeLong 95% CI; threshold metrics at the "
                                          "training-split threshold, with bootstrap 95% CI)", table)]  # fmt: skip
        calibrated = calibration_table(metrics)
        if not calibrated.empty:
            calibrated.to_csv(staging / "table_calibration.csv", index=False)
            tables.append(("Calibration: intercept and slope (rms::val.prob), Brier score, Hosmer-Lemeshow test "
                           f"({metrics['settings']['calibration_bins']} quantile groups)", calibrated))
        for split in metrics["delong"]:
            for adjusted in (False, True):
                frame = delong_table(metrics, split, adjusted)
                if frame.empty:
                    continue
                name = f"delong_{split}{'_' + metrics['settings']['correction'] if adjusted else ''}.csv"
                frame.to_csv(staging / name, index_label="model")
                kind = f"{metrics['settings']['correction'].capitalize()}-adjusted" if adjusted else "Unadjusted"
                tables.append((f"DeLong test p-values, {_split_title(split)} ({kind.lower()})",
                               frame.reset_index(names="model")))  # fmt: skip
        if "cross_validation" in metrics:
            rows = [{"model": m, "mean_auc": v["mean_auc"], "sd_auc": v["sd_auc"], "pooled_auc": v["pooled_auc"],
                     "folds": len(v["fold_auc"])} for m, v in metrics["cross_validation"].items()]  # fmt: skip
            cv = pd.DataFrame(rows)
            cv.to_csv(staging / "cross_validation.csv", index=False)
            tables.append(("Cross-validation: per-fold AUC mean and SD, pooled out-of-fold AUC", cv))
        figures = write_figures(predictions, metrics, figures_dir)
        for extra in extra_files:
            shutil.copy2(extra, figures_dir / Path(extra).name)
        for name, frame in (extra_tables or {}).items():
            frame.to_csv(staging / name, index=False)
        sections = [Section("Summary", _summary_paragraphs(predictions, metrics), tables)]
        for split, items in figures.items():
            sections.append(Section(f"Figures, {_split_title(split)}", figures=items))
        sections += [_relocate(s, figures_dir) for s in extra_sections]
        (staging / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n", encoding="utf-8")
        write_report(staging / "report.html", title, sections, RESEARCH_BANNER)
    logger.info("Evaluation written to %s (report.html, metrics.json).", out)
    return metrics


def _relocate(section: Section, figures_dir: Path) -> Section:
    """A section whose figures point at their copies in the staging folder."""
    moved = [(caption, figures_dir / Path(path).name) for caption, path in section.figures]
    return Section(section.title, section.paragraphs, section.tables, moved)
