"""Out-of-fold stacking: the deep-learning scores a second-level model may learn from.

The combined model is fitted on the training split. A network's score of a case it was trained on says how
well it memorised that case's label, not how well it predicts one: a combined model fitted on such scores
learns to trust the network far more than it should, and its training and cross-validated AUCs are optimistic
even on a cohort whose labels are noise. So every score that enters a second-level model must be *out-of-fold*
on the training rows: made by a model that did not see that case's label. The rad-score is refitted in folds
by the workflow itself; for a network the evaluation reads its held-out predictions, from the first of:

1. ``--oof NAME=CSV`` (:func:`read_held_out`): ``case_id`` and ``logit`` (log-odds) or ``probability``, an
   optional ``label`` (checked against the datalist) and ``fold``. ``validation_predictions.csv`` files of
   several fold runs, concatenated, are such a file.
2. The folder of ``hccp53 train classifier --fold all`` (:func:`fold_predictions`): its ``network.json`` lists
   the fold networks (``members``), and each fold folder keeps ``held_out_predictions.csv``, its published
   (calibrated) log-odds of the fold it neither trained nor validated on. Pooled, every training case is
   scored once, by the one fold network that never saw it; the ensemble's own calibration (recorded in its
   ``network.json``) is applied to them, so that the training rows are on the scale of the test rows, which
   the ensemble scores. Fold networks trained before held-out folds have only ``validation_predictions.csv``,
   the fold each validated on; those are pooled instead, with a warning: each fold's epoch was chosen as the
   one that scored those cases best, so they are optimistic (on permuted labels, seed 2's ResNet34 MC reached a
   pooled AUC of 0.625 over 224 cases with them; 0.509 with held-out folds).
3. A one-fold run's own ``held_out_predictions.csv`` (with ``held_out_fold`` set) or ``validation_predictions.csv``:
   predictions of one fold only.

A model whose held-out predictions cover every training case of the evaluation is **out-of-fold**: its
training rows take those predictions everywhere (the predictions table and its training-split figures, the
thresholds, the choice of the deep-learning model, the combined model and its cross-validation); the test rows
keep the final network's scores. Any other model is **in-sample** on the training rows: the evaluation then
says that the combined model's training-split figures are optimistic and leaves it out of the cross-validation.

The deep-learning model of the combined model is, unless named (``--dl-model``), the one with the highest AUC
of its out-of-fold training scores; without any, the highest AUC on the held-out fold of a one-fold run; without
those either, the first model given (with a warning).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import expit

from hccp53.errors import ConfigError, InputError
from hccp53.evaluation.scoring import TrainedClassifier
from hccp53.report.html import Section
from hccp53.stats.roc import auc

logger = logging.getLogger(__name__)

#: Per-case validation predictions a training run leaves in its folder (``hccp53.training.calibration``).
VALIDATION_PREDICTIONS = "validation_predictions.csv"
#: Per-case predictions of the fold a run held out of training and validation (config ``held_out_fold``).
HELD_OUT_PREDICTIONS = "held_out_predictions.csv"
OUT_OF_FOLD = "out-of-fold"
HELD_OUT_FOLD = "held-out fold"
IN_SAMPLE = "in-sample"
_SHOWN = 5


@dataclass(frozen=True)
class HeldOut:
    """One network's predictions of cases it was not trained on.

    Attributes
    ----------
    probability:
        P(P53-mutated) by case id.
    label:
        The label each case had when the network was trained (by case id), or None when the source has none.
    fold:
        The fold each case was held out in (-1 where unknown), by case id.
    source:
        Where they were read, for messages and the report.
    """

    probability: pd.Series
    label: pd.Series | None
    fold: pd.Series
    source: str


@dataclass(frozen=True)
class Stacking:
    """What the evaluation knows of each deep-learning model's training scores (see the module docstring).

    Attributes
    ----------
    kinds:
        Model -> :data:`OUT_OF_FOLD`, :data:`HELD_OUT_FOLD` (some training cases held out) or :data:`IN_SAMPLE`.
    held_out:
        Model -> its held-out predictions restricted to the evaluation's training cases (models with any).
    """

    kinds: Mapping[str, str]
    held_out: Mapping[str, HeldOut]

    def out_of_fold(self, model: str) -> bool:
        """Whether every training score of ``model`` is out-of-fold."""
        return self.kinds[model] == OUT_OF_FOLD

    def describe(self, model: str, training_cases: int) -> str:
        """How ``model``'s training scores were made, in words."""
        if self.kinds[model] == OUT_OF_FOLD:
            folds = sorted(set(self.held_out[model].fold) - {-1})
            across = f" in {len(folds)} folds" if folds else ""
            return f"out-of-fold{across} ({self.held_out[model].source})"
        if self.kinds[model] == HELD_OUT_FOLD:
            return (f"in-sample; held out for {len(self.held_out[model].probability)} of {training_cases} cases "
                    f"({self.held_out[model].source})")  # fmt: skip
        return "in-sample (no held-out predictions)"


@dataclass(frozen=True)
class Choice:
    """The deep-learning model of the combined model and why it was chosen.

    Attributes
    ----------
    model:
        Its name.
    rule:
        ``"named"`` (``--dl-model``), ``"out-of-fold AUC"``, ``"held-out fold AUC"`` or ``"first given"``.
    aucs:
        Model -> ``{"auc": ..., "cases": ...}`` on the held-out training predictions it was compared on.
    """

    model: str
    rule: str
    aucs: Mapping[str, Mapping[str, Any]]

    @property
    def refit_in_folds(self) -> bool:
        """Whether a cross-validation must choose again on each fold's fitting rows (the choice used labels)."""
        return self.rule == "out-of-fold AUC"


def read_held_out(path: str | Path, name: str) -> HeldOut:
    """Read a CSV of held-out predictions: ``case_id``, ``logit`` or ``probability``, optional ``label``, ``fold``.

    Raises
    ------
    InputError
        The file is missing or unreadable, lacks ``case_id`` or a score column, repeats a case, or has a score
        that is not a finite number (or a probability outside [0, 1]).
    """
    path = Path(path)
    source = f"out-of-fold predictions {path.name} of {name}"
    if not path.is_file():
        raise InputError(f"The {source} do not exist at {path}; give the CSV that `--oof {name}=` should read.")
    return _checked(_read_csv(path, source), source)


def _read_csv(path: Path, source: str) -> pd.DataFrame:
    try:
        return pd.read_csv(path, dtype={"case_id": str})
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as error:
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise InputError(f"The {source} are not a readable CSV ({reason}).") from None


def _checked(frame: pd.DataFrame, source: str) -> HeldOut:
    """A held-out predictions table checked and turned into a :class:`HeldOut`."""
    frame = frame.rename(columns=lambda c: str(c).strip())
    score = next((c for c in ("logit", "probability", "p53_probability") if c in frame.columns), None)
    if "case_id" not in frame.columns or score is None:
        raise InputError(f"The {source} need a case_id column and a logit or probability column; they have "
                         f"{', '.join(map(str, frame.columns)) or 'no columns'}.")  # fmt: skip
    ids = frame["case_id"].astype(str).str.strip()
    repeated = sorted(set(ids[ids.duplicated()]))
    if repeated:
        raise InputError(f"The {source} score case(s) {', '.join(repeated[:_SHOWN])} more than once; give each "
                         "training case one held-out prediction.")  # fmt: skip
    values = pd.to_numeric(frame[score], errors="coerce").to_numpy(dtype=float)
    bad = ~np.isfinite(values)
    if score != "logit":
        bad |= (values < 0) | (values > 1)
    if bad.any():
        wanted = "a finite number" if score == "logit" else "in [0, 1]"
        raise InputError(f"The {source} have a {score} that is not {wanted} for case(s) "
                         f"{', '.join(ids[bad][:_SHOWN])}.")  # fmt: skip
    probability = expit(values) if score == "logit" else values
    label = None
    if "label" in frame.columns:
        label = pd.Series(pd.to_numeric(frame["label"], errors="coerce").to_numpy(), index=ids.to_numpy())
    fold = frame["fold"] if "fold" in frame.columns else pd.Series(-1, index=frame.index)
    fold = pd.to_numeric(fold, errors="coerce").fillna(-1).astype(int)
    index = pd.Index(ids.to_numpy(), name="case_id")
    return HeldOut(pd.Series(probability, index=index), label, pd.Series(fold.to_numpy(), index=index), source)


def _ensemble_scale(log_odds: np.ndarray, calibration: Mapping[str, Any] | None) -> np.ndarray:
    """The ensemble's own calibration applied to one member's published log-odds.

    ``hccp53.training.ensemble`` fits one more clipped Platt scaling on the members' pooled out-of-fold log-odds
    and folds it into the ensemble: ``slope * clip(z, *raw_logit_range) + intercept``, as recorded under
    ``calibration`` in its ``network.json``. A case's out-of-fold prediction on that scale is what the ensemble
    would say of it if every member agreed with the one that did not train on it.
    """
    if not calibration or calibration.get("method") != "platt":
        return log_odds
    low, high = calibration["raw_logit_range"]
    return float(calibration["slope"]) * np.clip(log_odds, low, high) + float(calibration["intercept"])


def fold_predictions(model: TrainedClassifier) -> HeldOut | None:
    """The held-out predictions a training run left in a classifier folder, or None when it left none.

    An ensemble (``--fold all``) pools its members' ``held_out_predictions.csv`` (their
    ``validation_predictions.csv``, with a warning, when they predate held-out folds); a one-fold run has its own.

    Raises
    ------
    InputError
        A member's predictions are unreadable or repeat a case.
    """
    members = model.network.get("members")
    if not members:
        training = model.network.get("training") or {}
        for name, key, what in ((HELD_OUT_PREDICTIONS, "held_out_fold", "held-out"),
                                (VALIDATION_PREDICTIONS, "fold", "validation")):  # fmt: skip
            path = model.folder / name
            if path.is_file():
                held = read_held_out(path, model.name)
                fold = training.get(key)
                folds = pd.Series(-1 if fold is None else int(fold), index=held.probability.index)
                return HeldOut(held.probability, held.label, folds, f"the {what} fold of {model.folder.name}")
        return None
    folders = [model.folder / str(member.get("folder", "")) for member in members]
    nested = all((folder / HELD_OUT_PREDICTIONS).is_file() for folder in folders)
    name, key = (HELD_OUT_PREDICTIONS, "held_out_fold") if nested else (VALIDATION_PREDICTIONS, "fold")
    if not nested:
        logger.warning("%s's fold networks predate held-out folds: their validation predictions, on which each "
                       "fold's epoch was chosen, stand in for out-of-fold ones, and are optimistic (retrain it "
                       "with `hccp53 train classifier --fold all --restart`).", model.name)  # fmt: skip
    frames = []
    for index, folder in enumerate(folders):
        path = folder / name
        if not path.is_file():
            logger.warning("%s is an ensemble, but its member %s has no %s; its training scores are in-sample.",
                           model.name, folder.name, name)  # fmt: skip
            return None
        frame = _read_csv(path, f"fold predictions of {model.name}'s member {folder.name}")
        record = folder / "network.json"
        fold = index
        if record.is_file():
            fold = int((json.loads(record.read_text(encoding="utf-8")).get("training") or {}).get(key, index))
        frames.append(frame.assign(fold=fold))
    pooled = pd.concat(frames, ignore_index=True)
    if "logit" in pooled.columns:
        pooled["logit"] = _ensemble_scale(pd.to_numeric(pooled["logit"], errors="coerce").to_numpy(dtype=float),
                                          model.network.get("calibration"))  # fmt: skip
    held = _checked(pooled, f"fold predictions of {model.name}")
    what = "held-out predictions" if nested else "validation predictions (optimistic: each chose its fold's epoch)"
    return HeldOut(held.probability, held.label, held.fold, f"the {len(members)} fold networks' {what}")


def held_out_predictions(models: Sequence[TrainedClassifier], files: Mapping[str, str | Path] | None = None
                         ) -> dict[str, HeldOut]:  # fmt: skip
    """Each model's held-out predictions: ``files[name]`` where given, else those in its folder (if any).

    Raises
    ------
    ConfigError
        ``files`` names a model that is not among ``models``.
    """
    files = dict(files or {})
    names = [m.name for m in models]
    unknown = [n for n in files if n not in names]
    if unknown:
        raise ConfigError(f"--oof names {', '.join(unknown)}, which is not one of the models given "
                          f"({', '.join(names)}).")  # fmt: skip
    found = {}
    for model in models:
        held = read_held_out(files[model.name], model.name) if model.name in files else fold_predictions(model)
        if held is not None:
            found[model.name] = held
    return found


def stack_training_scores(frame: pd.DataFrame, training: pd.Index, models: Sequence[str],
                          held_out: Mapping[str, HeldOut]) -> Stacking:  # fmt: skip
    """Put every out-of-fold model's held-out predictions into its training rows of ``frame`` (in place).

    Parameters
    ----------
    frame
        Indexed by case id, with ``label``, ``split`` and a score column per model (the final networks' scores).
    training
        The training rows' case ids.
    models
        The deep-learning model columns.
    held_out
        Model -> its held-out predictions (:func:`held_out_predictions`).

    Raises
    ------
    InputError
        A model's held-out predictions include a test case (the network was trained on another split, so its
        test figures would be optimistic), or give a case another label than the datalist.
    """
    kinds, kept = {}, {}
    for model in models:
        held = held_out.get(model)
        if held is None:
            kinds[model] = IN_SAMPLE
            continue
        ids = held.probability.index
        test = [i for i in ids if i in frame.index and frame.at[i, "split"] != "training"]
        if test:
            raise InputError(f"The {held.source} include test case(s) {', '.join(test[:_SHOWN])}: {model} was "
                             "trained on another split of the cohort, so its test figures would be optimistic; "
                             "train it on this datalist's training part.")  # fmt: skip
        rows = ids[ids.isin(training)]
        if held.label is not None:
            differ = [i for i in rows if held.label[i] != frame.at[i, "label"]]
            if differ:
                raise InputError(f"The {held.source} give case(s) {', '.join(differ[:_SHOWN])} another label than "
                                 f"the datalist; they belong to another cohort or labelling.")  # fmt: skip
        kept[model] = HeldOut(held.probability[rows], None, held.fold[rows], held.source)
        if len(rows) == len(training):
            kinds[model] = OUT_OF_FOLD
            frame.loc[training, model] = held.probability[training].to_numpy()
        else:
            kinds[model] = HELD_OUT_FOLD if len(rows) else IN_SAMPLE
            if not len(rows):
                del kept[model]
            logger.warning("%s has held-out predictions for %d of the %d training cases (%s); its training scores "
                           "are in-sample.", model, len(rows), len(training), held.source)  # fmt: skip
    return Stacking(kinds, kept)


def choose_dl_model(frame: pd.DataFrame, rows: pd.Index, models: Sequence[str], stacking: Stacking,
                    requested: str | None = None) -> Choice:  # fmt: skip
    """The deep-learning model of the combined model, chosen on ``rows`` of the training split.

    Named (``requested``), else the highest AUC of out-of-fold scores on ``rows``; else the highest AUC on the
    held-out folds of one-fold runs; else the first of ``models``. Ties go to the earlier model.

    Raises
    ------
    ConfigError
        ``requested`` is not one of ``models``.
    """
    if requested is not None and requested not in models:
        raise ConfigError(f"--dl-model {requested!r} is not one of the models given ({', '.join(models)}).")
    aucs: dict[str, dict[str, Any]] = {}
    for model in models:
        if model not in stacking.held_out:
            continue
        held = stacking.held_out[model].probability
        cases = held.index.intersection(rows)
        labels = frame.loc[cases, "label"].to_numpy()
        value = float(auc(labels, held[cases].to_numpy())) if len(set(labels)) == 2 else None
        aucs[model] = {"auc": value, "cases": int(len(cases)), "scores": stacking.kinds[model]}
    if requested is not None:
        return Choice(requested, "named", aucs)
    for kind, rule in ((OUT_OF_FOLD, "out-of-fold AUC"), (HELD_OUT_FOLD, "held-out fold AUC")):
        ranked = [m for m in models if aucs.get(m, {}).get("scores") == kind and aucs[m]["auc"] is not None]
        if ranked:
            best = max(ranked, key=lambda m: (aucs[m]["auc"], -models.index(m)))
            return Choice(best, rule, aucs)
    logger.warning("No deep-learning model has held-out predictions of the training cases; the combined model "
                   "takes the first given, %s (name one with --dl-model).", models[0])  # fmt: skip
    return Choice(models[0], "first given", aucs)


def stacking_metrics(stacking: Stacking, choice: Choice, models: Sequence[str], training_cases: int
                     ) -> dict[str, Any]:  # fmt: skip
    """``metrics.json``'s ``stacking``: how each network's training scores were made, and the choice."""
    out_of_fold = stacking.out_of_fold(choice.model)
    return {
        "training_scores": {m: stacking.kinds[m] for m in models},
        "sources": {m: stacking.describe(m, training_cases) for m in models},
        "held_out_auc": {m: dict(v) for m, v in choice.aucs.items()},
        "deep_learning_model": choice.model,
        "chosen_by": choice.rule,
        "combined_training_figures": "apparent (fitted on out-of-fold scores)" if out_of_fold
        else "optimistic (in-sample deep-learning scores)",
        "combined_in_cross_validation": out_of_fold,
    }


def stacking_section(stacking: Stacking, choice: Choice, models: Sequence[str], training_cases: int,
                     cv: Mapping[str, Any] | None) -> Section:  # fmt: skip
    """The report's account of which scores are out-of-fold, which network the combined model takes and why."""
    rule = {"named": "named with --dl-model",
            "out-of-fold AUC": "the highest out-of-fold AUC on the training split",
            "held-out fold AUC": "the highest AUC on a held-out validation fold (no model has out-of-fold scores "
                                 "of every training case)",
            "first given": "the first model given (no model has held-out predictions of the training cases)",
            }[choice.rule]  # fmt: skip
    paragraphs = [
        "Scores that enter the combined model are out-of-fold on the training split wherever possible (stacking): "
        "the rad-score of each training case comes from a radiomics model fitted without it (5 folds), and a "
        "network's from the fold network that was not trained on it (hccp53 train classifier --fold all, or "
        "--oof). Such a network's training-split figures above are then cross-validated figures; test cases are "
        "scored by the final networks and models.",
        f"The combined model takes {choice.model}: {rule}.",
    ]
    if stacking.out_of_fold(choice.model):
        paragraphs.append("Its training-split figures are apparent ones (fitted on those cases), from out-of-fold "
                          "inputs; the cross-validation below refits every level inside each fold.")
    else:
        paragraphs.append(f"Warning: {choice.model}'s training scores are in-sample (the network was trained on "
                          "those cases), so its own and the combined model's training-split figures are optimistic, "
                          "and the combined model is left out of the cross-validation. Train the network with "
                          "--fold all, or give its out-of-fold predictions with --oof, for figures that are "
                          "not.")  # fmt: skip
    table = pd.DataFrame([{"model": m, "training scores": stacking.describe(m, training_cases),
                           "held-out AUC": choice.aucs.get(m, {}).get("auc"),
                           "held-out cases": choice.aucs.get(m, {}).get("cases", 0),
                           "in the combined model": "yes" if m == choice.model else ""} for m in models])
    tables = [("Deep-learning models: training scores and their held-out AUC", table)]
    if cv:
        tables.append(("Cross-validation of the fitted models (every level refitted in each fold): per-fold AUC "
                       "and pooled out-of-fold AUC", pd.DataFrame(
                           [{"model": m, "mean AUC": v["mean_auc"], "SD": v["sd_auc"], "pooled AUC": v["pooled_auc"],
                             "folds": len(v["fold_auc"])} for m, v in cv.items()])))  # fmt: skip
    return Section("Out-of-fold stacking", paragraphs, tables)
