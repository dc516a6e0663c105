"""Benchmark: P53 classifier recipes against what the images of large evaluation sets allow.

For every recipe of ``bench/recipes.yaml`` and every training cohort given, train with ``hccp53 train
classifier`` (skipped when that run has already been published, so an interrupted benchmark resumes where it
stopped), then score every case of each evaluation cohort (``hccp53 synth`` folders, all cases) and report:

- the test AUC with its DeLong 95% CI,
- the imaging-only Bayes AUC of those same cases (the true posterior given only what the t2, ap and pvp images
  show, reconstructed from the cohort's ``cohort.csv`` and ``synth_config.yaml``) and the ratio to it
  (the issue's goal: >= 0.9),
- the calibration slope (rms ``val.prob``: 1 is calibrated, < 1 over-confident), the SD of the probabilities
  across cases (a collapsed classifier has ~0), and the training minutes.

Rows go to ``--out`` (JSON), to ``bench/results.json`` under ``"recipes"`` (a row measured again replaces its
old one; the rows of recipes not run this time are kept) and, as a Markdown table, to stdout. Each run's
per-case probabilities go beside its weights as ``scores_<evaluation>.csv`` (case_id, label, probability,
imaging-only posterior log-odds), so that a figure can be re-derived without scoring again.
A measurement, not a test: nothing is asserted. Typical use (``docs/training.md``)::

    hccp53 synth --cases 1000 --seed 9001 --no-preview --out runs/eval_main
    hccp53 synth --cases 1000 --seed 7301 --config bench/cohorts/shifted.yaml --no-preview --out runs/eval_shifted
    python bench/bench_recipes.py --train 320=runs/cohort/datalist.json \\
        --eval main=runs/eval_main --eval shifted=runs/eval_shifted
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import logging
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from bench_models import imaging_latents
from performance_table import follows_table, recipe_table, reference_table
from results_file import RESULTS, load_results, machine, merge_results

from hccp53.data.datalist import select_cases
from hccp53.evaluation.scoring import read_classifier, score_cases
from hccp53.stats.calibration import recalibration
from hccp53.stats.roc import delong_ci
from hccp53.synth.mechanism import IMAGING_FEATURES, Mechanism

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_EVALS = {"main": ROOT / "runs" / "eval_main", "shifted": ROOT / "runs" / "eval_shifted"}
logger = logging.getLogger("bench_recipes")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[1],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.add_argument("--recipes", type=Path, default=ROOT / "bench" / "recipes.yaml", help="recipe file")
    parser.add_argument("--only", action="append", default=[], help="run only this recipe (repeatable)")
    parser.add_argument("--train", action="append", default=[], metavar="LABEL=DATALIST",
                        help="training cohort, labelled by its size (a size below the datalist's training "
                             "cases trains on a seeded, label-stratified subset of that many); repeatable "
                             "(default: 320=runs/cohort/datalist.json, the segmentation cohort of `make weights`)")
    parser.add_argument("--eval", action="append", default=[], metavar="NAME=COHORT",
                        help="evaluation cohort folder of `hccp53 synth` (all its cases are scored); repeatable "
                             "(default: main=runs/eval_main shifted=runs/eval_shifted, those that exist)")
    parser.add_argument("--train-only", action="store_true", help="train the recipes, score nothing")
    parser.add_argument("--work", type=Path, default=ROOT / "runs" / "recipes", help="where trained models go")
    parser.add_argument("--out", type=Path, help="also write the rows to this JSON file")
    parser.add_argument("--workers", type=int, default=2, help="DataLoader workers for training")
    return parser.parse_args(argv)


def _pairs(items: list[str], what: str) -> dict[str, Path]:
    out = {}
    for item in items:
        name, sep, path = item.partition("=")
        if not sep or not name or not path:
            raise SystemExit(f"bench_recipes: {what} expects NAME=PATH, got {item!r}.")
        out[name] = Path(path)
    return out


def training_subset(datalist: Path, size: str) -> Path:
    """``datalist`` itself, or, when ``size`` is a number below its training cases, a seeded label-stratified
    subset of that many training cases (folds kept, test cases unchanged) written beside it as
    ``datalist_<size>.json``: the smaller points of a learning curve, nested in the larger."""
    import random

    data = json.loads(datalist.read_text(encoding="utf-8"))
    training = data["training"]
    if not size.isdigit() or int(size) >= len(training):
        return datalist
    rng = random.Random(int(size))
    keep = []
    for label in sorted({int(c["label"]) for c in training}):
        cases = [c for c in training if int(c["label"]) == label]
        keep += rng.sample(cases, round(int(size) * len(cases) / len(training)))
    subset = datalist.with_name(f"datalist_{size}.json")
    subset.write_text(json.dumps({**data, "training": sorted(keep, key=lambda c: c["case_id"])}, indent=1) + "\n",
                      encoding="utf-8")  # fmt: skip
    logger.info("training on %d of the %d training cases of %s (%s)", len(keep), len(training), datalist, subset)
    return subset


def _published(folder: Path) -> bool:
    network = folder / "network.json"
    return network.is_file() and "validation" in json.loads(network.read_text(encoding="utf-8"))


def training_minutes(out: Path, folds: Any) -> float | None:
    """Minutes the finished run(s) in ``out`` took, from their ``training_complete.json`` (summed over folds)."""
    files = [out / "training_complete.json"] if folds is None else sorted(out.glob("fold_*/training_complete.json"))
    if not files or not all(f.is_file() for f in files):
        return None
    return sum(json.loads(f.read_text(encoding="utf-8")).get("training_seconds", 0.0) for f in files) / 60.0


def train_recipe(name: str, recipe: dict[str, Any], datalist: Path, out: Path, workers: int) -> float | None:
    """Train (``hccp53 train`` resumes an interrupted run and keeps finished folds) and return the minutes taken."""
    folds = recipe.get("folds")
    finished = _published(out) and (folds is not None or (out / "training_complete.json").is_file())
    if not finished:
        command = [sys.executable, "-m", "hccp53", "train", "classifier", "--datalist", str(datalist), "--out",
                   str(out), "--no-progress", "--workers", str(workers), "--fold", str(folds or 0)]  # fmt: skip
        for key, value in (recipe.get("overrides") or {}).items():
            command += ["--set", f"{key}={json.dumps(value)}"]
        logger.info("training %s on %s: %s", name, datalist, " ".join(command[2:]))
        result = subprocess.run(command, cwd=ROOT, check=False)
        if result.returncode != 0:
            logger.warning("training %s on %s failed (exit %d); no row for it", name, datalist, result.returncode)
            return None
    return training_minutes(out, folds)


def _mechanism(cohort: Path) -> Mechanism:
    config = yaml.safe_load((cohort / "synth_config.yaml").read_text(encoding="utf-8"))
    return Mechanism.from_config(config["mechanism"])


def _truth_rows(cohort: Path, cases: list[dict[str, Any]]) -> list[dict[str, str]]:
    with open(cohort / "cohort.csv", newline="", encoding="utf-8") as handle:
        rows = {row["case_id"]: row for row in csv.DictReader(handle)}
    return [rows[c["case_id"]] for c in cases]


def evaluation_cases(cohort: Path) -> tuple[list[dict[str, Any]], np.ndarray, dict[str, np.ndarray]]:
    """Every case of an evaluation cohort, its imaging-only posterior log-odds and its true imaging signs."""
    datalist = cohort / "datalist.json"
    cases = select_cases(datalist, "training") + select_cases(datalist, "test")
    mechanism = _mechanism(cohort)
    latents = imaging_latents(mechanism, _truth_rows(cohort, cases))
    return cases, mechanism.log_odds(latents, IMAGING_FEATURES), latents


#: The imaging signs of the mechanism, by the latent ``imaging_latents`` gives them under.
SIGNS = {"size": "z_log_diameter_mm", "necrosis": "z_necrosis_logit", "margin": "z_margin_logit",
         "rim APHE": "rim_aphe", "capsule": "capsule", "satellites": "multifocal"}  # fmt: skip


def follows(score: np.ndarray, latents: dict[str, np.ndarray]) -> dict[str, float]:
    """Spearman correlation of a score with each true imaging sign: which signs a model's output tracks
    (the imaging posterior's own correlations say how much each sign should count)."""
    from scipy.stats import spearmanr

    return {sign: float(spearmanr(score, latents[key]).statistic) for sign, key in SIGNS.items()}


def ceilings(cohort: Path, cases: list[dict[str, Any]], training_cohort: Path) -> dict[str, float] | None:
    """What an ideal model could reach on an evaluation set, to tell the parts of a recipe's gap apart.

    - ``imaging_bayes_auc``: the evaluation set's own imaging-only posterior (the goal's reference);
    - ``training_mechanism_auc``: the imaging-only posterior of the *training* cohort's mechanism applied to
      these cases' true features: the best a model that learned its training cohort perfectly could rank a
      set whose mechanism differs (equal to the first on a set of the training mechanism);
    - ``size_only_auc``: the tumor diameter alone, the sign a network reads most easily (with the mask
      channel it is handed to it).

    ``None`` when the training cohort has no ``synth_config.yaml`` (not made by ``hccp53 synth``).
    """
    if not (training_cohort / "synth_config.yaml").is_file():
        return None
    rows = _truth_rows(cohort, cases)
    labels = np.array([int(r["label"]) for r in rows])
    own, trained = _mechanism(cohort), _mechanism(training_cohort)

    def auc(mechanism: Mechanism, features: tuple[str, ...]) -> float:
        return float(delong_ci(labels, mechanism.log_odds(imaging_latents(mechanism, rows), features))[0])

    return {"imaging_bayes_auc": auc(own, IMAGING_FEATURES), "training_mechanism_auc": auc(trained, IMAGING_FEATURES),
            "size_only_auc": auc(own, ("log_diameter_mm",))}  # fmt: skip


def summarise(labels: np.ndarray, probabilities: np.ndarray, ceiling: np.ndarray) -> dict[str, float]:
    auc, lo, hi = delong_ci(labels, probabilities)
    ceiling_auc = delong_ci(labels, ceiling)[0]
    _, slope = recalibration(labels, np.clip(probabilities, 1e-6, 1 - 1e-6))
    return {"auc": auc, "auc_ci_low": lo, "auc_ci_high": hi, "imaging_bayes_auc": ceiling_auc,
            "ratio_to_imaging_bayes": auc / ceiling_auc, "calibration_slope": slope,
            "probability_sd": float(np.std(probabilities)), "cases": int(len(labels)),
            "mutated": int(labels.sum())}  # fmt: skip


def write_scores(path: Path, cases: list[dict[str, Any]], labels: np.ndarray, probabilities: np.ndarray,
                 ceiling: np.ndarray) -> None:
    """One row per evaluation case: its label, the model's probability and the imaging-only posterior log-odds."""
    lines = ["case_id,label,probability,imaging_log_odds"]
    lines += [f"{c['case_id']},{y},{p:.6f},{q:.6f}" for c, y, p, q in zip(cases, labels, probabilities, ceiling,
                                                                          strict=True)]  # fmt: skip
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def merged(old: list[dict[str, Any]], new: list[dict[str, Any]], fields: tuple[str, ...],
           order: list[str] | None = None) -> list[dict[str, Any]]:
    """``old`` rows with those measured again (same ``fields``) replaced by ``new``; sorted by training size,
    then recipe file ``order`` when the rows have recipes, then the fields."""
    def key(row: dict[str, Any]) -> tuple[str, ...]:
        return tuple(str(row[f]) for f in fields)

    fresh = {key(r) for r in new}
    rank = {name: i for i, name in enumerate(order or [])}
    return sorted([r for r in old if key(r) not in fresh] + new,
                  key=lambda r: (str(r["training_cases"]).zfill(6), rank.get(r.get("recipe"), len(rank)), key(r)))


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    args = parse_args(argv)
    recipes = yaml.safe_load(args.recipes.read_text(encoding="utf-8"))["recipes"]
    order = list(recipes)
    if args.only:
        unknown = sorted(set(args.only) - set(recipes))
        if unknown:
            raise SystemExit(f"bench_recipes: unknown recipe(s) {unknown}; {args.recipes} has {sorted(recipes)}.")
        recipes = {k: v for k, v in recipes.items() if k in args.only}
    trains = _pairs(args.train, "--train") or {"320": ROOT / "runs" / "cohort" / "datalist.json"}
    evals = _pairs(args.eval, "--eval") or {k: v for k, v in DEFAULT_EVALS.items() if (v / "datalist.json").is_file()}
    missing = [str(p) for p in trains.values() if not p.is_file()]
    if missing or not (evals or args.train_only):
        print(f"bench_recipes: nothing to measure yet ({missing[0] if missing else 'no evaluation cohort'} is "
              "missing); docs/training.md says how to make the cohorts.")  # fmt: skip
        return 0
    trained: dict[tuple[str, str], tuple[Path, float]] = {}
    for label, datalist in trains.items():
        for name, recipe in recipes.items():
            out = args.work / label / name
            minutes = train_recipe(name, recipe, training_subset(datalist, label), out, args.workers)
            if minutes is not None and _published(out):
                trained[(label, name)] = (out, minutes)
    if args.train_only:
        logger.info("--train-only: %d recipe run(s) trained, nothing scored", len(trained))
        return 0
    rows: list[dict[str, Any]] = []
    references: list[dict[str, Any]] = []
    for eval_name, cohort in evals.items():
        cases, ceiling, latents = evaluation_cases(cohort)
        labels = np.array([int(c["label"]) for c in cases])
        models = {key: read_classifier(f"{key[0]}/{key[1]}", folder) for key, (folder, _) in trained.items()}
        scores = score_cases(list(models.values()), cases, progress=True, workers=args.workers,
                             cache_dir=args.work / "crop_cache" / eval_name)  # fmt: skip
        for label, datalist in trains.items():
            ideal = ceilings(cohort, cases, datalist.parent)
            if ideal is not None:
                references.append({"evaluation": eval_name, "training_cases": label, "cases": len(cases), **ideal,
                                   "posterior_follows": follows(ceiling, latents)})  # fmt: skip
        for key, (folder, minutes) in trained.items():
            probabilities = scores[models[key].name].to_numpy()
            write_scores(folder / f"scores_{eval_name}.csv", cases, labels, probabilities, ceiling)
            rows.append({"recipe": key[1], "description": recipes[key[1]]["description"], "training_cases": key[0],
                         "evaluation": eval_name, "networks": models[key].network.get("ensemble") or 1,
                         "training_minutes": minutes, **summarise(labels, probabilities, ceiling),
                         "follows": follows(probabilities, latents)})  # fmt: skip
    before = load_results(RESULTS, "bench_recipes").get("recipes", {})
    record = {"date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), "machine": machine(),
              "rows": merged(before.get("rows", []), rows, ("recipe", "training_cases", "evaluation"), order),
              "references": merged(before.get("references", []), references, ("evaluation", "training_cases"))}
    tables = [recipe_table, reference_table, follows_table]
    print("\n\n".join("\n".join(table({"recipes": record})) for table in tables))
    if args.out:
        args.out.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    merge_results(RESULTS, "bench_recipes", "recipes", record)
    return 0


if __name__ == "__main__":
    sys.exit(main())
