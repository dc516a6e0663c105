"""The shuffled-label control of an evaluation: the same cohort, its labels permuted, every model trained and fitted
again; nothing may then predict the labels.

A model that predicts permuted labels on new cases has learnt from a leak (a score made with the label it is
scored against), not from the images. ``scripts/model_set.py SET --permute-labels SEED`` runs a model set on
such a datalist (:func:`permute_labels`) and ends with :func:`leak_check`: every model's test AUC, and each fitted
model's cross-validated AUC, against 0.5 ± 2 null standard errors (:func:`null_auc_se`).

The labels are permuted within each cross-validation fold of the training split and within the test split, so
that every fold and the test split keep their number of mutated cases; the images and the clinical factors stay
as they were (they still carry the true labels, which are now noise to the models).

Command line (what the model-set runner calls)::

    python -m hccp53.evaluation.control --datalist cohort/datalist.json --seed 1 --out cohort/datalist_permuted.json
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from hccp53.errors import HccP53Error, InputError

#: Where the datalist keeps the permutation it went through (absent from an unpermuted datalist).
PERMUTATION_KEY = "labels_permuted"


def permute_labels(datalist: dict[str, Any], seed: int) -> dict[str, Any]:
    """A copy of a MONAI datalist whose labels are permuted within each training fold and within the test split.

    Parameters
    ----------
    datalist
        ``hccp53 synth`` / ``hccp53 prepare`` datalist: ``training`` entries with ``label`` and ``fold``,
        ``test`` entries with ``label``.
    seed
        Seed of the permutation: the same seed gives the same labels.

    Returns
    -------
    dict
        The datalist with permuted labels and a ``labels_permuted`` record (seed, how many labels changed).

    Raises
    ------
    InputError
        An entry lacks a label, or the datalist was permuted already.
    """
    if PERMUTATION_KEY in datalist:
        raise InputError("The datalist's labels are permuted already; permute the original datalist.")
    permuted = copy.deepcopy(datalist)
    rng = np.random.default_rng(seed)
    changed = 0
    for split in ("training", "test"):
        entries = permuted.get(split) or []
        groups: dict[Any, list[dict[str, Any]]] = {}
        for entry in entries:
            if "label" not in entry:
                raise InputError(f"Datalist case {entry.get('case_id', '?')} of the {split} split has no label.")
            groups.setdefault(entry.get("fold") if split == "training" else None, []).append(entry)
        for group in groups.values():
            labels = [entry["label"] for entry in group]
            for entry, label in zip(group, rng.permutation(np.array(labels, dtype=object)), strict=True):
                changed += int(entry["label"] != label)
                entry["label"] = label
    permuted[PERMUTATION_KEY] = {"seed": seed, "changed": changed,
                                 "within": "each training fold and the test split"}  # fmt: skip
    return permuted


def null_auc_se(positives: int, negatives: int) -> float:
    """The standard error of an AUC whose scores know nothing of the labels: exact for the Mann-Whitney statistic
    under the null (Hanley & McNeil at AUC 0.5), sqrt((m + n + 1) / (12 m n))."""
    if positives < 1 or negatives < 1:
        raise ValueError("An AUC needs at least one case of each class.")
    return math.sqrt((positives + negatives + 1) / (12.0 * positives * negatives))


def leak_check(metrics: dict[str, Any]) -> list[dict[str, Any]]:
    """Every model's test AUC, every network's out-of-fold AUC and every cross-validated AUC, against 0.5 ± 2
    null SE. The out-of-fold AUCs are the ones a fold network that chose its epoch on the cases it scored
    inflates (docs/evaluation.md, "Out-of-fold stacking").

    Parameters
    ----------
    metrics
        ``hccp53 evaluate``'s ``metrics.json`` of a permuted run (the cross-validated AUCs pool the training
        split's cases, so their SE is the training split's).

    Returns
    -------
    list of dict
        One row per figure: ``model``, ``figure`` (``test AUC`` / ``out-of-fold AUC`` / ``cross-validated
        AUC``), ``auc``, ``se``, ``within`` (whether it lies within 0.5 ± 2 SE).
    """
    rows = []
    test, training = metrics["splits"]["test"], metrics["splits"]["training"]
    test_se = null_auc_se(int(test["mutated"]), int(test["cases"]) - int(test["mutated"]))
    for model, values in test["models"].items():
        rows.append(_row(model, "test AUC", values["auc"], test_se))
    training_se = null_auc_se(int(training["mutated"]), int(training["cases"]) - int(training["mutated"]))
    for model, scores in ((metrics.get("stacking") or {}).get("training_scores") or {}).items():
        if scores == "out-of-fold" and model in training["models"]:
            rows.append(_row(model, "out-of-fold AUC", training["models"][model]["auc"], training_se))
    for model, values in (metrics.get("cross_validation_fitted_models") or {}).items():
        rows.append(_row(model, "cross-validated AUC", values["pooled_auc"], training_se))
    return rows


def _row(model: str, figure: str, auc: float, se: float) -> dict[str, Any]:
    return {"model": model, "figure": figure, "auc": round(float(auc), 4), "se": round(se, 4),
            "within": bool(abs(float(auc) - 0.5) <= 2 * se)}  # fmt: skip


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hccp53.evaluation.control",
                                     description="Write a datalist whose labels are permuted within each training "
                                                 "fold and within the test split (the shuffled-label control).")
    parser.add_argument("--datalist", type=Path, required=True, help="the cohort's datalist.json")
    parser.add_argument("--seed", type=int, required=True, help="seed of the permutation")
    parser.add_argument("--out", type=Path, required=True,
                        help="the permuted datalist (beside the original, so that its relative paths still hold)")
    args = parser.parse_args(argv)
    try:
        try:
            datalist = json.loads(args.datalist.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as error:
            raise InputError(f"Cannot read datalist {args.datalist} ({error}).") from None
        if args.out.resolve().parent != args.datalist.resolve().parent:
            raise InputError(f"Write the permuted datalist beside {args.datalist}: its image paths are relative.")
        permuted = permute_labels(datalist, args.seed)
        tmp = args.out.with_suffix(".tmp")
        tmp.write_text(json.dumps(permuted, indent=1) + "\n", encoding="utf-8")
        os.replace(tmp, args.out)
    except HccP53Error as error:
        print(f"control: {error}", file=sys.stderr)
        return 1
    record = permuted[PERMUTATION_KEY]
    print(f"control: {args.out}: labels permuted with seed {args.seed} ({record['changed']} changed)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
