"""``hccp53 prepare``: DICOM studies + a labels CSV -> the prepared datalist that training reads."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from hccp53 import DEFAULT_PHASES, parse_phases
from hccp53.cli.arguments import non_negative_int, positive_int

logger = logging.getLogger(__name__)

DESCRIPTION = """\
Turn a cohort of DICOM studies (one sub-folder per study under --dicom) and a CSV of labels into
the prepared datalist of the MONAI bundle: every phase as NIfTI on the reference phase's voxel grid,
the tumor mask resampled onto it, a seeded stratified split, and skipped.json naming every case
that could not be prepared and why. The same code path as the Deploy app.

Labels CSV columns: label (1 = P53-mutated, 0 = wild-type); one of dicom (study folder, relative to
--dicom), case_id (sub-folder name), study_uid, patient_id; optional mask (NIfTI or DICOM SEG path,
relative to the CSV); every other column is a clinical variable.

Example:
  hccp53 prepare --dicom studies/ --labels labels.csv --out prepared/ --workers 2
"""


def add_parser(verbs: argparse._SubParsersAction) -> None:
    parser = verbs.add_parser("prepare", help="turn DICOM studies + labels into the prepared datalist",
                              description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dicom", type=Path, required=True, help="folder with one sub-folder per study")
    parser.add_argument("--labels", type=Path, required=True, help="labels CSV (see above)")
    parser.add_argument("--out", type=Path, required=True, help="output folder (absent or empty)")
    parser.add_argument("--require", default=",".join(DEFAULT_PHASES),
                        help=f"phases a case must have, else it is skipped (default: {','.join(DEFAULT_PHASES)})")
    parser.add_argument("--reference-phase", dest="reference_phase", default="pvp",
                        help="phase whose grid every volume is resampled onto (default: pvp)")
    parser.add_argument("--register", action="store_true",
                        help="rigidly register every phase to the reference (mutual information) before resampling")
    parser.add_argument("--workers", type=positive_int, default=max(1, min(4, os.cpu_count() or 1)),
                        help="parallel processes (default: number of cores, at most 4)")
    parser.add_argument("--seed", type=non_negative_int, default=0, help="split seed (default: 0)")
    parser.add_argument("--test-fraction", dest="test_fraction", type=float, default=0.2,
                        help="fraction of cases in the test split (default: 0.2)")
    parser.add_argument("--folds", type=positive_int, default=5, help="cross-validation folds (default: 5)")
    parser.add_argument("--overwrite", action="store_true", help="replace a non-empty output folder")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from hccp53.data.prepare import prepare_cohort
    from hccp53.errors import ConfigError

    required = parse_phases(args.require, "--require", allow_empty=True)
    reference = parse_phases(args.reference_phase, "--reference-phase")
    if len(reference) != 1:
        raise ConfigError("--reference-phase takes one phase, e.g. pvp.")
    if not 0 < args.test_fraction < 1:
        raise ConfigError(f"--test-fraction must lie between 0 and 1, got {args.test_fraction}.")
    summary = prepare_cohort(args.dicom, args.labels, args.out, required=required, reference_phase=reference[0],
                             register=args.register, workers=args.workers, test_fraction=args.test_fraction,
                             folds=max(2, args.folds), seed=args.seed, overwrite=args.overwrite,
                             progress=sys.stderr.isatty())
    logger.info("prepared %d case(s) into %s in %.1f s; %d skipped (see skipped.json)", len(summary.prepared),
                summary.out, summary.seconds, len(summary.skipped))
    for item in summary.skipped:
        logger.warning("skipped %s: %s", item["case_id"], item["reason"])
    return 0
