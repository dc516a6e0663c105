"""Benchmark: study loading + phase identification + resampling, as a ratio to plain pydicom reading.

Generates full-size synthetic studies (one per vendor style drawn by the seed), then for each
times, in one run and on a warm file cache:

- ``dcmread``: ``pydicom.dcmread`` of every file of the study, pixels decoded (the floor);
- ``pipeline``: :func:`hccp53.dicomio.load_study` + phase identification + building and
  resampling the classifier's phases onto the reference grid (no registration).

and prints ``pipeline / dcmread`` first (the issue's goal: <= 1.5), then the stage times, then the
throughput of phase identification alone (:func:`hccp53.phases.identify_phases` called as the app calls it,
on studies already loaded, ``--phase-repeats`` times each): studies per second.
Results merge into ``bench/results.json`` under ``"study"``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import pydicom
from results_file import RESULTS, cpu_model, machine, merge_results

from hccp53 import DEFAULT_PHASES, parse_phases
from hccp53.cli.arguments import positive_int
from hccp53.dicomio import load_study
from hccp53.errors import ConfigError
from hccp53.synth.cohort import generate_cohort


def _plain_read(folder: Path) -> float:
    start = time.perf_counter()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        pydicom.dcmread(path).pixel_array  # noqa: B018 - decoding is the point
    return time.perf_counter() - start


def _pipeline(folder: Path, phases: tuple[str, ...]) -> dict[str, float]:
    from hccp53.phases import identify_phases
    from hccp53.volumes.study import study_volumes

    times: dict[str, float] = {}
    start = time.perf_counter()
    study = load_study(folder)
    times["load"] = time.perf_counter() - start
    clock = time.perf_counter()
    result = identify_phases(study, require=phases)
    times["phases"] = time.perf_counter() - clock
    clock = time.perf_counter()
    study_volumes(study, result, phases=phases, reference_phase="pvp", register=False)  # the stage as it was timed
    times["volumes"] = time.perf_counter() - clock
    times["pipeline"] = time.perf_counter() - start
    return times


def _phase_rate(folders: list[Path], phases: tuple[str, ...], repeats: int) -> dict[str, float]:
    """Phase identifications per second on studies loaded beforehand (the rules file read each call, as in the app)."""
    from hccp53.phases import identify_phases

    studies = [load_study(folder) for folder in folders]
    identify_phases(studies[0], require=phases)  # first call: imports and caches outside the timing
    start = time.perf_counter()
    for _ in range(repeats):
        for study in studies:
            identify_phases(study, require=phases)
    seconds = time.perf_counter() - start
    count = repeats * len(studies)
    return {"identifications": count, "seconds": seconds, "studies_per_s": count / seconds}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=positive_int, default=3, help="full-size studies to time (default: 3)")
    parser.add_argument("--repeats", type=positive_int, default=3, help="timed repeats per study (default: 3)")
    parser.add_argument("--phase-repeats", type=positive_int, default=50,
                        help="phase identifications timed per loaded study (default: 50)")  # fmt: skip
    parser.add_argument("--seed", type=int, default=11, help="generator seed (default: 11)")
    parser.add_argument("--phases", default=",".join(DEFAULT_PHASES),
                        help=f"phases required and resampled (default: {','.join(DEFAULT_PHASES)}, the shipped "
                             "classifier's)")  # fmt: skip
    parser.add_argument("--results", type=Path, default=RESULTS, help="JSON file to merge the figures into")
    args = parser.parse_args(argv)
    try:
        phases = parse_phases(args.phases, "--phases")
    except ConfigError as error:
        parser.error(str(error))
    work = Path(tempfile.mkdtemp(prefix="hccp53-bench-study-"))
    try:
        print(f"bench_study: generating {args.cases} full-size studies ...", file=sys.stderr)
        generate_cohort(work / "cohort", args.cases, seed=args.seed, profile="full", workers=min(2, args.cases),
                        preview=False, progress=False)
        rows = []
        for folder in sorted((work / "cohort" / "cases").glob("*/dicom")):
            _plain_read(folder)  # warm the file cache once
            plain = statistics.median(_plain_read(folder) for _ in range(args.repeats))
            runs = [_pipeline(folder, phases) for _ in range(args.repeats)]
            stage = {key: statistics.median(run[key] for run in runs) for key in runs[0]}
            files = sum(1 for p in folder.rglob("*") if p.is_file())
            vendor = json.loads((folder.parent / "truth.json").read_text())["vendor"]
            rows.append({"case": folder.parent.name, "vendor": vendor, "files": files, "dcmread_s": plain,
                         **{f"{k}_s": v for k, v in stage.items()}, "ratio": stage["pipeline"] / plain})
        phase_rate = _phase_rate(sorted((work / "cohort" / "cases").glob("*/dicom")), phases, args.phase_repeats)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    print("study loading + phase identification + resampling, full-size studies")
    print(f"machine: {cpu_model()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    print(f"{'case':<8} {'vendor':<8} {'files':>5}  {'ratio':>6}  {'dcmread':>8} {'pipeline':>8} "
          f"{'load':>6} {'phases':>6} {'volumes':>7}")
    for r in rows:
        print(f"{r['case']:<8} {r['vendor']:<8} {r['files']:>5}  {r['ratio']:>5.2f}x  {r['dcmread_s']:>7.3f}s "
              f"{r['pipeline_s']:>7.3f}s {r['load_s']:>5.3f}s {r['phases_s']:>5.3f}s {r['volumes_s']:>6.3f}s")
    ratio = statistics.median(r["ratio"] for r in rows)
    print(f"median pipeline / dcmread: {ratio:.2f}x (goal <= 1.5)")
    print(f"phase identification on loaded studies: {phase_rate['studies_per_s']:.1f} studies/s "
          f"({phase_rate['identifications']} in {phase_rate['seconds']:.2f} s)")  # fmt: skip
    record = {"date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
              "machine": machine(pydicom=pydicom.__version__),
              "median_ratio_pipeline_to_dcmread": ratio, "phase_identification": phase_rate, "studies": rows}
    merge_results(args.results, "bench_study", "study", record)
    print(f"written to {args.results} (key 'study')")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
