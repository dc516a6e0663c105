"""``hccp53 synth``: generate a synthetic multiphase liver MRI cohort with known P53 truth."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from hccp53.cli.arguments import non_negative_int, positive_int
from hccp53.synth.appearance import STYLES
from hccp53.synth.config import PROFILES, dump_config, load_config

logger = logging.getLogger(__name__)

DESCRIPTION = """\
Generate synthetic liver MRI studies (DICOM, several vendor styles) with a known P53 label,
the true posterior probability, clinical variables, tumor and liver masks (NIfTI and DICOM SEG),
a MONAI datalist with a seeded, stratified 8:2 split and cross-validation folds.

Examples:
  hccp53 synth --cases 8 --seed 1 --out cohort/               # small images, for tests
  hccp53 synth --cases 2 --profile full --out demo/           # scanner-sized images
  hccp53 synth --cases 2000 --no-images --out big/            # labels + clinical data only
  hccp53 synth --print-config > my.yaml; hccp53 synth --config my.yaml --cases 50 --out c/
  hccp53 synth --cases 200 --style varied --out train/        # appearance varied per case, for training
  hccp53 synth --cases 50 --style heldout --seed 9 --out gen/ # a look never trained on: test generalisation

Styles (appearance.styles in --print-config holds their ranges; docs/synth.md "Appearance styles"):
  phantom   the fixed look (default; a seed gives the same images and cohort.csv as before styles existed)
  varied    per-case bias field, noise level and type, enhancement, contrast curve, texture, tumor lobes,
            resolution and slice profile drawn from the training ranges
  heldout   ranges that varied never reaches (stronger bias field, multi-coil noise at lower SNR, weaker
            enhancement, steeper contrast): for testing generalisation only, never for training
"""


def add_parser(verbs: argparse._SubParsersAction) -> None:
    parser = verbs.add_parser(
        "synth", help="generate a synthetic multiphase liver MRI cohort with known P53 truth",
        description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, help="output folder (absent or empty; required unless --print-config)")
    parser.add_argument("--cases", type=positive_int, default=8, help="number of cases (default: 8)")
    parser.add_argument("--seed", type=non_negative_int, default=0,
                        help="random seed; the same seed gives identical files (default: 0)")
    parser.add_argument("--profile", choices=PROFILES, default="small",
                        help="image size: small (fast tests) or full (dynamic series 256x256, 67 slices) "
                             "(default: small)")
    parser.add_argument("--workers", type=positive_int, default=max(1, min(4, os.cpu_count() or 1)),
                        help="parallel processes (default: number of cores, at most 4)")
    parser.add_argument("--config", type=Path, help="YAML file overriding generator settings")
    parser.add_argument("--style", choices=STYLES,
                        help="appearance style: phantom, varied (training) or heldout (testing only) "
                             "(default from the config: phantom)")
    parser.add_argument("--target-auc", type=float, dest="target_auc",
                        help="Bayes-optimal AUC of the P53 mechanism (default from the config: 0.825)")
    parser.add_argument("--prevalence", type=float, help="fraction of P53-mutated cases (default: 0.57)")
    parser.add_argument("--no-images", action="store_true",
                        help="write only cohort.csv/cohort.json (labels, true probabilities, clinical data)")
    parser.add_argument("--no-preview", action="store_true", help="skip the per-case preview.png")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace a non-empty output folder (only once the new cohort is complete)")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    parser.add_argument("--print-config", action="store_true", help="print the effective settings as YAML and exit")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from hccp53.errors import ConfigError
    from hccp53.synth.cohort import generate_cohort

    config = load_config(args.config, mechanism__target_bayes_auc=args.target_auc,
                         mechanism__prevalence=args.prevalence, appearance__style=args.style)
    if args.print_config:
        sys.stdout.write(dump_config(config))
        return 0
    if args.out is None:
        raise ConfigError("No output folder given; pass --out FOLDER.")
    summary = generate_cohort(args.out, args.cases, seed=args.seed, profile=args.profile, config=config,
                              workers=args.workers, images=not args.no_images, preview=not args.no_preview,
                              overwrite=args.overwrite, progress=not args.no_progress and sys.stderr.isatty())
    auc = "n/a (one class only)" if summary.bayes_auc is None else f"{summary.bayes_auc:.3f}"
    logger.info("wrote %d case(s) to %s in %.1f s: %d P53-mutated, Bayes AUC of this cohort %s",
                summary.cases, summary.out, summary.seconds, summary.mutated, auc)
    return 0
