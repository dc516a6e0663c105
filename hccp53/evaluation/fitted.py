"""The fitted second-level models of the full evaluation: radiomics, clinical and combined, and their
cross-validation on the training split.

:func:`statistical_models` fits them on the training rows and scores every row: the radiomics model (LASSO-logistic
rad-score, :mod:`hccp53.radiomics`), the clinical model (bidirectional stepwise AIC over the clinical candidates,
each first fitted alone for the univariable table) and the combined model (logistic regression of the deep-learning
logit, the rad-score and the clinical factors the selection kept). The rad-score of the training rows is out-of-fold
(stacking), so that the combined model does not learn from an overfitted score. :func:`cross_validate` refits every
level inside each fold of a stratified k-fold split of the training rows.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from scipy.special import logit
from sklearn.model_selection import StratifiedKFold

from hccp53.clinical.stepwise import is_constant
from hccp53.errors import HccP53Error, InputError
from hccp53.evaluation.metrics import cross_validation
from hccp53.evaluation.predictions import check_predictions
from hccp53.evaluation.stacking import Choice, Stacking, choose_dl_model

if TYPE_CHECKING:
    from hccp53.evaluation.options import WorkflowOptions

logger = logging.getLogger(__name__)

RADIOMICS = "Radiomics"
CLINICAL = "Clinical"
COMBINED = "Combined"
DL_TERM = "dl_logit"
RAD_TERM = "rad_score"  # out-of-fold on the training rows (see _fit_radiomics)
_EPS = 1e-6


def _fit_radiomics(features: pd.DataFrame, labels: pd.Series, train: pd.Index, seed: int,
                   icc_threshold: float | None = None, perturbed: Sequence[pd.DataFrame] = ()
                   ) -> tuple[Any, np.ndarray]:  # fmt: skip
    """The radiomics model fitted on ``train``, and the rad-score the combined model uses.

    The combined model is fitted on the training rows, where a rad-score from the model fitted on those
    very rows is overfitted (on a small cohort it separates the classes perfectly). So the training
    rows get out-of-fold rad-scores (stratified k-fold over the training rows, k <= 5) and the other
    rows the score of the model fitted on all training rows (stacking). Each fit applies the ICC filter
    (``icc_threshold``, features of the ``perturbed`` masks) over its own fitting rows.
    """
    from hccp53.radiomics.select import RadiomicsModel

    def fit(rows: pd.Index) -> RadiomicsModel:
        model = RadiomicsModel(icc_threshold=icc_threshold)
        return model.fit(features.loc[rows], labels.loc[rows].to_numpy(), seed=seed, perturbed=perturbed)

    model = fit(train)
    rad_score = pd.Series(model.score(features), index=features.index)
    y = labels.loc[train].to_numpy()
    folds = min(5, int(np.bincount(y, minlength=2).min()))
    if folds >= 2:
        for fit_rows, held_rows in StratifiedKFold(folds, shuffle=True, random_state=seed).split(train, y):
            inner = fit(train[fit_rows])
            rad_score.loc[train[held_rows]] = inner.score(features.loc[train[held_rows]])
    else:
        logger.warning("Too few training cases of one class for out-of-fold radiomics scores; the combined model "
                       "uses the in-sample score.")  # fmt: skip
    return model, rad_score.to_numpy()


def _fit_clinical(table: pd.DataFrame, labels: pd.Series, train: pd.Index, candidates: Sequence[str]) -> Any:
    """The clinical model: bidirectional stepwise AIC over ``candidates``, fitted on the ``train`` rows."""
    from hccp53.clinical.stepwise import stepwise_aic

    data = table.loc[train].assign(y=labels.loc[train].to_numpy())
    return stepwise_aic(data, "y", list(candidates), direction="both")


def _univariable_odds_ratios(table: pd.DataFrame, labels: pd.Series, candidates: Sequence[str]
                             ) -> tuple[pd.DataFrame, dict[str, str]]:  # fmt: skip
    """Each candidate alone against the label on the training rows: odds ratios with 95% CI (Table 2 of seed 2).

    Returns the table (a candidate that cannot be fitted alone gets a row with a ``note``) and those candidates
    with the reason (constant on these rows, or separating the classes perfectly).
    """
    from hccp53.clinical.stepwise import fit_logistic, odds_ratios

    rows, unfit = [], {}
    data = table.assign(y=labels.to_numpy())
    for term in candidates:
        try:
            rows.append(odds_ratios(fit_logistic(data, "y", [term])))
        except HccP53Error as error:
            rows.append(pd.DataFrame([{"term": term, "note": str(error)}]))
            unfit[term] = str(error)
    return pd.concat(rows, ignore_index=True), unfit


def _fit_combined(table: pd.DataFrame, labels: pd.Series, train: pd.Index, terms: Sequence[str]) -> Any:
    """The combined model: logistic regression of ``terms`` (columns of ``table``), fitted on the ``train`` rows."""
    from hccp53.clinical.stepwise import fit_logistic

    data = table.loc[train].assign(y=labels.loc[train].to_numpy())
    return fit_logistic(data, "y", list(terms))


def _predict(result: Any, table: pd.DataFrame) -> np.ndarray:
    """The probabilities a fitted logistic regression gives the rows of ``table``."""
    from hccp53.clinical.stepwise import predict_logistic

    return np.asarray(predict_logistic(result, table), dtype=float)


def statistical_models(
    frame: pd.DataFrame,
    train: pd.Index,
    features: pd.DataFrame | None,
    clinical: pd.DataFrame | None,
    dl_scores: pd.Series,
    options: WorkflowOptions,
    perturbed: Sequence[pd.DataFrame] = (),
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Fit radiomics, clinical and combined models on ``train`` rows; score every row of ``frame``.

    A model that cannot be fitted (a constant or perfectly separating term, too few cases) or cannot score every
    row (a factor level the training rows lack) is left out with a warning, and named with the reason in
    ``fitted["left_out"]``; the others are still fitted. A term a model cannot use is left out of it alike: a
    clinical candidate that cannot be fitted even alone, a deep-learning score constant on the training rows.

    Parameters
    ----------
    frame
        One row per case, indexed by case id, with a ``label`` column (0/1).
    train
        The rows of ``frame`` the models are fitted on.
    features
        Radiomics features per case (None: no radiomics model).
    clinical
        Clinical factors per case (:func:`~hccp53.evaluation.clinical.clinical_table`; None: no clinical model).
    dl_scores
        The deep-learning model's probability per row of ``frame``; its logit is the combined model's
        :data:`DL_TERM`.
    options
        The workflow's options: ``seed``, ``icc_threshold`` and ``clinical_terms`` (the candidates) are read.
    perturbed
        The training cases' radiomics features inside the eroded and dilated masks (ICC filter).

    Returns
    -------
    scores : dict
        Model name (:data:`RADIOMICS`, :data:`CLINICAL`, :data:`COMBINED`) -> score of every row of ``frame``, for
        the models fitted.
    fitted : dict
        The fitted models (``radiomics``, ``clinical`` with ``clinical_univariable``, ``combined`` with
        ``combined_terms`` and ``combined_table``) and ``left_out``: what was left out -> the reason.
    """
    labels = frame["label"]
    scores: dict[str, np.ndarray] = {}
    fitted: dict[str, Any] = {"left_out": {}}

    def leave_out(name: str, error: HccP53Error) -> None:
        logger.warning("The %s model is left out: %s", name.lower(), error)
        fitted["left_out"][name] = str(error)

    terms = pd.DataFrame({DL_TERM: logit(np.clip(dl_scores.to_numpy(), _EPS, 1 - _EPS))}, index=frame.index)
    combined_terms = [DL_TERM]
    if features is not None:
        try:
            radiomics, rad_score = _fit_radiomics(features.loc[frame.index], labels, train, options.seed,
                                                  options.icc_threshold, perturbed)  # fmt: skip
        except HccP53Error as error:
            leave_out(RADIOMICS, error)
        else:
            terms[RAD_TERM] = rad_score
            scores[RADIOMICS] = np.asarray(radiomics.predict_proba(features.loc[frame.index]), dtype=float)
            fitted["radiomics"] = radiomics
            combined_terms.append(RAD_TERM)
    if clinical is not None:
        # A candidate that cannot be fitted even alone (constant on the training rows, or separating the classes)
        # is left out once, with one warning, rather than at every step of the selection.
        univariable, unfit = _univariable_odds_ratios(clinical.loc[train], labels.loc[train], options.clinical_terms)
        for term, reason in unfit.items():
            logger.warning("Clinical factor %s is left out of the candidates: %s", term, reason)
            fitted["left_out"][f"{CLINICAL}: {term}"] = reason
        candidates = [t for t in options.clinical_terms if t not in unfit]
        try:
            if not candidates:
                raise InputError("no clinical candidate can be fitted on the training cases.")
            stepwise = _fit_clinical(clinical.loc[frame.index], labels, train, candidates)
            # every row is scored here, so that a factor level the training rows lack leaves the model out
            clinical_scores = _predict(stepwise.result, clinical.loc[frame.index]) if stepwise.terms else None
        except HccP53Error as error:
            leave_out(CLINICAL, error)
        else:
            fitted["clinical"] = stepwise
            fitted["clinical_univariable"] = univariable
            if clinical_scores is not None:
                scores[CLINICAL] = clinical_scores
                fitted["clinical_table"] = clinical.loc[train, list(stepwise.terms)]  # the clinical nomogram's axes
                terms = terms.join(clinical.loc[frame.index, list(stepwise.terms)])
                combined_terms += list(stepwise.terms)
            else:
                leave_out(CLINICAL, InputError("the stepwise selection kept no clinical factor."))
    constant = [t for t in combined_terms if t in (DL_TERM, RAD_TERM) and is_constant(terms.loc[train, t])]
    for term in constant:
        logger.warning("%s is (nearly) constant on the training cases; the combined model goes without it.", term)
        fitted["left_out"][f"{COMBINED}: {term}"] = "constant on the training cases"
    combined_terms = [t for t in combined_terms if t not in constant]
    if features is None and clinical is None:
        return scores, fitted  # no radiomics or clinical model asked for: nothing to combine, no combined model
    try:
        if not combined_terms:
            raise InputError("no term is left to combine.")
        combined = _fit_combined(terms, labels, train, combined_terms)
        combined_scores = _predict(combined, terms)
    except HccP53Error as error:
        leave_out(COMBINED, error)
    else:
        scores[COMBINED] = combined_scores
        fitted["combined"] = combined
        fitted["combined_terms"] = combined_terms
        fitted["combined_table"] = terms.loc[train]  # the rows it was fitted on: the nomogram's axes span these
    return scores, fitted


def cross_validate(
    frame: pd.DataFrame,
    features: pd.DataFrame | None,
    clinical: pd.DataFrame | None,
    models: Sequence[str],
    stacking: Stacking,
    choice: Choice,
    options: WorkflowOptions,
    perturbed: Sequence[pd.DataFrame] = (),
) -> dict[str, Any]:
    """Stratified k-fold out-of-fold scores of the fitted models on the training split; their AUCs.

    Every level is refitted on each fold's fitting rows (:func:`statistical_models`: the radiomics selection
    and LASSO, with rad-scores out-of-fold within those rows; the clinical selection; the combined model), and
    the deep-learning model is chosen again on them when it was chosen on the training labels. The deep-learning
    scores of the training rows are the networks' out-of-fold ones (``frame`` holds them, see
    :func:`~hccp53.evaluation.stacking.stack_training_scores`); where they are in-sample the combined model is
    left out of the cross-validation, since its figure would be optimistic.

    Parameters
    ----------
    frame
        One row per case, indexed by case id, with ``label`` and ``split`` columns and a score column per
        deep-learning model; only the ``training`` rows are used.
    features
        Radiomics features per case (None: no radiomics model).
    clinical
        Clinical factors per case (None: no clinical model).
    models
        The deep-learning models the combined model may take.
    stacking
        Which deep-learning models' training scores are out-of-fold.
    choice
        The deep-learning model of the combined model, and whether it is chosen again in each fold.
    options
        The workflow's options: ``cv_folds`` and ``seed`` set the folds; the rest goes to
        :func:`statistical_models`.
    perturbed
        The training cases' radiomics features inside the eroded and dilated masks (ICC filter).

    Returns
    -------
    dict
        :func:`~hccp53.evaluation.metrics.cross_validation` of the pooled out-of-fold scores of the models fitted
        in every fold; empty when none was.
    """
    training = frame[frame["split"] == "training"]
    combined = stacking.out_of_fold(choice.model)
    if not combined and (features is not None or clinical is not None):
        logger.warning("The combined model is left out of the cross-validation: %s's training scores are "
                       "in-sample, so its cross-validated AUC would be optimistic.", choice.model)  # fmt: skip
    folds = StratifiedKFold(options.cv_folds, shuffle=True, random_state=options.seed)
    rows = []
    for k, (fit_rows, held_rows) in enumerate(folds.split(training.index, training["label"])):
        fit_index, held_index = training.index[fit_rows], training.index[held_rows]
        dl_model = choice.model
        if choice.refit_in_folds:
            dl_model = choose_dl_model(training, fit_index, models, stacking).model
        scores, _ = statistical_models(training, fit_index, features, clinical, training[dl_model], options,
                                       perturbed)  # fmt: skip
        if not combined:
            scores.pop(COMBINED, None)
        position = training.index.get_indexer(held_index)
        rows.append(pd.DataFrame({"case_id": held_index, "label": training.loc[held_index, "label"].to_numpy(),
                                  "split": "training", "fold": k,
                                  **{m: s[position] for m, s in scores.items()}}))  # fmt: skip
    pooled = pd.concat(rows, ignore_index=True)
    partial = [c for c in pooled.columns if pooled[c].isna().any()]
    if partial:
        logger.warning("%s could not be fitted in every fold and are left out of the cross-validation.",
                       ", ".join(partial))  # fmt: skip
    pooled = pooled.drop(columns=partial)
    if pooled.columns.difference(["case_id", "label", "split", "fold"]).empty:
        logger.warning("No fitted model could be cross-validated.")
        return {}
    return cross_validation(check_predictions(pooled, "the cross-validation table"))
