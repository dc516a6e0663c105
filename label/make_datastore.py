"""Build a MONAI Label studies folder from a datalist, or turn its saved labels back into a datalist.

    python label/make_datastore.py build  DATALIST STUDIES [--reference-phase pvp] [--with-masks]
    python label/make_datastore.py export STUDIES DATALIST OUT_DATALIST [--tag final]

``build`` copies every case of a ``hccp53 synth`` / ``hccp53 prepare`` datalist (both parts) into the
layout of ``label/lib/datastore.py``: ``STUDIES/<case_id>.nii.gz`` is the reference phase, the other
phases go to ``STUDIES/phases/<case_id>/<phase>.nii.gz``. ``--with-masks`` also stores each case's
``mask`` as its final label (to start from existing masks).

``export`` writes a copy of DATALIST in which every case with a saved label (``labels/<tag>/``) has its
``mask`` replaced by that label (absolute path); cases without one keep theirs. Train on it with
``hccp53 train segmentation --datalist OUT_DATALIST``.

Standard library and the phase vocabulary of ``hccp53`` (itself standard library only): runs in the main
environment and in label/.venv alike.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root: hccp53's phase vocabulary

from hccp53 import PHASES  # noqa: E402  (after the path insert)

SUFFIX = ".nii.gz"


def _cases(datalist: Path) -> list[dict]:
    content = json.loads(datalist.read_text(encoding="utf-8"))
    return [*content.get("training", []), *content.get("test", [])]


def build(datalist: Path, studies: Path, reference_phase: str, with_masks: bool) -> int:
    """Write the studies folder; return the number of cases."""
    root = datalist.parent
    cases = _cases(datalist)
    for case in cases:
        case_id = case["case_id"]
        if reference_phase not in case:
            raise SystemExit(f"Case {case_id} has no {reference_phase} phase; choose --reference-phase among "
                             f"{[p for p in PHASES if p in case]}.")
        folder = studies / "phases" / case_id
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(root / case[reference_phase], studies / f"{case_id}{SUFFIX}")
        for phase in PHASES:
            if phase in case and phase != reference_phase:
                shutil.copyfile(root / case[phase], folder / f"{phase}{SUFFIX}")
        if with_masks and case.get("mask"):
            labels = studies / "labels" / "final"
            labels.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(root / case["mask"], labels / f"{case_id}{SUFFIX}")
    return len(cases)


def export(studies: Path, datalist: Path, out: Path, tag: str) -> int:
    """Write OUT with saved labels as masks; return how many masks were replaced."""
    content = json.loads(datalist.read_text(encoding="utf-8"))
    root = datalist.parent.resolve()
    labels = studies.resolve() / "labels" / tag
    replaced = 0
    for part in ("training", "test"):
        for case in content.get(part, []):
            for key in (*PHASES, "mask", "liver_mask"):
                if key in case:
                    case[key] = str(root / case[key])
            label = labels / f"{case['case_id']}{SUFFIX}"
            if label.is_file():
                case["mask"] = str(label)
                replaced += 1
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(content, indent=2) + "\n", encoding="utf-8")
    return replaced


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    verbs = parser.add_subparsers(dest="verb", required=True)
    b = verbs.add_parser("build", help="datalist -> MONAI Label studies folder")
    b.add_argument("datalist", type=Path)
    b.add_argument("studies", type=Path)
    b.add_argument("--reference-phase", default="pvp", help="phase shown to the annotator (default: pvp)")
    b.add_argument("--with-masks", action="store_true", help="store each case's mask as its final label")
    e = verbs.add_parser("export", help="saved labels -> datalist with those masks")
    e.add_argument("studies", type=Path)
    e.add_argument("datalist", type=Path)
    e.add_argument("out", type=Path)
    e.add_argument("--tag", default="final", help="label tag to export (default: final)")
    args = parser.parse_args(argv)
    if args.verb == "build":
        if not args.datalist.is_file():
            print(f"error: datalist {args.datalist} does not exist; write one with `hccp53 synth`.", file=sys.stderr)
            return 2
        count = build(args.datalist, args.studies, args.reference_phase, args.with_masks)
        print(f"{count} case(s) in {args.studies} (image: {args.reference_phase}; other phases under phases/).")
    else:
        count = export(args.studies, args.datalist, args.out, args.tag)
        print(f"wrote {args.out}: {count} mask(s) taken from {args.studies / 'labels' / args.tag}.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
