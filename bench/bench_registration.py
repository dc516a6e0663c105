"""How well and how fast the rigid registration recovers the known breath-hold shifts of full-size studies.

For each generated full-size synthetic study, every non-reference phase the app uses (t2, ap) is registered onto
the reference phase (pvp) twice, one setting after the other on one thread: with ``RegistrationSettings()``
(the defaults) and with the settings they replaced (50,000 metric samples). The error is the distance between
the translation found and the true relative breath-hold shift the generator wrote into ``truth.json``; the time
is the report's wall time. It prints the time ratio (defaults / former) first, then the mean and largest errors
of both, and merges them into bench/results.json under "registration".

This is how the defaults were chosen (the ``RegistrationSettings`` docstring); rerun it after changing them.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from results_file import RESULTS, machine, merge_results  # noqa: E402

#: The settings the defaults replaced (2026-12-04): only the sample count differs.
FORMER = {"metric_samples": 50_000}
MOVING = ("t2", "ap")
REFERENCE = "pvp"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.add_argument("--cases", type=int, default=5, help="full-size studies to generate (default 5)")
    parser.add_argument("--seed", type=int, default=7, help="generator seed (default 7)")
    parser.add_argument("--no-save", action="store_true", help="print only; do not update bench/results.json")
    args = parser.parse_args(argv)
    if args.cases < 1:
        parser.error("--cases must be at least 1")
    return args


def measure(case: Path, settings: dict) -> list[dict]:
    """Error (mm) and seconds of each moving phase of one case, for each named setting."""
    from hccp53.dicomio import load_study
    from hccp53.dicomio.volume import stack_to_image
    from hccp53.phases import identify_phases
    from hccp53.volumes.register import register_rigid

    study = load_study(case / "dicom")
    found = identify_phases(study, require=(*MOVING, REFERENCE))
    truth = json.loads((case / "truth.json").read_text())["phases"]
    images = {p: stack_to_image(study, found.phases[p].stack) for p in (*MOVING, REFERENCE)}
    rows = []
    for phase in MOVING:
        shift = np.subtract(truth[phase]["breath_hold_shift_mm"], truth[REFERENCE]["breath_hold_shift_mm"])
        for name, setting in settings.items():
            _, report = register_rigid(images[REFERENCE], images[phase], settings=setting, label=f"phase {phase!r}")
            rows.append({"case": case.name, "phase": phase, "settings": name, "seconds": report.seconds,
                         "error_mm": float(np.linalg.norm(np.subtract(report.translation_mm, shift))),
                         "true_shift_mm": float(np.linalg.norm(shift)),
                         "refused": report.fallback_to_identity})  # fmt: skip
    return rows


def summarise(rows: list[dict], name: str) -> dict:
    mine = [r for r in rows if r["settings"] == name]
    return {"mean_seconds": statistics.mean(r["seconds"] for r in mine),
            "mean_error_mm": statistics.mean(r["error_mm"] for r in mine),
            "max_error_mm": max(r["error_mm"] for r in mine),
            "refused": sum(r["refused"] for r in mine), "registrations": len(mine)}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from hccp53.synth.cohort import generate_cohort
    from hccp53.volumes.register import RegistrationSettings

    defaults = RegistrationSettings()
    settings = {"defaults": defaults, "former": replace(defaults, **FORMER)}
    rows: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="bench-registration-") as scratch:
        print(f"bench_registration: generating {args.cases} full-size stud(ies) ...", flush=True)
        generate_cohort(Path(scratch), args.cases, seed=args.seed, profile="full", workers=2, progress=False,
                        preview=False)  # fmt: skip
        for case in sorted((Path(scratch) / "cases").iterdir()):
            rows += measure(case, settings)
            print(f"  {case.name}: " + ", ".join(f"{r['phase']} {r['settings']} {r['seconds']:.1f} s "
                                                 f"{r['error_mm']:.2f} mm" for r in rows if r["case"] == case.name),
                  flush=True)  # fmt: skip
    summary = {name: summarise(rows, name) for name in settings}
    ratio = summary["defaults"]["mean_seconds"] / summary["former"]["mean_seconds"]
    print(f"registration time, defaults / former (50,000 samples) = {ratio:.2f}")
    for name, entry in summary.items():
        print(f"  {name}: {entry['mean_seconds']:.2f} s a phase, shift error {entry['mean_error_mm']:.2f} mm mean, "
              f"{entry['max_error_mm']:.2f} mm max, {entry['refused']} of {entry['registrations']} refused")
    if not args.no_save:
        merge_results(RESULTS, "bench_registration", "registration", {
            "ratio_defaults_over_former_seconds": ratio, "summary": summary, "rows": rows,
            "defaults": {"metric_samples": defaults.metric_samples}, "former": FORMER, "cases": args.cases,
            "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), "machine": machine()})  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
