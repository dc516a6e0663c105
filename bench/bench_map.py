"""The MAP's time to result, measured in one run on one full-size study, all inside the container.

- build: ``scripts/map_build.py package`` again (the layers cached: what a code change costs) and, with
  ``--rebuild``, without the cache (what a first build costs once the base image exists); the image's size;
- container: ``podman run --rm`` of the image with ``true`` as its entrypoint (the engine's own cost);
- start-up: the MAP on an empty input folder, which stops with its one-sentence error right after imports,
  settings and loading both networks, minus the bare container;
- app: the MAP on the study, container start to result.json (``scripts/map_build.py run``'s command);
- the floor, inside the same image: pydicom reading every file (pixels decoded), the rigid registration of
  each moving phase alone, and the networks' forward passes alone (``bench_app.forward_only``);
- the issue's ratio: (app - start-up - bare container) / floor, goal <= 1.3; and start-up, goal <= 5 s.

Each container timing is the median of ``--repeats`` runs, in turn. Needs ``make map`` first. Results are
printed (ratios first) and merged into bench/results.json under "map".
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
IN_IMAGE = "/opt/holoscan"  # where the packager puts the app and the models


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.add_argument("--study", type=Path, help="a DICOM study folder (default: a new full-size synthetic one)")
    parser.add_argument("--repeats", type=int, default=3, help="runs of each container timing (median kept)")
    parser.add_argument("--rebuild", action="store_true", help="also time a build without the layer cache (~3 min)")
    parser.add_argument("--no-save", action="store_true", help="print only; do not update bench/results.json")
    parser.add_argument("--floor", nargs=2, metavar=("STUDY", "MODELS"), help=argparse.SUPPRESS)  # in the image
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")
    return args


def floor(study: Path, models: Path, repeats: int) -> dict[str, float]:
    """Run inside the image: the unavoidable work, each part alone (seconds, medians of ``repeats``)."""
    from bench_app import forward_only, read_all

    from hccp53.dicomio import load_study
    from hccp53.dicomio.volume import stack_to_image
    from hccp53.model import read_model
    from hccp53.phases import identify_phases
    from hccp53.volumes.register import register_rigid

    record = read_model(models)
    reference, moving = record.reference_phase, [p for p in record.phases if p != record.reference_phase]
    loaded = load_study(study)
    found = identify_phases(loaded, require=record.phases)
    images = {p: stack_to_image(loaded, found.phases[p].stack) for p in record.phases}
    registration = []
    for _ in range(repeats):
        start = time.perf_counter()
        for phase in moving:
            register_rigid(images[reference], images[phase], label=f"phase {phase!r}")
        registration.append(time.perf_counter() - start)
    segmentation, classification = forward_only(study, models, repeats)
    return {"read_s": statistics.median(read_all(study) for _ in range(repeats)),
            "registration_s": statistics.median(registration), "segmentation_forward_s": segmentation,
            "classifier_forward_s": classification}  # fmt: skip


def timed(command: list[str]) -> tuple[float, subprocess.CompletedProcess]:
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True)
    return time.perf_counter() - start, done


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.floor:
        print(json.dumps(floor(Path(args.floor[0]), Path(args.floor[1]), args.repeats)))
        return 0
    sys.path.insert(0, str(BENCH))
    sys.path.insert(0, str(ROOT / "scripts"))
    from map_build import ULIMITS, engine, image_exists, map_tag
    from results_file import RESULTS, machine, merge_results

    if not (shutil.which("podman") or shutil.which("docker")):
        print("bench_map: nothing to measure (no podman or docker here); run scripts/setup_containers.sh and make map.")
        return 0
    image, podman = map_tag(), engine()
    if not image_exists(image):
        print(f"bench_map: nothing to measure yet (the image {image} is missing); run `make map` first.")
        return 0
    figures: dict = {}
    build = [sys.executable, str(ROOT / "scripts" / "map_build.py"), "package"]
    figures["build_cached_s"], done = timed(build)
    if done.returncode != 0:
        raise SystemExit(f"bench_map: the cached build failed: {done.stderr.strip()[-300:]}")
    if args.rebuild:
        figures["build_uncached_s"], done = timed([*build, "--no-cache"])
        if done.returncode != 0:
            raise SystemExit(f"bench_map: the uncached build failed: {done.stderr.strip()[-300:]}")
    size = subprocess.run([podman, "image", "inspect", "--format", "{{.Size}}", image],
                          capture_output=True, text=True, check=True).stdout  # fmt: skip
    figures["image_gb"] = int(size) / 1e9
    ulimits = [f"--ulimit={limit}" for limit in ULIMITS]
    with tempfile.TemporaryDirectory(prefix="bench-map-") as scratch:
        scratch = Path(scratch)
        study = args.study
        if study is None:
            from hccp53.synth.cohort import generate_cohort

            generate_cohort(scratch / "cohort", 1, seed=1, profile="full", workers=1, progress=False, preview=False)
            study = scratch / "cohort" / "cases" / "SYN0001" / "dicom"
        study = study.resolve()
        empty = scratch / "empty"
        empty.mkdir()
        base = [podman, "run", "--rm", "--network", "none", *ulimits]
        bare, startups, walls, stages = [], [], [], []
        for run in range(args.repeats):
            bare.append(timed([*base, "--entrypoint", "true", image])[0])
            out0, out = scratch / f"out0-{run}", scratch / f"out-{run}"
            out0.mkdir()
            out.mkdir()
            startups.append(timed([*base, "-v", f"{empty}:/var/holoscan/input:ro",
                                   "-v", f"{out0}:/var/holoscan/output:U", image])[0])  # fmt: skip
            wall, done = timed([*base, "-v", f"{study}:/var/holoscan/input:ro", "-v", f"{out}:/var/holoscan/output:U",
                                image])  # fmt: skip
            if not (out / "result.json").is_file():
                raise SystemExit(f"bench_map: the MAP gave no result: {(done.stdout + done.stderr).strip()[-300:]}")
            walls.append(wall)
            stages.append(json.loads((out / "result.json").read_text())["timings_s"])
        inside = [*base, "--entrypoint", "python3", "-e", f"PYTHONPATH={IN_IMAGE}/app:/bench",
                  "-v", f"{BENCH}:/bench:ro", "-v", f"{study}:/study:ro", image, "/bench/bench_map.py",
                  "--floor", "/study", f"{IN_IMAGE}/models", "--repeats", str(args.repeats)]  # fmt: skip
        done = subprocess.run(inside, capture_output=True, text=True)
        if done.returncode != 0:
            raise SystemExit(f"bench_map: the floor could not be measured in the image: {done.stderr.strip()[-500:]}")
        parts = json.loads(done.stdout.strip().splitlines()[-1])
    container, startup, wall = statistics.median(bare), statistics.median(startups), statistics.median(walls)
    app_startup = startup - container
    work = wall - startup
    least = sum(parts.values())
    figures.update({
        "ratio_app_minus_startup_over_floor": work / least, "app_startup_s": app_startup,
        "container_s": container, "container_to_result_s": wall, "floor_s": least, **parts,
        "stages_s": {k: statistics.median(s[k] for s in stages) for k in stages[0]},
        "container_to_result_s_each": walls, "startup_s_each": startups, "repeats": args.repeats,
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), "machine": machine(engine=Path(podman).name),
    })  # fmt: skip
    ratio = figures["ratio_app_minus_startup_over_floor"]
    print(f"MAP (minus start-up) / (read + registration + forward) = {ratio:.2f}"
          f"   (goal <= 1.3)")  # fmt: skip
    print(f"  app start-up in the container {app_startup:.1f} s (goal <= 5); bare container {container:.1f} s; "
          f"container start to result.json {wall:.1f} s")  # fmt: skip
    print(f"  floor {least:.1f} s: " + ", ".join(f"{k} {v:.2f}" for k, v in parts.items()))
    print(
        f"  build (cached) {figures['build_cached_s']:.0f} s"
        + (f", without cache {figures['build_uncached_s']:.0f} s" if "build_uncached_s" in figures else "")
        + f"; image {figures['image_gb']:.2f} GB"
    )
    print("  app stages: " + ", ".join(f"{k} {v:.1f}" for k, v in figures["stages_s"].items()))
    if not args.no_save:
        merge_results(RESULTS, "bench_map", "map", figures)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
