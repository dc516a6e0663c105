"""Benchmark: how close the trained networks come to what the synthetic cohort allows.

Reads an evaluated cohort (what ``scripts/make_weights.sh`` leaves: ``runs/cohort`` from
``hccp53 synth`` and ``runs/evaluation`` from ``configs/evaluate.yaml``) and prints, in one run:

- the classifier's test AUC, the Bayes AUC of the same test cases (the AUC of the true posterior
  given every latent feature, which ``cohort.csv`` holds), and their ratio (the issue's goal: >= 0.9);
- the imaging-only ceilings of the mechanism (population values: the Bayes AUC given only what T2,
  arterial and portal venous images show, and with the hepatobiliary phase), and the ratio to them;
- the segmentation's Dice on the test cases (mean, median, 10th percentile; goal: mean >= 0.8).

Writes the figures to ``--out`` (``models/metrics.json`` for the model card) and merges them into
``bench/results.json`` under ``"models"``. A measurement, not a test: nothing is asserted.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import sys
from pathlib import Path

import numpy as np
import yaml
from results_file import RESULTS, merge_results
from scipy.special import logit
from sklearn.metrics import roc_auc_score

from hccp53.synth.mechanism import IMAGING_FEATURES, IMAGING_FEATURES_HBP, Mechanism, bayes_auc

ROOT = Path(__file__).resolve().parents[1]
CEILING_SAMPLES = 200_000


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[1],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cohort", type=Path, default=ROOT / "runs" / "cohort", help="cohort folder (hccp53 synth)")
    parser.add_argument("--evaluation", type=Path, default=ROOT / "runs" / "evaluation",
                        help="output folder of configs/evaluate.yaml")
    parser.add_argument("--out", type=Path, help="also write the figures to this JSON file")
    return parser.parse_args(argv)


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def imaging_latents(mechanism: Mechanism, rows: list[dict[str, str]]) -> dict[str, np.ndarray]:
    """The imaging latents of cohort.csv rows, undoing ``Mechanism.values`` (diameter clipping aside)."""
    spec = {name: (mean, sd) for name, mean, sd, _ in mechanism.continuous}

    def z(name: str, raw: np.ndarray) -> np.ndarray:
        return (raw - spec[name][0]) / spec[name][1]

    def column(key: str) -> np.ndarray:
        return np.array([float(r[key]) for r in rows])

    return {
        "label": column("label").astype(int),
        "z_log_diameter_mm": z("log_diameter_mm", np.log(column("tumor_diameter_mm"))),
        "z_necrosis_logit": z("necrosis_logit", logit(column("necrosis_fraction") / 0.6)),
        "z_margin_logit": z("margin_logit", logit(column("margin_irregularity") / 0.25)),
        "z_hbp_ratio": z("hbp_ratio", column("hbp_ratio")),
        **{k: column(k).astype(int) for k in ("rim_aphe", "capsule", "multifocal")},
    }


def measure(cohort: Path, evaluation: Path) -> dict:
    truth = {row["case_id"]: row for row in _rows(cohort / "cohort.csv")}
    predictions = _rows(evaluation / "classifier" / "predictions.csv")
    ids = [row["case_id"] for row in predictions]
    labels = np.array([int(row["label"]) for row in predictions])
    if any(int(truth[i]["label"]) != y for i, y in zip(ids, labels, strict=True)):
        raise SystemExit("bench_models: predictions.csv labels differ from cohort.csv; wrong cohort?")
    model_auc = float(roc_auc_score(labels, [float(row["p53_probability"]) for row in predictions]))
    bayes_test = float(roc_auc_score(labels, [float(truth[i]["true_probability"]) for i in ids]))

    # the cohort's effective generator settings (hccp53 synth writes them next to the cases)
    mechanism_config = yaml.safe_load((cohort / "synth_config.yaml").read_text(encoding="utf-8"))["mechanism"]
    mechanism = Mechanism.from_config(mechanism_config)
    ceiling = bayes_auc(mechanism, CEILING_SAMPLES, seed=1, features=IMAGING_FEATURES)
    ceiling_hbp = bayes_auc(mechanism, CEILING_SAMPLES, seed=1, features=IMAGING_FEATURES_HBP)

    latents = imaging_latents(mechanism, [truth[i] for i in ids])
    imaging_test = float(roc_auc_score(labels, mechanism.log_odds(latents, IMAGING_FEATURES)))

    dice = np.array([float(row["mean"]) for row in _rows(evaluation / "segmentation" / "test_dice_raw.csv")])
    return {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "test_cases": len(ids),
        "test_mutated": int(labels.sum()),
        "classifier_test_auc": model_auc,
        "bayes_auc_test_cases": bayes_test,
        "auc_over_bayes": model_auc / bayes_test,
        "imaging_only_ceiling_t2_ap_pvp": ceiling,
        "imaging_only_ceiling_with_hbp": ceiling_hbp,
        "auc_over_imaging_ceiling": model_auc / ceiling,
        "imaging_bayes_auc_test_cases": imaging_test,
        "auc_over_imaging_bayes_test_cases": model_auc / imaging_test,
        "target_bayes_auc": float(mechanism_config["target_bayes_auc"]),
        "segmentation_test_dice_mean": float(dice.mean()),
        "segmentation_test_dice_median": float(np.median(dice)),
        "segmentation_test_dice_p10": float(np.percentile(dice, 10)),
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    needed = [args.cohort / "cohort.csv", args.evaluation / "classifier" / "predictions.csv",
              args.evaluation / "segmentation" / "test_dice_raw.csv"]  # fmt: skip
    missing = [str(p) for p in needed if not p.is_file()]
    if missing:
        print(f"bench_models: nothing to measure yet ({missing[0]} is missing); run `make weights` first.")
        return 0
    figures = measure(args.cohort, args.evaluation)
    print(f"classifier test AUC {figures['classifier_test_auc']:.3f} on {figures['test_cases']} cases "
          f"({figures['test_mutated']} mutated)")  # fmt: skip
    print(f"  / Bayes AUC of the same cases {figures['bayes_auc_test_cases']:.3f} = "
          f"{figures['auc_over_bayes']:.3f}   (goal >= 0.9)")  # fmt: skip
    print(f"  / imaging-only ceiling (t2, ap, pvp) {figures['imaging_only_ceiling_t2_ap_pvp']:.3f} = "
          f"{figures['auc_over_imaging_ceiling']:.3f}   (with hbp: {figures['imaging_only_ceiling_with_hbp']:.3f})")
    print(f"  / imaging-only Bayes AUC of the same cases {figures['imaging_bayes_auc_test_cases']:.3f} = "
          f"{figures['auc_over_imaging_bayes_test_cases']:.3f}")  # fmt: skip
    print(f"segmentation test Dice mean {figures['segmentation_test_dice_mean']:.3f}, median "
          f"{figures['segmentation_test_dice_median']:.3f}, 10th percentile {figures['segmentation_test_dice_p10']:.3f}"
          "   (goal: mean >= 0.8)")  # fmt: skip
    if args.out:
        args.out.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
    merge_results(RESULTS, "bench_models", "models", figures)
    return 0


if __name__ == "__main__":
    sys.exit(main())
