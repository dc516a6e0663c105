"""Soak: many studies back to back through one process, its memory, descriptors and files after each.

Two soaks, both on small-profile synthetic studies (``--distinct`` of them generated once, then reused in
turn; a study's content does not change what a leak would show, and generating 50 would take longer than
the soak):

- ``app``: ``--studies`` calls of ``hccp53.deploy.run_study`` in this process with one ``Predictor`` (the
  same study folder is processed again as it is; each output folder is removed after it is checked);
- ``serve``: one ``hccp53 serve`` subprocess receives ``--studies`` studies by C-STORE, each resent with new
  Study/Series/SOP Instance UIDs, the next sent once the previous one's SR has come back. Its per-study wall
  time includes the server's 3 quiet seconds (the wait that decides a study is complete).

After each study the process is sampled from ``/proc``: VmRSS, the peak RSS during the study (VmHWM reset
before each study), open file descriptors, files in its temporary folder (a private TMPDIR made for this run,
so other users of /tmp do not count) and files left where it writes (output folders, the server's spool).
Printed first: peak RSS of the last ``--window`` studies over the first ``--window`` after ``--warmup``
(goal <= 1.10), descriptor growth and file growth (goal: none). Results merge into bench/results.json under
"soak" (the samples included). A measurement: the exit code is 0 even when a goal is missed (the slow test
tests/reliability/test_soak.py asserts them).
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

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(Path(__file__).resolve().parent), str(ROOT)]
from results_file import RESULTS, load_results, machine, merge_results  # noqa: E402
from soak import Sample, span, summarize, verdict  # noqa: E402

from hccp53.cli.arguments import non_negative_int, positive_int  # noqa: E402

PARTS = ("app", "serve")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--studies", type=positive_int, default=50, help="studies per soak (default: 50)")
    parser.add_argument("--distinct", type=positive_int, default=5,
                        help="distinct synthetic studies generated and reused in turn (default: 5)")  # fmt: skip
    parser.add_argument("--profile", choices=("small", "full"), default="small",
                        help="synthetic image size (default: small, about 7 s a study on 2 cores)")  # fmt: skip
    parser.add_argument("--warmup", type=non_negative_int, default=5,
                        help="first studies left out of the early window (default: 5)")  # fmt: skip
    parser.add_argument("--window", type=positive_int, default=10, help="studies per window (default: 10)")
    parser.add_argument("--part", choices=(*PARTS, "both"), default="both", help="which soak (default: both)")
    parser.add_argument("--seed", type=non_negative_int, default=7, help="generator seed (default: 7)")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto",
                        help="device of the run_study soak (default: auto, CUDA when torch sees one; the server "
                        "always chooses so)")  # fmt: skip
    parser.add_argument("--models", type=Path, default=ROOT / "models", help="models folder (default: models)")
    parser.add_argument("--keep", type=Path, help="work in this folder and keep it (default: a temporary one)")
    parser.add_argument("--results", type=Path, default=RESULTS, help="JSON file to merge the figures into")
    parser.add_argument("--no-save", action="store_true", help="print only; do not update the results file")
    args = parser.parse_args(argv)
    if args.studies < args.warmup + 2 * args.window:
        parser.error(f"--studies {args.studies} is too few for --warmup {args.warmup} and two windows of "
                     f"--window {args.window}; give at least {args.warmup + 2 * args.window}.")  # fmt: skip
    return args


def now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def progress(part: str, total: int):
    def show(s: Sample) -> None:
        print(f"  {part} {s.study + 1:>3}/{total}  {s.wall_s:5.1f} s  RSS {s.rss_mib:7.1f} MiB  peak "
              f"{s.peak_rss_mib:7.1f} MiB  fds {s.fds:>3}  temp {s.temp_files}  left {s.leftover_files}",
              file=sys.stderr, flush=True)  # fmt: skip

    return show


def report(part: str, figures: dict[str, Any]) -> None:
    problems = verdict(figures)
    ratio = figures["peak_rss_ratio_late_over_early"]
    print(f"soak {part}: {figures['studies']} studies, peak RSS late/early {ratio:.3f}"
          f" (goal <= 1.10), fd growth {figures['fd_growth']:+d}, temp-file growth {figures['temp_file_growth']:+d}, "
          f"left-over growth {figures['leftover_file_growth']:+d}: {'; '.join(problems) or 'goals met'}")  # fmt: skip
    print(f"  peak RSS {figures['peak_rss_early_mib']:.0f} MiB (studies {span(figures['early_window'])}) -> "
          f"{figures['peak_rss_late_mib']:.0f} MiB (studies {span(figures['late_window'])}); RSS after the first "
          f"window study {figures['rss_after_first_mib']:.0f} MiB, after the last "
          f"{figures['rss_after_last_mib']:.0f} MiB; fds {figures['fds_first']} -> {figures['fds_last']}")  # fmt: skip
    startup = f", server start-up {figures['startup_s']:.1f} s" if "startup_s" in figures else ""
    if figures.get("sends_broken_off"):
        print(
            f"  {len(figures['sends_broken_off'])} send(s) broke off and were tried again: "
            + "; ".join(f"study {f['study'] + 1}: {f['error']}" for f in figures["sends_broken_off"])
        )
    print(f"  wall per study median {figures['wall_s_median']:.1f} s, max {figures['wall_s_max']:.1f} s, total "
          f"{figures['wall_s_total']:.0f} s{startup}")  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    parts = PARTS if args.part == "both" else (args.part,)
    work = args.keep or Path(tempfile.mkdtemp(prefix="hccp53-bench-soak-"))
    private_temp = work / "tmp"
    private_temp.mkdir(parents=True, exist_ok=True)
    os.environ["TMPDIR"] = str(private_temp)  # the server subprocess inherits it
    tempfile.tempdir = str(private_temp)
    record: dict[str, Any] = {}
    run = {"profile": args.profile, "distinct_studies": args.distinct}
    try:
        from hccp53.synth.cohort import generate_cohort

        print(f"bench_soak: generating {args.distinct} {args.profile}-profile studies ...", file=sys.stderr)
        generate_cohort(work / "cohort", args.distinct, seed=args.seed, profile=args.profile,
                        workers=min(2, args.distinct), preview=False, progress=False)  # fmt: skip
        studies = sorted((work / "cohort" / "cases").glob("*/dicom"))
        if "app" in parts:
            from soak import soak_run_study

            from hccp53.predictor import Predictor
            from hccp53.settings import read_settings

            print(f"bench_soak: {args.studies} studies through run_study in this process ...", file=sys.stderr)
            start = time.perf_counter()
            predictor = Predictor(args.models, read_settings(), device=None if args.device == "auto" else args.device)
            load = time.perf_counter() - start
            samples, per_study = soak_run_study(studies, args.studies, work / "app", predictor,
                                                progress("app", args.studies))  # fmt: skip
            record["app"] = {**run, "date": now(), **summarize(samples, args.warmup, args.window),
                             "peak_is_per_study": per_study, "predictor_load_s": load,
                             "device": str(predictor.device)}  # fmt: skip
        if "serve" in parts:
            from soak_serve import soak_serve

            print(f"bench_soak: {args.studies} studies through one hccp53 serve ...", file=sys.stderr)
            samples, per_study, startup, failures = soak_serve(studies, args.studies, work / "serve",
                                                     progress("serve", args.studies))  # fmt: skip
            record["serve"] = {**run, "date": now(), **summarize(samples, args.warmup, args.window),
                               "peak_is_per_study": per_study, "startup_s": startup,
                               "sends_broken_off": failures}  # fmt: skip
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)
    for part in parts:
        report(part, record[part])
    if not args.no_save:
        # a run of one part keeps the other part's last figures
        kept = load_results(args.results, "bench_soak").get("soak", {})
        record = {**{p: kept[p] for p in PARTS if p in kept and p not in parts}, **record, "machine": machine()}
        merge_results(args.results, "bench_soak", "soak", record)
        print(f"written to {args.results} (key 'soak')")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
