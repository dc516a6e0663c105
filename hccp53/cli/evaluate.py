"""``hccp53 evaluate``: the papers' tables and figures, from trained models or from a predictions CSV."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from hccp53 import DEFAULT_PHASES, parse_phases
from hccp53.cli.arguments import non_negative_int, positive_int
from hccp53.errors import ConfigError

logger = logging.getLogger(__name__)

DESCRIPTION = """\
Evaluate P53 models the way both source papers do: AUC with 95% CI (DeLong and bootstrap), accuracy,
sensitivity, specificity, precision, NPV and F1 at a threshold chosen on the training split, pairwise
DeLong tests, calibration, decision curves; one self-contained OUT/report.html, OUT/metrics.json, the
tables as CSV and the figures as PNG.

Two ways in:
  * --predictions FILE: scores made anywhere. Columns: case_id, label (0/1), optional split
    (training/test) and fold, then one column per model (higher = more likely mutated).
  * --datalist FILE --models NAME=FOLDER ...: trained classifiers (`hccp53 train classifier` output
    folders) score every case; a radiomics model, a stepwise-AIC clinical model and a combined model
    (deep learning + radiomics + clinical, with its nomogram) are fitted on the training split.
    Scores that enter the combined model are out-of-fold on the training split: a classifier trained
    with `--fold all` gives them itself (its folds' validation predictions), others with --oof
    NAME=CSV; without them the report says the combined model's training figures are optimistic.

Examples:
  hccp53 evaluate --predictions scores.csv --out runs/stats
  hccp53 evaluate --datalist cohort/datalist.json --out runs/eval \\
      --models MC=runs/cls_mc FF=runs/cls_ff T2=runs/cls_t2 AP=runs/cls_ap PVP=runs/cls_pvp HBP=runs/cls_hbp
  hccp53 evaluate --predictions scores.csv --out runs/stats --threshold sensitivity:0.9 --ci-method percentile
"""


def add_parser(verbs: argparse._SubParsersAction) -> None:
    parser = verbs.add_parser("evaluate", help="AUCs with CIs, DeLong tests, calibration, DCA, nomogram, HTML report",
                              description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--predictions", type=Path, help="CSV of scores (case_id, label, [split], [fold], models...)")
    source.add_argument("--datalist", type=Path, help="prepared datalist JSON (`hccp53 synth` / `hccp53 prepare`)")
    parser.add_argument("--models", nargs="+", default=[], metavar="NAME=FOLDER",
                        help="with --datalist: trained classifier folders, each named for the report")
    parser.add_argument("--out", type=Path, required=True, help="output folder (must be empty unless --overwrite)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing evaluation in --out")
    stats = parser.add_argument_group("statistics")
    stats.add_argument("--resamples", type=positive_int, default=2000, help="bootstrap resamples (default: 2000)")
    stats.add_argument("--seed", type=non_negative_int, default=20260101, help="seed of resamples and folds")
    stats.add_argument("--level", type=float, default=0.95, help="confidence level (default: 0.95)")
    stats.add_argument("--ci-method", choices=("bca", "percentile"), default="bca",
                       help="bootstrap interval of the AUC (default: bca; DeLong CIs are always given)")
    stats.add_argument("--threshold", default="youden",
                       help="operating threshold chosen on the training split: youden (default) or "
                            "sensitivity:<target>, e.g. sensitivity:0.9")  # fmt: skip
    stats.add_argument("--correction", choices=("holm", "none"), default="holm",
                       help="adjustment of the pairwise DeLong p-values (default: holm)")
    stats.add_argument("--bins", type=positive_int, default=10, help="calibration / Hosmer-Lemeshow bins")
    fitted = parser.add_argument_group("fitted models (with --datalist)")
    fitted.add_argument("--dl-model", help="deep-learning model of the combined model (default: the highest "
                                           "out-of-fold AUC on the training split; the first without any)")
    fitted.add_argument("--oof", nargs="+", default=[], metavar="NAME=CSV",
                        help="out-of-fold predictions of a model's training cases (case_id, logit or probability, "
                             "optional label and fold; e.g. the fold runs' validation_predictions.csv together); "
                             "default: those a `--fold all` model folder holds")  # fmt: skip
    fitted.add_argument("--radiomics-phases", default=",".join(DEFAULT_PHASES),
                        help=f"phases of the radiomics features (default: {','.join(DEFAULT_PHASES)}, the phases "
                             "every study has; with hbp, studies done with an extracellular agent are left out)")
    fitted.add_argument("--clinical", help="comma-separated clinical candidates (keys of each case's clinical; "
                                           "log10_<key> for a logged one, log10p1_<key> for log10 of value + 1); "
                                           "default: every key the datalist gives for each case, a non-negative one "
                                           "spanning 3 or more decades logged (AFP; +1 where some are 0)")
    fitted.add_argument("--icc", type=_icc_threshold, metavar="THRESHOLD",
                        help="ICC filter of the radiomics features: also extract the training cases' features inside "
                             "the tumor mask eroded and dilated by one voxel and drop those whose ICC(2,1) across "
                             "the three masks is below THRESHOLD (0.75 is the usual cut-off) before the selection; "
                             "default: off")  # fmt: skip
    fitted.add_argument("--no-radiomics", action="store_true", help="skip the radiomics model")
    fitted.add_argument("--no-clinical", action="store_true", help="skip the clinical model")
    fitted.add_argument("--cv", type=non_negative_int, default=0,
                        help="also cross-validate the fitted models in K stratified folds (default: off)")
    fitted.add_argument("--radiomics-cache", type=Path,
                        help="CSV reused between runs for the radiomics features (default: none)")
    fitted.add_argument("--workers", type=positive_int, default=2, help="worker processes (default: 2)")
    fitted.add_argument("--device", help="torch device for the classifiers (default: cuda when available)")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bars")
    parser.set_defaults(run=run)


def _icc_threshold(text: str) -> float:
    """An argparse ``type``: a number strictly between 0 and 1."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number between 0 and 1, got {text!r}") from None
    if not 0.0 < value < 1.0:
        raise argparse.ArgumentTypeError(f"must lie strictly between 0 and 1, got {value}")
    return value


def _settings(args: argparse.Namespace):
    from hccp53.evaluation.metrics import Settings

    rule, _, target = args.threshold.partition(":")
    if rule not in ("youden", "sensitivity") or (rule == "sensitivity") != bool(target):
        raise ConfigError(f"--threshold must be youden or sensitivity:<target>, got {args.threshold!r}.")
    try:
        sensitivity = float(target) if target else 0.8
    except ValueError:
        raise ConfigError(f"--threshold sensitivity target must be a number, got {target!r}.") from None
    return Settings(n_resamples=args.resamples, seed=args.seed, level=args.level, ci_method=args.ci_method,
                    threshold=rule, target_sensitivity=sensitivity, correction=args.correction,
                    calibration_bins=args.bins)  # fmt: skip


def _models(items: list[str]):
    from hccp53.evaluation.scoring import read_classifier

    models, seen = [], set()
    for item in items:
        name, sep, folder = item.partition("=")
        if not sep or not name.strip() or not folder.strip():
            raise ConfigError(f"--models expects NAME=FOLDER, got {item!r}.")
        if name in seen:
            raise ConfigError(f"--models names {name!r} twice; give each model its own name.")
        seen.add(name)
        models.append(read_classifier(name.strip(), Path(folder.strip())))
    return models


def _oof_files(items: list[str], models: list) -> dict[str, Path]:  # noqa: ANN001
    names = [m.name for m in models]
    files: dict[str, Path] = {}
    for item in items:
        name, sep, path = item.partition("=")
        name, path = name.strip(), path.strip()
        if not sep or not name or not path:
            raise ConfigError(f"--oof expects NAME=CSV, got {item!r}.")
        if name not in names:
            raise ConfigError(f"--oof names {name!r}, which is not one of --models ({', '.join(names)}).")
        if name in files:
            raise ConfigError(f"--oof names {name!r} twice; give one file per model.")
        files[name] = Path(path)
    return files


def _cases(datalist: Path):
    from hccp53.data.datalist import select_cases

    if not datalist.is_file():
        from hccp53.errors import InputError

        raise InputError(f"Datalist {datalist} does not exist.")
    cases = [{**c, "split": "training"} for c in select_cases(datalist, "training")]
    return cases + [{**c, "split": "test"} for c in select_cases(datalist, "test")]


def run(args: argparse.Namespace) -> int:
    settings = _settings(args)
    if args.predictions is not None:
        if args.models or args.oof:
            raise ConfigError("--models and --oof go with --datalist, not with --predictions.")
        if args.icc is not None:
            raise ConfigError("--icc filters the radiomics features of --datalist; scores of --predictions have none.")
        from hccp53.evaluation.outputs import write_evaluation
        from hccp53.evaluation.predictions import read_predictions

        predictions = read_predictions(args.predictions)
        write_evaluation(predictions, args.out, settings, overwrite=args.overwrite)
    else:
        from hccp53.evaluation.workflow import WorkflowOptions, run_evaluation

        if args.icc is not None and args.no_radiomics:
            raise ConfigError("--icc filters the radiomics features; it does not go with --no-radiomics.")
        models = _models(args.models)
        options = WorkflowOptions(
            radiomics_phases=parse_phases(args.radiomics_phases, "--radiomics-phases"),
            clinical_terms=tuple(t.strip() for t in args.clinical.split(",") if t.strip())
            if args.clinical else None,
            dl_model=args.dl_model,
            oof_files=_oof_files(args.oof, models),
            radiomics=not args.no_radiomics,
            clinical=not args.no_clinical,
            cv_folds=args.cv,
            seed=args.seed,
            radiomics_cache=args.radiomics_cache,
            icc_threshold=args.icc,
            workers=args.workers,
            device=args.device,
            progress=not args.no_progress,
            settings=settings,
        )
        if options.cv_folds == 1:
            raise ConfigError("--cv needs at least 2 folds (or 0 for none).")
        run_evaluation(_cases(args.datalist), models, args.out, options, datalist=args.datalist,
                       overwrite=args.overwrite)  # fmt: skip
    print(f"Evaluation written to {args.out}: report.html, metrics.json, table_performance.csv, figures/.")
    return 0
