#!/usr/bin/env python
"""What a synthetic cohort offers a model: the Bayes AUC of each split (the AUC of the generator's own P53
posterior, the best any model can reach on average) and the 5-fold cross-validated AUC, on the training cases, of
a logistic regression on the generator's true imaging signs: all of them, and those that the given phases can show.

    scripts/cohort_ceiling.py runs/evaluation_seed2/cohort --phases ap,pvp,dp

A network on those phases that comes near the second figure has found about what its images hold; one far above
the Bayes AUC of its test cases is reading the label from somewhere else. Reads ``cohort.csv`` and
``datalist.json`` of a ``hccp53 synth`` folder (docs/synth.md).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

#: The generator's true imaging signs (cohort.csv columns) and the phase a sign needs (None: any phase shows it).
SIGNS: dict[str, str | None] = {"rim_aphe": "ap", "capsule": None, "multifocal": None, "tumor_diameter_mm": None,
                                "necrosis_fraction": None, "margin_irregularity": None, "hbp_ratio": "hbp"}  # fmt: skip


def cv_auc(table: pd.DataFrame, signs: Sequence[str], folds: int = 5, seed: int = 0) -> float:
    """Pooled out-of-fold AUC of a logistic regression of ``label`` on ``signs`` (standardised)."""
    model = make_pipeline(StandardScaler(), LogisticRegression())
    split = StratifiedKFold(folds, shuffle=True, random_state=seed)
    scores = cross_val_predict(model, table[list(signs)], table["label"], cv=split, method="decision_function")
    return float(roc_auc_score(table["label"], scores))


def ceiling(cohort: Path, phases: Sequence[str] | None = None) -> dict[str, object]:
    """The figures the module docstring describes, as a dict."""
    try:
        table = pd.read_csv(cohort / "cohort.csv", index_col="case_id")
        datalist = json.loads((cohort / "datalist.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise SystemExit(f"cohort_ceiling: {cohort} is not a readable `hccp53 synth` folder ({error}).") from None
    missing = [s for s in [*SIGNS, "label", "true_probability"] if s not in table.columns]
    if missing:
        raise SystemExit(f"cohort_ceiling: {cohort / 'cohort.csv'} lacks {', '.join(missing)}; is it a synthetic "
                         "cohort?")  # fmt: skip
    splits = {name: [str(case["case_id"]) for case in datalist.get(name, [])] for name in ("training", "test")}
    bayes = {name: {"cases": len(ids), "auc": float(roc_auc_score(table.loc[ids, "label"],
                                                                  table.loc[ids, "true_probability"]))}
             for name, ids in splits.items() if ids}  # fmt: skip
    training = table.loc[splits["training"]]
    result: dict[str, object] = {"bayes_auc": bayes, "all_signs_cv_auc": cv_auc(training, list(SIGNS))}
    if phases:
        visible = [s for s, needs in SIGNS.items() if needs is None or needs in phases]
        result["visible_signs"] = visible
        result["visible_signs_cv_auc"] = cv_auc(training, visible)
    return result


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.add_argument("cohort", type=Path, help="a `hccp53 synth` output folder (cohort.csv, datalist.json)")
    parser.add_argument("--phases", help="comma-separated phases a model reads (ap,pvp,dp): also the AUC of the "
                                         "signs those phases can show")  # fmt: skip
    args = parser.parse_args(argv)
    phases = [p.strip() for p in args.phases.split(",")] if args.phases else None
    result = ceiling(args.cohort, phases)
    for name, figure in result["bayes_auc"].items():  # type: ignore[union-attr]
        print(f"Bayes AUC, {name} split ({figure['cases']} cases): {figure['auc']:.3f}")
    print(f"true imaging signs, 5-fold cross-validated logistic regression on the training cases: "
          f"{result['all_signs_cv_auc']:.3f}")  # fmt: skip
    if phases:
        hidden = [s for s in SIGNS if s not in result["visible_signs"]]  # type: ignore[operator]
        print(f"  the signs {', '.join(phases)} can show (without {', '.join(hidden) or 'none'}): "
              f"{result['visible_signs_cv_auc']:.3f}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
