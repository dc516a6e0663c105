"""``hccp53 phases``: which series of a DICOM study is which contrast phase, and why."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from hccp53 import DEFAULT_PHASES, PHASES, parse_phases

DESCRIPTION = """\
Identify the contrast phases of a liver MRI study (t2, pre, ap, pvp, dp, hbp) from series
descriptions, sequence parameters, image types and timing, using the rules in
configs/phase_rules.yaml. Prints the chosen series per phase (tp: its time point in a
multi-phase series), the reason and a confidence, and, with --json, every series considered
and why it was or was not chosen.

A required phase that cannot be found is an error (exit status 1) with one sentence saying why.

Examples:
  hccp53 phases study/                       # table
  hccp53 phases study/ --json > phases.json  # machine-readable (the public contract)
  hccp53 phases study/ --require t2,ap,pvp,hbp
"""


def add_parser(verbs: argparse._SubParsersAction) -> None:
    parser = verbs.add_parser("phases", help="identify the contrast phases of a DICOM study",
                              description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("study", type=Path, help="folder holding one study's DICOM files")
    parser.add_argument("--json", action="store_true", help="print the full result as JSON")
    parser.add_argument("--require", default=",".join(DEFAULT_PHASES),
                        help=f"phases that must be found (default: {','.join(DEFAULT_PHASES)}); '' for none")
    parser.add_argument("--study-uid", dest="study_uid", help="pick this study when the folder holds several")
    parser.add_argument("--rules", type=Path, help="phase rules YAML (default: configs/phase_rules.yaml)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from hccp53.dicomio import load_study
    from hccp53.phases import PhaseError, identify_phases, load_rules

    required = parse_phases(args.require, "--require", allow_empty=True)
    rules = load_rules(args.rules) if args.rules else None
    study = load_study(args.study, study_uid=args.study_uid)
    try:
        result = identify_phases(study, require=required, rules=rules)
    except PhaseError as error:
        if args.json and error.result is not None:  # what was considered still helps the integrator
            sys.stdout.write(json.dumps({**error.result.to_json(), "error": str(error)}, indent=2) + "\n")
        raise
    if args.json:
        sys.stdout.write(json.dumps(result.to_json(), indent=2) + "\n")
        return 0
    lines = [f"{'phase':<6} {'series':>6}  {'description':<36} {'tp':>5}  {'conf':>4}  reason", "-" * 100]
    for phase in PHASES:
        choice = result.phases.get(phase)
        if choice is None:
            lines.append(f"{phase:<6} {'-':>6}  {'(not found)':<36}")
            continue
        stack = choice.stack
        number = "?" if stack.series_number is None else str(stack.series_number)
        position = f"{stack.temporal_position}" if stack.temporal_positions > 1 else ""
        lines.append(f"{phase:<6} {number:>6}  {stack.description[:36]:<36} {position:>5}  "
                     f"{choice.confidence:>4.2f}  {choice.reason}")
    sys.stdout.write("\n".join(lines) + "\n")
    return 0
