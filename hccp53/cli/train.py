"""``hccp53 train``: train the tumor segmentation network or the P53 classifier with the bundle configs."""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path
from typing import Any

import yaml

from hccp53 import DEFAULT_PHASES, parse_phases
from hccp53.cli.arguments import non_negative_int, positive_int
from hccp53.errors import ConfigError

logger = logging.getLogger(__name__)

DESCRIPTION = """\
Train one of the bundle's networks on a prepared datalist (from `hccp53 synth` or `hccp53 prepare`)
with configs/train_classifier.yaml or configs/train_segmentation.yaml: the same run as
`python -m monai.bundle run --config_file configs/train_<task>.yaml`, plus a split.json in the
output folder naming the training and validation cases. Validation uses one cross-validation fold
of the datalist's training part (early stopping on validation AUC or Dice). --fold all trains one
network per fold, each into OUT/fold_<k>; for the classifier, fold k's network never sees fold k at
all (it trains on the other folds but one and validates on the next fold, k+1), scores fold k once
into OUT/fold_<k>/held_out_predictions.csv (the out-of-fold predictions `hccp53 evaluate` stacks on:
no choice was made on them), and the folds' mean is published as OUT/p53_classifier.pt. The
best weights are OUT/p53_classifier.pt or OUT/tumor_segmentation.pt, their sha256 in
OUT/checksums.json; OUT/tensorboard holds the logs.

The same command resumes: a run stopped part-way continues from its last checkpoint_epoch=N.pt (saved
every epoch, each written whole, so a stop mid-save costs that epoch alone), and a finished run
(OUT/training_complete.json) is kept, not trained again; --restart trains from scratch.

The classifier is published only if its validation outputs differ between cases (the collapse guard:
min_logit_sd); its probabilities are then calibrated on the validation fold (Platt scaling folded into the
last layer) and OUT/network.json records the validation AUC, the spread and the calibration.
OUT/validation_history.json has the AUC and the output spread of every validation.

Examples:
  hccp53 train classifier --datalist cohort/datalist.json --out runs/cls
  hccp53 train segmentation --datalist cohort/datalist.json --out runs/seg --epochs 40
  hccp53 train classifier --datalist d.json --out runs/hbp --phases t2,ap,pvp,hbp --fold all
  hccp53 train classifier --datalist d.json --out runs/cls --restart       # start again from scratch
  hccp53 train classifier --datalist d.json --out runs/ff --set fusion=feature --set batch_size=4
"""


def _parse_set(items: list[str]) -> dict[str, Any]:
    """``key=value`` pairs; values are read as YAML (``4`` is an int, ``[1, 2]`` a list, ``true`` a bool)."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set expects key=value (a config key such as batch_size=4), got {item!r}.")
        try:
            out[key.strip()] = yaml.safe_load(value)
        except yaml.YAMLError as error:
            raise ConfigError(f"--set {key}: value {value!r} is not valid YAML ({error.problem}).") from error
    return out


def add_parser(verbs: argparse._SubParsersAction) -> None:
    parser = verbs.add_parser("train", help="train the segmentation network or the P53 classifier",
                              description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("task", choices=("classifier", "segmentation"), help="which network to train")
    parser.add_argument("--datalist", type=Path, required=True,
                        help="datalist JSON with training cases (and their folds: without any, seeded folds "
                             "stratified by label are assigned and written into --out)")  # fmt: skip
    parser.add_argument("--out", type=Path, required=True, help="output folder (checkpoints, logs, split.json)")
    parser.add_argument("--fold", default="0", help="validation fold: a number, or 'all' for every fold (default: 0)")
    parser.add_argument("--epochs", type=positive_int, help="maximum epochs (default: the config's max_epochs)")
    parser.add_argument("--phases", help="comma-separated input phases (default: the config's, "
                                         f"{','.join(DEFAULT_PHASES)})")
    parser.add_argument("--seed", type=non_negative_int, help="random seed (default: the config's)")
    parser.add_argument("--workers", type=non_negative_int, help="DataLoader worker processes (default: 2)")
    parser.add_argument("--device", help="torch device, e.g. cpu or cuda:0 (default: cuda when available)")
    parser.add_argument("--restart", action="store_true",
                        help="train from scratch even where --out holds a finished or interrupted run")
    parser.add_argument("--config", type=Path, action="append", default=[],
                        help="extra YAML merged over the training config (repeatable)")
    parser.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE",
                        help="override one config key, value read as YAML (repeatable)")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bars")
    parser.set_defaults(run=run)


def _folds(text: str, datalist: Path) -> list[int]:
    if text != "all":
        try:
            return [non_negative_int(text)]
        except argparse.ArgumentTypeError as error:
            raise ConfigError(f"--fold must be a fold number or 'all' ({error}).") from None
    from hccp53.data.datalist import select_cases

    folds = sorted({int(c["fold"]) for c in select_cases(datalist, "training") if "fold" in c and int(c["fold"]) >= 0})
    if not folds:
        raise ConfigError(f"Datalist {datalist} has no folds; `hccp53 prepare` and `hccp53 synth` write them.")
    return folds


def _check_held_out(out: Path, fold: int, validation: int) -> None:
    """Refuse to keep or resume a fold folder of ``--fold all`` that was not trained with ``fold`` held out and
    ``validation`` validating (one trained before held-out folds validated on its own fold)."""
    from hccp53.training.runner import SPLIT_FILE

    try:
        split = json.loads((out / SPLIT_FILE).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        split = {}
    if split.get("held_out_fold") != fold or split.get("fold") != validation:
        raise ConfigError(f"{out} was not trained with fold {fold} held out and fold {validation} validating (it "
                          "predates held-out folds, or the folds changed); pass --restart to train it again.")


def run(args: argparse.Namespace) -> int:
    from hccp53.training.checkpoints import discard_unreadable, latest_checkpoint
    from hccp53.training.runner import completed_result, train, training_state

    overrides = _parse_set(args.sets)
    if args.epochs is not None:
        overrides["max_epochs"] = args.epochs
    if args.phases:
        overrides["phases"] = list(parse_phases(args.phases, "--phases"))
    if args.seed is not None:
        overrides["seed"] = args.seed
    if args.workers is not None:
        overrides["num_workers"] = args.workers
    if args.device:
        overrides["device"] = f"$torch.device({args.device!r})"
    overrides["progress"] = not args.no_progress
    from hccp53.data.datalist import has_liver_masks, with_folds

    if args.fold != "all":
        _folds(args.fold, args.datalist)  # a bad --fold is refused before the datalist is read
    datalist = with_folds(args.datalist, args.out, seed=args.seed or 0)  # seeded folds where it has none
    if datalist != args.datalist.resolve():
        print(f"{args.datalist} has no folds: seeded cross-validation folds assigned, stratified by label where "
              f"possible, in {datalist}")  # fmt: skip
    folds = _folds(args.fold, datalist)
    if args.task == "segmentation" and "liver" not in overrides and not has_liver_masks(datalist):
        overrides["liver"] = False
        print(f"{args.datalist}: not every case has a liver_mask, so the network learns the tumor alone (no liver "
              "output; the app then keeps lesions wherever they are found)")  # fmt: skip
    nested = args.task == "classifier" and args.fold == "all"
    if nested and len(folds) < 3:
        raise ConfigError(f"--fold all needs at least 3 folds in {args.datalist} (one held out, one to validate on, "
                          f"the rest to train on); it has {len(folds)}.")  # fmt: skip
    results = []
    for index, fold in enumerate(folds):
        out = args.out if len(folds) == 1 else args.out / f"fold_{fold}"
        run_fold, fold_overrides = fold, overrides
        if nested:  # fold k is held out of training and validation; the next fold validates
            run_fold = folds[(index + 1) % len(folds)]
            fold_overrides = {**overrides, "held_out_fold": fold}
        discard_unreadable(out)  # a truncated checkpoint_epoch=N.pt left by a stop during its write
        state = "new" if args.restart else training_state(out)
        if nested and state != "new":
            _check_held_out(out, fold, run_fold)
        if state == "complete":
            print(f"fold {fold}: already trained in {out} (training_complete.json); --restart trains it again")
            results.append(completed_result(out))
            continue
        if state == "partial":
            logger.info("Resuming the interrupted run in %s from %s.", out, Path(latest_checkpoint(out)).name)
        result = train(args.task, datalist, out, run_fold, {**fold_overrides, "resume": state == "partial"},
                       args.config)  # fmt: skip
        results.append(result)
        validated = f" (validated on fold {run_fold})" if nested else ""
        print(f"fold {fold}: best validation {'AUC' if args.task == 'classifier' else 'Dice'} "
              f"{result['best_metric']:.4f}{validated} at epoch {result['best_epoch']} of {result['epochs_run']}; "
              f"weights and split.json in {out}")  # fmt: skip
        if result.get("held_out"):
            held = result["held_out"]
            auc = "n/a" if held["auc"] is None else f"{held['auc']:.4f}"
            print(f"  held-out fold {fold}: AUC {auc} over {held['cases']} cases, which no choice was made on")
        if "calibration" in result:
            spread = result["calibration"].get("calibrated_spread") or result["validation"]
            print(f"  published: calibration {result['calibration']['method']}, validation probability SD "
                  f"{spread['probability_sd']:.3f} over {result['validation']['cases']} cases")  # fmt: skip
    if len(results) > 1:
        summary = args.out / "cross_validation.json"
        summary.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
        print(f"cross-validation summary: {summary}")
        if args.task == "classifier":
            from hccp53.training.ensemble import publish_ensemble

            ensemble = publish_ensemble(args.out, [args.out / f"fold_{fold}" for fold in folds])
            auc = ensemble["validation"]["out_of_fold_auc"]
            auc_text = "n/a" if auc is None else f"{auc:.4f}"
            print(f"ensemble of the {len(folds)} folds: {args.out / 'p53_classifier.pt'} (out-of-fold AUC "
                  f"{auc_text} over {ensemble['validation']['cases']} cases)")  # fmt: skip
    return 0
