"""Benchmark of the synthetic cohort generator (``hccp53 synth``).

Generates N cases of the ``small`` profile and M cases of the ``full`` profile in temporary
folders (removed afterwards), reads every DICOM instance back with ``pydicom.dcmread``
(pixels included), and a large labels-only cohort (``--no-images``). It prints ratios
measured in this one run first (generation time over read-back time of the same files,
full over small time per case), then per profile cases per second, seconds per case,
instances per second and the share of each generation stage.

The figures go to ``bench/results.json`` under the key ``"synth"`` (other keys are kept).
This is a measurement, not a test: nothing here asserts a time.

Run: ``.venv/bin/python bench/bench_synth.py`` (``make bench`` does), ``--help`` for options.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
from results_file import RESULTS, load_results, machine, merge_results

from hccp53.cli.arguments import non_negative_int, positive_int
from hccp53.synth.cohort import generate_cohort
from hccp53.synth.config import load_config
from hccp53.synth.mechanism import Mechanism

STAGES = ("latents_anatomy", "render", "dicom", "ground_truth")
STAGE_NAMES = {"latents_anatomy": "latents+anatomy", "render": "render", "dicom": "DICOM writing",
               "ground_truth": "ground truth"}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[1] + "\n\nThe default run takes about 1-2 minutes on 2 cores.",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--small-cases", type=non_negative_int, default=8,
                        help="cases of the small profile (0 skips it; default: 8)")
    parser.add_argument("--full-cases", type=non_negative_int, default=2,
                        help="cases of the full profile (0 skips it; default: 2)")
    parser.add_argument("--no-images-cases", type=non_negative_int, default=2000,
                        help="cases of the labels-and-clinical-only cohort (0 skips it; default: 2000)")
    parser.add_argument("--workers", type=positive_int, default=max(1, min(4, os.cpu_count() or 1)),
                        help="parallel processes, as `hccp53 synth --workers` (default: cores, at most 4)")
    parser.add_argument("--seed", type=non_negative_int, default=0, help="generator seed (default: 0)")
    parser.add_argument("--results", type=Path, default=RESULTS,
                        help=f"JSON file to merge the figures into, key 'synth' (default: {RESULTS})")
    return parser.parse_args(argv)


def _dicom_files(cohort: Path) -> list[Path]:
    return sorted(p for p in cohort.glob("cases/*/dicom/**/*") if p.is_file())


def read_back(files: list[Path]) -> float:
    """Seconds to read every file with pydicom, pixel data decoded."""
    started = time.perf_counter()
    for path in files:
        ds = pydicom.dcmread(path)
        ds.pixel_array  # noqa: B018 - decoding the pixels is what is timed
    return time.perf_counter() - started


def run_profile(profile: str, cases: int, seed: int, workers: int) -> dict[str, Any]:
    """Generate ``cases`` of ``profile`` in a temporary folder, read them back, remove them."""
    root = Path(tempfile.mkdtemp(prefix=f"hccp53-bench-{profile}-"))
    try:
        out = root / "cohort"
        summary = generate_cohort(out, cases, seed=seed, profile=profile, workers=workers, progress=False)
        files = _dicom_files(out)
        size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
        read_s = read_back(files)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    stage_total = sum(summary.timings.get(k, 0.0) for k in STAGES)
    return {
        "cases": cases,
        "workers": workers,
        "seconds": round(summary.seconds, 3),
        "cases_per_second": round(cases / summary.seconds, 4),
        "seconds_per_case": round(summary.seconds / cases, 3),
        "worker_seconds_per_case": round(stage_total / cases, 3),
        "instances": len(files),
        "instances_per_second": round(len(files) / summary.seconds, 1),
        "megabytes": round(size / 1e6, 1),
        "read_back_seconds": round(read_s, 3),
        "generate_over_read_back": round(summary.seconds / read_s, 2),
        "stage_seconds": {k: round(summary.timings.get(k, 0.0), 3) for k in STAGES},
        "stage_share": {k: round(summary.timings.get(k, 0.0) / stage_total, 4) for k in STAGES},
    }


def run_no_images(cases: int, seed: int, workers: int) -> dict[str, Any]:
    root = Path(tempfile.mkdtemp(prefix="hccp53-bench-noimages-"))
    try:
        summary = generate_cohort(root / "cohort", cases, seed=seed, images=False, workers=workers,
                                  progress=False)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return {"cases": cases, "workers": workers, "seconds": round(summary.seconds, 3),
            "cases_per_second": round(cases / summary.seconds, 1),
            "bayes_auc_of_cohort": None if summary.bayes_auc is None else round(summary.bayes_auc, 4)}


def _ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None or b == 0 else round(a / b, 2)


def _fmt(value: float | None, unit: str = "x") -> str:
    return "n/a" if value is None else f"{value:.2f}{unit}"


def report(record: dict[str, Any]) -> None:
    m, s, p, r = record["machine"], record["settings"], record["profiles"], record["ratios"]
    print(f"hccp53 synth benchmark, {record['date']}")
    print(f"machine: {m['cpu']}, {m['cpu_count']} cores, {m['memory_gib']} GiB, {m['platform']}, "
          f"Python {m['python']}")
    print(f"settings: seed {s['seed']}, {s['workers']} worker(s); mechanism scale solved once beforehand "
          f"in {record['mechanism_solve_seconds']:.2f} s (not counted below)")
    print()
    print("ratios measured in this run")
    lines = [(f"{profile} generate / read back the same DICOM (pydicom, pixels)",
              p[profile]["generate_over_read_back"]) for profile in ("small", "full") if profile in p]
    lines += [("full / small seconds per case", r["full_over_small_seconds_per_case"]),
              ("small with images / no-images seconds per case", r["small_images_over_no_images_seconds_per_case"])]
    width = max(len(label) for label, _ in lines)
    for label, value in lines:
        print(f"  {label:<{width}}  {_fmt(value)}")
    print()
    for profile in ("small", "full"):
        if profile not in p:
            continue
        q = p[profile]
        print(f"{profile} profile: {q['cases']} case(s) in {q['seconds']:.1f} s")
        print(f"  {q['cases_per_second']:.3f} cases/s, {q['seconds_per_case']:.2f} s per case "
              f"({q['worker_seconds_per_case']:.2f} worker-seconds per case summed over stages)")
        print(f"  {q['instances']} instances, {q['instances_per_second']:.0f} instances/s, "
              f"{q['megabytes']:.1f} MB; read back in {q['read_back_seconds']:.2f} s")
        shares = ", ".join(f"{STAGE_NAMES[k]} {100 * q['stage_share'][k]:.1f}%" for k in STAGES)
        print(f"  stage share: {shares}")
    if record["no_images"] is not None:
        n = record["no_images"]
        print(f"no-images (labels + clinical only): {n['cases']} case(s) in {n['seconds']:.2f} s, "
              f"{n['cases_per_second']:.0f} cases/s; Bayes AUC of that cohort {n['bayes_auc_of_cohort']}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    load_results(args.results, "bench_synth")  # an unusable results file stops the run before the measurements
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    # Benchmark cohorts are tiny: the split warnings ("too few to stratify") are expected here.
    logging.getLogger("hccp53.synth.cohort").setLevel(logging.ERROR)

    started = time.perf_counter()
    Mechanism.from_config(load_config()["mechanism"])  # solve the scale once (cached for the runs below)
    solve_s = time.perf_counter() - started

    profiles: dict[str, dict[str, Any]] = {}
    for profile, cases in (("small", args.small_cases), ("full", args.full_cases)):
        if cases:
            print(f"bench_synth: generating {cases} {profile} case(s) ...", file=sys.stderr, flush=True)
            profiles[profile] = run_profile(profile, cases, args.seed, args.workers)
    no_images = None
    if args.no_images_cases:
        print(f"bench_synth: generating {args.no_images_cases} case(s) without images ...", file=sys.stderr,
              flush=True)
        no_images = run_no_images(args.no_images_cases, args.seed, args.workers)

    small, full = profiles.get("small"), profiles.get("full")
    record = {
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "machine": machine(numpy=np.__version__, pydicom=pydicom.__version__),
        "settings": {"seed": args.seed, "workers": args.workers, "small_cases": args.small_cases,
                     "full_cases": args.full_cases, "no_images_cases": args.no_images_cases},
        "mechanism_solve_seconds": round(solve_s, 3),
        "ratios": {
            "small_generate_over_read_back": small and small["generate_over_read_back"],
            "full_generate_over_read_back": full and full["generate_over_read_back"],
            "full_over_small_seconds_per_case": _ratio(full and full["seconds_per_case"],
                                                       small and small["seconds_per_case"]),
            "small_images_over_no_images_seconds_per_case": _ratio(
                small and small["seconds_per_case"],
                no_images and no_images["seconds"] / no_images["cases"]),
        },
        "profiles": profiles,
        "no_images": no_images,
    }
    report(record)
    merge_results(args.results, "bench_synth", "synth", record)
    print(f"\nwritten to {args.results} (key 'synth')")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
