"""The full evaluation of the papers over a prepared datalist and trained classifiers.

Steps, each fitted on the training split only and applied unchanged to the test split:

1. **Deep learning**: every trained classifier scores every case (crop centred on the tumor mask); on the
   training rows a model's held-out (out-of-fold) predictions take the place of its in-sample scores wherever
   they cover every training case (:mod:`hccp53.evaluation.stacking`).
2. **Radiomics**: pyradiomics features of each phase inside the tumor mask, feature selection and a
   LASSO-logistic radiomics score (:mod:`hccp53.radiomics`). With ``icc_threshold`` the training cases' features
   are also extracted inside the tumor mask eroded and dilated by one voxel, and features whose ICC(2,1) across
   the three masks is below the threshold are dropped before the selection (on the fitting rows only).
3. **Clinical**: logistic regression of the clinical factors, chosen by bidirectional stepwise AIC.
4. **Combined**: logistic regression of the chosen deep-learning model's logit (the model with the best
   out-of-fold AUC on the training rows unless named), the radiomics score and the clinical factors the stepwise
   selection kept, drawn as a nomogram. Both scores are out-of-fold on the training rows (stacking); where the
   network's are not, the report and the log say that the combined model's training-split figures are optimistic.
   Without a radiomics and a clinical model (``--no-radiomics --no-clinical``: seed 1's design) there is none:
   a logistic recalibration of one network would only repeat that network's AUC under another name.

The scores go into one predictions table and from there through the same statistics and report as
``hccp53 evaluate --predictions``. ``cv_folds`` adds a stratified k-fold cross-validation of the radiomics,
clinical and combined models on the training split (out-of-fold AUC per fold and pooled): every level is
refitted inside each fold (radiomics selection and LASSO with the rad-score out-of-fold within the fold, the
clinical selection, the choice of the deep-learning model, the combined model). The combined model takes part
only when its deep-learning scores are out-of-fold: an in-sample score would make its cross-validated AUC a
measure of how well the network memorised the training cases.

The fitted models and their cross-validation are in :mod:`~hccp53.evaluation.fitted`, the clinical factors' table
in :mod:`~hccp53.evaluation.clinical`; this module scores the cases, runs the steps and writes the report.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from hccp53 import PHASES
from hccp53.data.datalist import complete_cases
from hccp53.errors import ConfigError, InputError
from hccp53.evaluation.baseline import baseline_table, raw_clinical
from hccp53.evaluation.clinical import clinical_table, default_clinical_terms
from hccp53.evaluation.fitted import DL_TERM, RAD_TERM, cross_validate, statistical_models
from hccp53.evaluation.metrics import Settings
from hccp53.evaluation.options import WorkflowOptions
from hccp53.evaluation.outputs import write_evaluation
from hccp53.evaluation.predictions import check_predictions
from hccp53.evaluation.scoring import TrainedClassifier, score_cases
from hccp53.evaluation.stacking import (
    choose_dl_model,
    held_out_predictions,
    stack_training_scores,
    stacking_metrics,
    stacking_section,
)
from hccp53.report.html import Section

logger = logging.getLogger(__name__)

BASELINE_CSV = "table_baseline.csv"
CLINICAL_UNIVARIABLE_CSV = "table_clinical_univariable.csv"
CLINICAL_MULTIVARIABLE_CSV = "table_clinical_multivariable.csv"
RADIOMICS_ICC_CSV = "radiomics_icc.csv"


def run_evaluation(
    cases: Sequence[Mapping[str, Any]],
    models: Sequence[TrainedClassifier],
    out: str | Path,
    options: WorkflowOptions | None = None,
    datalist: Path | None = None,
    overwrite: bool = False,
) -> dict[str, Any]:
    """Score, fit and evaluate everything; write the evaluation folder ``out`` (see module docstring).

    Parameters
    ----------
    cases
        Datalist cases with absolute paths and a ``split`` key (``training`` / ``test``).
    models
        Trained classifiers; their names become the model names of the report.
    datalist
        The datalist file (radiomics extraction reads it).

    Returns
    -------
    dict
        The content of ``metrics.json``.
    """
    options = options or WorkflowOptions()
    if not models:
        raise ConfigError("Give at least one trained classifier with --models NAME=FOLDER.")
    names = [m.name for m in models]
    if options.dl_model is not None and options.dl_model not in names:
        raise ConfigError(f"--dl-model {options.dl_model!r} is not one of the models given ({', '.join(names)}).")
    held_out = held_out_predictions(models, options.oof_files)
    needed = [p for p in PHASES if any(p in m.phases for m in models)
              or (options.radiomics and p in options.radiomics_phases)]  # fmt: skip
    everything = list(cases)
    cases = complete_cases(everything, needed, "evaluation")
    excluded = sorted(str(c["case_id"]) for c in everything if c not in cases)
    frame = pd.DataFrame({"case_id": [str(c["case_id"]) for c in cases], "label": [c["label"] for c in cases],
                          "split": [c["split"] for c in cases]}).set_index("case_id", drop=False)  # fmt: skip
    if "training" not in set(frame["split"]):
        raise InputError("The datalist has no training cases; the radiomics, clinical and combined models are "
                         "fitted on them.")  # fmt: skip
    dl = score_cases(models, cases, device=options.device, workers=min(options.workers, 2),
                     progress=options.progress)  # fmt: skip
    for name in names:
        frame[name] = dl.loc[frame.index, name].to_numpy()
    features = clinical = None
    perturbed: tuple[pd.DataFrame, ...] = ()
    if options.radiomics:
        from hccp53.radiomics.extract import extract_cohort

        if datalist is None:
            raise ConfigError("The radiomics model needs the datalist file.")
        extracted = extract_cohort(datalist, options.radiomics_phases, cache=options.radiomics_cache,
                                   workers=options.workers, progress=options.progress,
                                   case_ids={str(c["case_id"]) for c in cases})  # fmt: skip
        features = extracted.drop(columns=[c for c in ("split", "label") if c in extracted.columns])
        if options.icc_threshold is not None:
            perturbed = _perturbed_features(datalist, cases, options)
    if options.clinical:
        if options.clinical_terms is None:
            options = replace(options, clinical_terms=default_clinical_terms(cases))
            logger.info("Clinical candidates (the datalist's keys): %s.", ", ".join(options.clinical_terms))
        clinical = clinical_table(cases, options.clinical_terms)
    train = frame.index[frame["split"] == "training"]
    stacking = stack_training_scores(frame, train, names, held_out)
    choice = choose_dl_model(frame, train, names, stacking, options.dl_model)
    dl_model = choice.model
    combining = options.radiomics or options.clinical  # without either there is nothing to combine the DL with
    if combining:
        logger.info("The combined model takes %s (%s); its training scores are %s.", dl_model, choice.rule,
                    stacking.describe(dl_model, len(train)))  # fmt: skip
    if combining and not stacking.out_of_fold(dl_model):
        logger.warning("The combined model's training-split figures are optimistic: %s's training scores are "
                       "in-sample (the network was trained on those cases); train it with --fold all or give "
                       "its out-of-fold predictions with --oof.", dl_model)  # fmt: skip
    scores, fitted = statistical_models(frame, train, features, clinical, frame[dl_model], options, perturbed)
    for name, values in scores.items():
        frame[name] = values
    predictions = check_predictions(frame.reset_index(drop=True), "the evaluation table")
    extra_metrics: dict[str, Any] = {"combined_model": _describe_combined(fitted, dl_model), "phases_needed": needed,
                                     "excluded_cases": excluded,
                                     "clinical_candidates": list(options.clinical_terms or ()),
                                     "stacking": stacking_metrics(stacking, choice, names, len(train))}  # fmt: skip
    if options.radiomics:
        extra_metrics["radiomics_icc"] = _icc_metrics(fitted.get("radiomics"), options.icc_threshold)
    cv = None
    if options.cv_folds:
        cv = cross_validate(frame, features, clinical, names, stacking, choice, options, perturbed)
        extra_metrics["cross_validation_fitted_models"] = cv
    with tempfile.TemporaryDirectory(prefix="hccp53-evaluation-") as scratch:
        sections, files, tables = _model_sections(fitted, dl_model, Path(scratch))
        sections.insert(0, stacking_section(stacking, choice, names, len(train), cv))
        characteristics = raw_clinical(cases)
        if not characteristics.empty:
            table1 = baseline_table(characteristics, frame["label"], frame["split"])
            tables[BASELINE_CSV] = table1
            sections.insert(0, Section("Baseline characteristics (Table 1)", [
                "Clinical characteristics by P53 status within each split: n (%) of each level with Fisher's exact "
                "or the chi-square test; mean ± SD with Welch's t-test when both groups look normal (Shapiro-Wilk "
                "p > 0.05), median [IQR] with the Mann-Whitney U test otherwise."], [("Table 1", table1)]))
        if excluded:
            sections.insert(0, Section("Cases left out", [
                f"{len(excluded)} of {len(everything)} cases lack one of the phases {', '.join(needed)} that the "
                f"models need (e.g. no hepatobiliary phase after an extracellular agent) and are not evaluated: "
                f"{', '.join(excluded[:20])}{' ...' if len(excluded) > 20 else ''}."]))  # fmt: skip
        return write_evaluation(predictions, out, options.settings, overwrite=overwrite, extra_sections=sections,
                                extra_files=files, extra_metrics=extra_metrics, extra_tables=tables)  # fmt: skip


def _perturbed_features(datalist: Path, cases: Sequence[Mapping[str, Any]], options: WorkflowOptions
                        ) -> tuple[pd.DataFrame, ...]:  # fmt: skip
    """The training cases' radiomics features inside the eroded and the dilated tumor mask (test cases are not
    extracted: the ICC filter is part of fitting). Cached beside ``radiomics_cache`` as ``<stem>_erode.csv`` and
    ``<stem>_dilate.csv``."""
    from hccp53.radiomics.extract import extract_cohort
    from hccp53.radiomics.stability import PERTURBATIONS

    training = {str(c["case_id"]) for c in cases if c["split"] == "training"}
    out = []
    for how in PERTURBATIONS:
        cache = options.radiomics_cache
        if cache is not None:
            cache = cache.with_name(f"{cache.stem}_{how}{cache.suffix or '.csv'}")
        table = extract_cohort(datalist, options.radiomics_phases, parts=("training",), cache=cache,
                               workers=options.workers, progress=options.progress, case_ids=training,
                               perturbation=how)  # fmt: skip
        out.append(table.drop(columns=[c for c in ("split", "label") if c in table.columns]))
    return tuple(out)


def _icc_metrics(radiomics: Any, threshold: float | None) -> dict[str, Any]:
    """What ``metrics.json`` says of the ICC filter: off, or its form, threshold and the features kept per phase."""
    if threshold is None:
        return {"enabled": False}
    out: dict[str, Any] = {"enabled": True, "form": "ICC(2,1): two-way random effects, absolute agreement, single "
                           "measurement", "threshold": threshold, "masks": ["original", "eroded 1 voxel",
                                                                            "dilated 1 voxel"]}  # fmt: skip
    if radiomics is not None:
        out["kept_per_phase"] = radiomics.icc_kept
        out["kept"] = sum(v["kept"] for v in radiomics.icc_kept.values())
        out["of"] = sum(v["of"] for v in radiomics.icc_kept.values())
    return out


def _describe_combined(fitted: Mapping[str, Any], dl_model: str) -> dict[str, Any]:
    out: dict[str, Any] = {"deep_learning_model": dl_model, "left_out": dict(fitted["left_out"])}
    if "combined" in fitted:
        out["terms"] = list(fitted["combined_terms"])
        out["coefficients"] = {str(k): float(v) for k, v in fitted["combined"].params.items()}
    if "clinical" in fitted:
        out["clinical_terms"] = list(fitted["clinical"].terms)
        out["clinical_aic"] = float(fitted["clinical"].aic)
    if "radiomics" in fitted:
        out["radiomics_features"] = {str(k): float(v) for k, v in fitted["radiomics"].selected.items()}
    return out


def _model_sections(fitted: Mapping[str, Any], dl_model: str, folder: Path
                    ) -> tuple[list[Section], list[Path], dict[str, pd.DataFrame]]:  # fmt: skip
    """Report sections describing the fitted models, the nomogram figures (the combined model's and the clinical
    model's, drawn into ``folder``) and the tables also written as CSV."""
    from hccp53.report.nomogram import draw_nomogram, nomogram_scales

    sections = []
    paths: list[Path] = []
    tables: dict[str, pd.DataFrame] = {}
    if "radiomics" in fitted:
        selected = fitted["radiomics"].selected
        table = pd.DataFrame({"feature": selected.index, "coefficient": selected.to_numpy()})
        steps = "; ".join(f"{k}: {v}" for k, v in fitted["radiomics"].steps.items())
        paragraphs = [f"Features surviving each selection step: {steps}."]
        tables_shown = [("LASSO-logistic coefficients of the selected features (standardised)", table)]
        model = fitted["radiomics"]
        if model.icc_threshold is not None:
            paragraphs.append(
                f"ICC filter: features were also extracted inside the tumor mask eroded and dilated by one voxel; "
                f"those whose ICC(2,1) (two-way random effects, absolute agreement, single measurement) across the "
                f"three masks over the training cases is below {model.icc_threshold} were dropped before the "
                f"selection: {int(model.icc.ge(model.icc_threshold).sum())} of {len(model.icc)} kept.")  # fmt: skip
            kept = pd.DataFrame([{"phase": ph, "kept": v["kept"], "of": v["of"]}
                                 for ph, v in model.icc_kept.items()])  # fmt: skip
            tables_shown.insert(0, (f"Features with ICC(2,1) >= {model.icc_threshold}, per phase", kept))
            tables[RADIOMICS_ICC_CSV] = model.icc.rename("icc").rename_axis("feature").reset_index()
        sections.append(Section("Radiomics model", paragraphs, tables_shown))
    if "clinical" in fitted:
        steps = pd.DataFrame(fitted["clinical"].steps, columns=["step", "AIC"])
        text = (f"Stepwise AIC kept {', '.join(fitted['clinical'].terms) or 'no factor'} "
                f"(AIC {fitted['clinical'].aic:.2f}).")  # fmt: skip
        from hccp53.clinical.stepwise import odds_ratios

        univariable = fitted["clinical_univariable"]
        multivariable = odds_ratios(fitted["clinical"].result)
        tables[CLINICAL_UNIVARIABLE_CSV] = univariable
        tables[CLINICAL_MULTIVARIABLE_CSV] = multivariable
        figures = []
        if "clinical_table" in fitted:  # the selection kept a factor: the clinical model has a nomogram of its own
            clinical_path = folder / "nomogram_clinical.png"
            draw_nomogram(nomogram_scales(fitted["clinical"].result, fitted["clinical_table"]), clinical_path)
            figures.append(("Nomogram of the clinical model (points as in rms::nomogram).", clinical_path))
            paths.append(clinical_path)
        sections.append(Section("Clinical model", [text], [
            ("Steps of the bidirectional selection", steps),
            ("Univariable logistic regressions on the training split: odds ratio with 95% CI (per unit; per decade "
             "of a log10 term; per level against the first)", univariable),
            ("Multivariable model (the factors the selection kept): odds ratio with 95% CI", multivariable)],
            figures))
    if fitted["left_out"]:
        table = pd.DataFrame({"model": list(fitted["left_out"]), "reason": list(fitted["left_out"].values())})
        sections.append(Section("Models left out", ["These could not be fitted on this cohort; every other model "
                                                    "was."], [("Model and reason", table)]))  # fmt: skip
    if "combined" not in fitted:
        return sections, paths, tables
    combined = fitted["combined"]
    coefficients = pd.DataFrame({"term": [str(k) for k in combined.params.index],
                                 "coefficient": combined.params.to_numpy(),
                                 "p": np.asarray(combined.pvalues, dtype=float)})  # fmt: skip
    table = fitted["combined_table"]
    scales = nomogram_scales(combined, table.loc[:, fitted["combined_terms"]])
    path = folder / "nomogram.png"
    draw_nomogram(scales, path)
    text = (f"Logistic regression on the training split of {', '.join(fitted['combined_terms'])}; {DL_TERM} is the "
            f"logit of {dl_model}'s probability, {RAD_TERM} the radiomics score (both out-of-fold on the training "
            "split where the section 'Out-of-fold stacking' says so, so that the combined model does not learn from "
            "an overfitted score).")  # fmt: skip
    sections.append(Section("Combined model and nomogram", [text], [("Coefficients", coefficients)],
                            [("Nomogram of the combined model (points as in rms::nomogram).", path)]))
    return sections, [*paths, path], tables


def evaluate_datalist(
    datalist: str | Path,
    models: Mapping[str, str | Path],
    out: str | Path,
    overwrite: bool = True,
    **options: Any,
) -> dict[str, Any]:
    """The full evaluation from plain values (what ``configs/evaluate.yaml``'s ``report`` step calls).

    Parameters
    ----------
    datalist
        The datalist file; its training and test parts are evaluated.
    models
        Report name -> trained classifier folder (``p53_classifier.pt``, ``checksums.json``, ``network.json``).
    options
        :class:`WorkflowOptions` fields; ``n_resamples`` and ``seed`` go to the statistics' :class:`Settings`.
    """
    from hccp53.data.datalist import select_cases
    from hccp53.evaluation.scoring import read_classifier

    settings = Settings(n_resamples=int(options.pop("n_resamples", 2000)), seed=int(options.get("seed", 20260101)))
    cases = [{**c, "split": part} for part in ("training", "test") for c in select_cases(datalist, part)]
    trained = [read_classifier(name, folder) for name, folder in models.items()]
    workflow = WorkflowOptions(settings=settings, **options)
    return run_evaluation(cases, trained, out, workflow, datalist=Path(datalist), overwrite=overwrite)
