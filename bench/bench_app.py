"""How the Deploy app's time compares with the unavoidable work, measured in one run on one full-size study.

- app: ``python app.py -i STUDY -o OUT -m models`` as a process, wall time and peak RSS (the children's
  ru_maxrss);
- start-up: the same process on an empty folder, which stops with its one-sentence error right after
  imports, settings and loading both networks;
- the floor: reading every DICOM file of the study with pydicom (pixels decoded), plus the networks'
  forward passes alone (sliding-window segmentation on the prepared tensor, the classifier on one crop per
  lesion), timed in this process;
- the ratio the app issue asks for: (app - start-up) / (read + forward), goal <= 1.3, and the app's own
  per-stage timings from result.json.

Each timing is taken ``--repeats`` times (start-up and app in turn) and its median kept: on a shared 2-core
machine one run of the app moves by 10-20%, more than most changes to it save.

Results are printed (ratios first) and merged into bench/results.json under "app".
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from results_file import RESULTS, machine, merge_results  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.add_argument("--study", type=Path, help="a DICOM study folder (default: a new full-size synthetic one)")
    parser.add_argument("--models", type=Path, default=ROOT / "models", help="models folder (default: models)")
    parser.add_argument("--repeats", type=int, default=3,
                        help="runs of each timing, the median kept (default 3; one run moves by 10-20%% here)")
    parser.add_argument("--no-save", action="store_true", help="print only; do not update bench/results.json")
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")
    return args


def run_app(study: Path, out: Path, models: Path) -> tuple[float, subprocess.CompletedProcess]:
    start = time.perf_counter()
    result = subprocess.run([sys.executable, str(ROOT / "app.py"), "-i", str(study), "-o", str(out), "-m",
                             str(models)], capture_output=True, text=True, check=False)  # fmt: skip
    return time.perf_counter() - start, result


def read_all(study: Path) -> float:
    import pydicom

    start = time.perf_counter()
    for path in sorted(p for p in study.rglob("*") if p.is_file()):
        ds = pydicom.dcmread(path)
        if "PixelData" in ds:
            ds.pixel_array  # noqa: B018 - decoding is part of reading
    return time.perf_counter() - start


def forward_only(study: Path, models: Path, repeats: int = 1) -> tuple[float, float]:
    """Median seconds of the segmentation forward passes and of the classifier forward pass, alone."""
    import SimpleITK as sitk
    import torch
    from monai.inferers import sliding_window_inference

    from hccp53.deploy import load_volumes
    from hccp53.predictor import Predictor
    from hccp53.settings import read_settings
    from hccp53.transforms import IMAGE, segmentation_transforms, sitk_to_metatensor

    settings = read_settings()
    predictor = Predictor(models, settings)
    segmentation_record = predictor.record.segmentation
    _, _, volumes = load_volumes(study, predictor)
    tensors = {p: sitk_to_metatensor(volumes.images[p]) for p in predictor.phases}
    image = segmentation_transforms(predictor.record.segmentation_phases, segmentation_record["spacing_mm"],
                                    mode="infer")(tensors)[IMAGE][None]  # fmt: skip
    segmented = predictor.segment(volumes)
    label_array = sitk.GetArrayFromImage(segmented.labels).transpose(2, 1, 0)
    crops = predictor.model.classifier.crops(tensors, label_array, max(1, len(segmented.lesions)))
    segmentation, classification = [], []
    with torch.no_grad():
        for _ in range(repeats):
            start = time.perf_counter()
            sliding_window_inference(image.to(predictor.device), tuple(segmentation_record["patch_size"]),
                                     settings.sw_batch_size, predictor.model.segmentation,
                                     overlap=settings.sw_overlap)  # fmt: skip
            segmentation.append(time.perf_counter() - start)
            start = time.perf_counter()
            predictor.model.classifier.network(crops.to(predictor.device))
            classification.append(time.perf_counter() - start)
    return statistics.median(segmentation), statistics.median(classification)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-app-") as scratch:
        scratch = Path(scratch)
        study = args.study
        if study is None:
            from hccp53.synth.cohort import generate_cohort

            generate_cohort(scratch / "cohort", 1, seed=1, profile="full", workers=1, progress=False, preview=False)
            study = scratch / "cohort" / "cases" / "SYN0001" / "dicom"
        empty = scratch / "empty"
        empty.mkdir()
        startups, walls, all_stages = [], [], []
        for run in range(args.repeats):  # start-up and app in turn, so that both see the same spells of load
            startups.append(run_app(empty, scratch / f"out0-{run}", args.models)[0])
            wall, result = run_app(study, scratch / f"out-{run}", args.models)
            if result.returncode != 0:
                raise SystemExit(f"bench_app: the app failed: {result.stderr.strip().splitlines()[-1]}")
            walls.append(wall)
            all_stages.append(json.loads((scratch / f"out-{run}" / "result.json").read_text())["timings_s"])
        peak_rss_gib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 2**20
        startup, wall = statistics.median(startups), statistics.median(walls)
        stages = {k: statistics.median(s[k] for s in all_stages) for k in all_stages[0]}
        files = sum(1 for p in study.rglob("*") if p.is_file())
        read = statistics.median(read_all(study) for _ in range(args.repeats))
        segmentation, classification = forward_only(study, args.models, args.repeats)
    floor = read + segmentation + classification
    figures = {
        "ratio_app_minus_startup_over_read_plus_forward": (wall - startup) / floor,
        "ratio_app_over_read_plus_forward": wall / floor,
        "app_wall_s": wall, "startup_s": startup, "read_s": read, "files": files,
        "segmentation_forward_s": segmentation, "classifier_forward_s": classification,
        "peak_rss_gib": peak_rss_gib, "stages_s": stages, "repeats": args.repeats,
        "app_wall_s_each": walls, "startup_s_each": startups,
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), "machine": machine(),
    }  # fmt: skip
    ratio = figures["ratio_app_minus_startup_over_read_plus_forward"]
    print(f"app (minus start-up) / (DICOM read + forward passes) = {ratio:.2f}   (goal <= 1.3; with start-up "
          f"{figures['ratio_app_over_read_plus_forward']:.2f})")  # fmt: skip
    print(f"  app {wall:.1f} s, start-up {startup:.1f} s, read {read:.1f} s ({files} files), segmentation forward "
          f"{segmentation:.1f} s, classifier forward {classification:.2f} s")  # fmt: skip
    print(f"  peak RSS {peak_rss_gib:.2f} GiB (goal <= 3); app stages: "
          + ", ".join(f"{k} {v:.1f}" for k, v in stages.items()))
    if not args.no_save:
        merge_results(RESULTS, "bench_app", "app", figures)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
