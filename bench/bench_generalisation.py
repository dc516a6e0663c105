"""Tumor detection on appearance styles the segmentation network has or has not seen (issue 27, part 2).

For each synthetic appearance style (``hccp53 synth --style``: ``phantom``, the look the shipped network was
trained on; ``varied``; ``heldout``, ranges reserved for testing), a cohort of full-size studies, each with its
own seed, goes through the app's own steps (``hccp53.steps.load_volumes``, ``Predictor.segment`` and
``classify``) and is compared with the generator's tumor mask:

- Dice of all lesions against the true tumors (on the reference grid);
- per-tumor sensitivity (a true tumor is found when a lesion overlaps it) and false lesions per study;
- a lesion is *true* when it touches a true tumor, *false* otherwise, and *false away* when none of its voxels
  lies within 10 mm of a true tumor: the issue's "extra lesion 40-60 mm away from the tumor";
- studies without a false lesion away (goal >= 95% on ``heldout``, with its exact 95% Clopper-Pearson
  interval: a handful of studies cannot show 95%), studies with the tumor found;
- whether lesion 1 (the primary: the most confident) is a true lesion, and whether the largest lesion (the
  rule before the confidence) would have been;
- the confidence (mean tumor probability) of true and of false lesions.

Results are printed and merged into bench/results.json under "generalisation", style by style: a run of
some styles keeps the others' figures when they were measured with the same model (``model_uid``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import SimpleITK as sitk
from scipy import ndimage
from scipy.stats import beta

sys.path.insert(0, str(Path(__file__).resolve().parent))
from results_file import RESULTS, load_results, machine, merge_results  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
STYLES = ("phantom", "varied", "heldout")
AWAY_MM = 10.0
SEEDS = {"phantom": 7101, "varied": 7202, "heldout": 7303}  # a cohort of its own per style (no shared patients)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.add_argument("--cases", type=int, default=6, help="studies per style (default 6)")
    parser.add_argument("--styles", default=",".join(STYLES), help=f"comma-separated (default {','.join(STYLES)})")
    parser.add_argument("--profile", default="full", choices=("small", "full"), help="study size (default full)")
    parser.add_argument("--models", type=Path, default=ROOT / "models", help="models folder (default: models)")
    parser.add_argument("--seed", type=int, default=None,
                        help="draw the cohort from this seed instead of the style's own (a fresh look at a style "
                             "whose usual cohort has been studied); bench/results.json records each style's seed")
    parser.add_argument("--lesions", type=Path, default=None,
                        help="also write every lesion (style, study, volume, confidence, true, away) to this "
                             "JSON file: `python -m hccp53.model lesion-floor` sets the network's lesion-confidence "
                             "floor from such files of a training style (varied)")
    parser.add_argument("--without-floor", action="store_true",
                        help="keep every lesion the network's lesion-confidence floor would drop (the floor's own "
                             "evidence is measured so); not saved to bench/results.json")
    parser.add_argument("--no-save", action="store_true", help="print only; do not update bench/results.json")
    args = parser.parse_args(argv)
    if args.cases < 1:
        parser.error("--cases must be at least 1")
    return args


def measure_study(study: Path, truth_path: Path, predictor) -> dict:
    """The app's lesions on one study against the true tumor mask."""
    from hccp53.steps import load_volumes

    _, _, volumes = load_volumes(study, predictor)
    prediction = predictor.classify(predictor.segment(volumes))
    labels = prediction.labels
    truth = sitk.Resample(sitk.ReadImage(str(truth_path)), labels, sitk.Transform(), sitk.sitkNearestNeighbor)
    truth = sitk.Cast(truth > 0, sitk.sitkUInt8)
    distance = sitk.SignedMaurerDistanceMap(truth, insideIsPositive=False, squaredDistance=False, useImageSpacing=True)
    distance = sitk.GetArrayFromImage(distance)
    found, true_mask = sitk.GetArrayFromImage(labels), sitk.GetArrayFromImage(truth) > 0
    predicted = found > 0
    dice = 2 * float((predicted & true_mask).sum()) / max(1.0, float(predicted.sum() + true_mask.sum()))
    tumors, count = ndimage.label(true_mask, structure=np.ones((3, 3, 3), dtype=bool))
    tumors_found = len(set(np.unique(tumors[predicted & true_mask])) - {0})
    lesions = []
    for lesion in prediction.lesions:
        inside = found == lesion.index
        lesions.append({"index": lesion.index, "volume_ml": lesion.volume_ml, "confidence": lesion.confidence,
                        "true": bool((inside & true_mask).any()),
                        "away": bool(distance[inside].min() > AWAY_MM)})  # fmt: skip
    largest = max(lesions, key=lambda item: item["volume_ml"]) if lesions else None
    return {"dice": dice, "lesions": lesions, "found": any(item["true"] for item in lesions),
            "tumors": int(count), "tumors_found": tumors_found,
            "primary_true": bool(lesions and lesions[0]["true"]), "largest_true": bool(largest and largest["true"])}


def clopper_pearson(successes: int, trials: int, level: float = 0.95) -> tuple[float, float]:
    """Exact two-sided confidence interval of a proportion."""
    tail = (1 - level) / 2
    low = 0.0 if successes == 0 else float(beta.ppf(tail, successes, trials - successes + 1))
    high = 1.0 if successes == trials else float(beta.ppf(1 - tail, successes + 1, trials - successes))
    return low, high


def summarise(rows: list[dict]) -> dict:
    lesions = [lesion for row in rows for lesion in row["lesions"]]
    clean = sum(not any(les["away"] for les in row["lesions"]) for row in rows)
    tumors = sum(row.get("tumors", 1) for row in rows)
    true_conf = [lesion["confidence"] for lesion in lesions if lesion["true"]]
    false_conf = [lesion["confidence"] for lesion in lesions if not lesion["true"]]
    return {
        "studies": len(rows),
        "dice_median": statistics.median(row["dice"] for row in rows),
        "dice_mean": statistics.fmean(row["dice"] for row in rows),
        "tumor_found_fraction": statistics.fmean(row["found"] for row in rows),
        "tumor_sensitivity": sum(row.get("tumors_found", 0) for row in rows) / tumors if tumors else None,
        "no_false_lesion_away_fraction": clean / len(rows),
        "no_false_lesion_away_ci95": clopper_pearson(clean, len(rows)),
        "false_lesions_per_study": sum(not lesion["true"] for lesion in lesions) / len(rows),
        "primary_is_true_fraction": statistics.fmean(row["primary_true"] for row in rows),
        "largest_is_true_fraction": statistics.fmean(row["largest_true"] for row in rows),
        "true_lesion_confidence_median": statistics.median(true_conf) if true_conf else None,
        "false_lesion_confidence_median": statistics.median(false_conf) if false_conf else None,
        "true_lesion_confidence_min": min(true_conf) if true_conf else None,
        "false_lesion_confidence_max": max(false_conf) if false_conf else None,
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from hccp53.runtime import raise_stack_limit

    raise_stack_limit()  # the predictor imports MONAI, which imports the Deploy SDK's Holoscan
    from hccp53.errors import HccP53Error
    from hccp53.predictor import Predictor
    from hccp53.settings import read_settings
    from hccp53.synth.cohort import generate_cohort
    from hccp53.synth.config import load_config

    styles = [style.strip() for style in args.styles.split(",") if style.strip()]
    unknown = sorted(set(styles) - set(STYLES))
    if unknown:
        raise SystemExit(f"bench_generalisation: unknown style(s) {', '.join(unknown)}; "
                         f"choose from {', '.join(STYLES)}.")
    predictor = Predictor(args.models, read_settings(), dicom=False)
    if args.without_floor:
        record = predictor.model.record
        predictor.model.record = replace(record, segmentation={**record.segmentation, "min_lesion_confidence": 0.0})
    floor = predictor.record.min_lesion_confidence
    figures: dict = {"styles": {}, "profile": args.profile, "away_mm": AWAY_MM,
                     "model_uid": predictor.record.uid, "min_lesion_confidence": floor}  # fmt: skip
    print(f"bench_generalisation: model {predictor.record.uid}; lesion-confidence floor {floor:g}"
          + (" (switched off)" if args.without_floor else ""))
    started = time.monotonic()
    every_lesion: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="bench-generalisation-") as scratch:
        for style in styles:
            out = Path(scratch) / style
            seed = SEEDS[style] if args.seed is None else args.seed
            generate_cohort(out, args.cases, seed=seed, profile=args.profile,
                            config=load_config(appearance__style=style), workers=1, progress=False,
                            preview=False)  # fmt: skip
            rows = []
            for case in sorted((out / "cases").iterdir()):
                try:
                    rows.append(measure_study(case / "dicom", case / "nifti" / "tumor_mask.nii.gz", predictor))
                    every_lesion += [{"style": style, "study": case.name, **lesion} for lesion in rows[-1]["lesions"]]
                except HccP53Error as error:  # a study the app refuses counts as a miss, said in one line
                    print(f"bench_generalisation: {style} {case.name}: the app refused it: {error}")
                    rows.append({"dice": 0.0, "lesions": [], "found": False, "primary_true": False,
                                 "largest_true": False, "tumors": 1, "tumors_found": 0})  # fmt: skip
            figures["styles"][style] = {**summarise(rows), "seed": seed}
            s = figures["styles"][style]
            low, high = s["no_false_lesion_away_ci95"]
            print(f"{style:8s} {s['studies']} studies: Dice median {s['dice_median']:.3f}; tumor sensitivity "
                  f"{s['tumor_sensitivity']:.0%}; no false lesion away {s['no_false_lesion_away_fraction']:.0%} "
                  f"(95% CI {low:.0%}-{high:.0%}; goal on heldout >= 95%); "
                  f"false lesions/study {s['false_lesions_per_study']:.2f}; lesion 1 true "
                  f"{s['primary_is_true_fraction']:.0%} (largest true {s['largest_is_true_fraction']:.0%}); "
                  f"confidence true {s['true_lesion_confidence_median']}, false "
                  f"{s['false_lesion_confidence_median']}")  # fmt: skip
    if args.lesions is not None:
        args.lesions.write_text(json.dumps({"model_uid": predictor.record.uid, "profile": args.profile,
                                            "min_lesion_confidence": floor, "lesions": every_lesion},
                                           indent=1) + "\n", encoding="utf-8")  # fmt: skip
    figures["seconds"] = time.monotonic() - started
    figures["date"] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    figures["machine"] = machine()
    if not args.no_save and not args.without_floor:
        earlier = load_results(RESULTS, "bench_generalisation").get("generalisation") or {}
        if all(earlier.get(key) == figures[key] for key in ("model_uid", "profile", "min_lesion_confidence")):
            figures["styles"] = {**earlier.get("styles", {}), **figures["styles"]}  # the other styles' figures stay
        merge_results(RESULTS, "bench_generalisation", "generalisation", figures)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
