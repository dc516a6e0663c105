"""Generate a whole synthetic cohort: cases in parallel, cohort CSV, datalist and saved splits.

Output layout (``OUT``)::

    cohort.csv          one row per case: label, true probability, clinical data, vendor, phases ...
    cohort.json         summary: counts, prevalence, Bayes AUC of this cohort, effective settings
    synth_config.yaml   the effective settings; `hccp53 synth --config` on it reproduces the cohort
    datalist.json       MONAI datalist (``training`` with ``fold``, ``test``); paths relative to it
    splits.json         the seeded, stratified split and folds (nnU-Net style, editable)
    cases/<id>/dicom/   the DICOM study (one folder per series)
    cases/<id>/nifti/   phases on the reference grid, tumor_mask, liver_mask
    cases/<id>/truth/   DICOM SEG of liver and tumor
    cases/<id>/truth.json, preview.png

The cohort is written into a hidden sibling folder and renamed into place at the end, so
a failed or interrupted run leaves no partial output.
"""

from __future__ import annotations

import csv
import json
import logging
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sklearn.metrics import roc_auc_score
from tqdm import tqdm

from hccp53 import __version__
from hccp53.data.splits import make_splits
from hccp53.errors import ConfigError
from hccp53.staging import staged_output
from hccp53.synth.case import CaseResult, generate_case
from hccp53.synth.config import PROFILES, dump_config, load_config
from hccp53.synth.mechanism import Mechanism

logger = logging.getLogger(__name__)


@dataclass
class CohortSummary:
    out: Path
    cases: int
    mutated: int
    bayes_auc: float | None
    seconds: float
    timings: dict[str, float]


def _check_arguments(cases: int, seed: int, profile: str, workers: int) -> None:
    if not isinstance(cases, int) or cases < 1:
        raise ConfigError(f"The number of cases must be a positive integer, got {cases!r}.")
    if not isinstance(seed, int) or seed < 0:
        raise ConfigError(f"The seed must be a non-negative integer, got {seed!r}.")
    if profile not in PROFILES:
        raise ConfigError(f"Unknown profile {profile!r}; choose one of: {', '.join(PROFILES)}.")
    if not isinstance(workers, int) or workers < 1:
        raise ConfigError(f"The number of workers must be a positive integer, got {workers!r}.")


def _run_cases(staging: Path, cases: int, seed: int, config: dict[str, Any], profile: str,
               mechanism: Mechanism, images: bool, preview: bool, workers: int, progress: bool
               ) -> list[CaseResult]:
    bar = tqdm(total=cases, desc="synth", unit="case", disable=not progress, dynamic_ncols=True)
    results: list[CaseResult] = []
    try:
        if workers == 1 or cases == 1:
            for index in range(cases):
                results.append(generate_case(staging, index, seed, config, profile, mechanism, images, preview))
                bar.update()
        else:
            with ProcessPoolExecutor(max_workers=min(workers, cases)) as pool:
                futures = [pool.submit(generate_case, staging, index, seed, config, profile, mechanism, images,
                                       preview) for index in range(cases)]
                try:
                    for future in as_completed(futures):
                        results.append(future.result())
                        bar.update()
                except BaseException:
                    for future in futures:
                        future.cancel()
                    raise
    finally:
        bar.close()
    return sorted(results, key=lambda r: r.case_id)


def _write_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    columns: list[str] = []
    for row in rows:
        columns += [c for c in row if c not in columns]
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)


def generate_cohort(
    out: str | Path,
    cases: int,
    seed: int = 0,
    profile: str = "small",
    config: dict[str, Any] | None = None,
    workers: int = 1,
    images: bool = True,
    preview: bool = True,
    overwrite: bool = False,
    progress: bool = True,
) -> CohortSummary:
    """Generate ``cases`` synthetic cases into ``out``.

    Parameters
    ----------
    out:
        Output folder; must be absent or empty unless ``overwrite``.
    seed:
        Same seed, settings and profile give byte-identical files.
    profile:
        ``small`` (fast tests) or ``full`` (scanner-sized images).
    config:
        Effective settings (:func:`hccp53.synth.config.load_config`); defaults when None.
    workers:
        Processes generating cases in parallel.
    images:
        False writes only ``cohort.csv``/``cohort.json`` (latent truth and clinical data).

    Raises
    ------
    ConfigError, OutputError
        For invalid arguments or an unusable output folder, before anything is written.
    """
    _check_arguments(cases, seed, profile, workers)
    config = config if config is not None else load_config()
    out = Path(out)
    started = time.perf_counter()
    with staged_output(out, overwrite) as staging:
        mechanism = Mechanism.from_config(config["mechanism"])
        logger.info("mechanism: scale %.4f for a target Bayes AUC of %.3f", mechanism.scale,
                    config["mechanism"]["target_bayes_auc"])
        results = _run_cases(staging, cases, seed, config, profile, mechanism, images, preview, workers, progress)
        rows = [r.row for r in results]
        _write_csv(staging / "cohort.csv", rows)
        labels = [r["label"] for r in rows]
        probabilities = [r["true_probability"] for r in rows]
        bayes = float(roc_auc_score(labels, probabilities)) if 0 < sum(labels) < len(labels) else None
        timings: dict[str, float] = {}
        for result in results:
            for key, value in result.timings.items():
                timings[key] = timings.get(key, 0.0) + value
        summary = {
            "generator": f"hccp53 {__version__}", "seed": seed, "profile": profile, "cases": cases,
            "images": images, "style": config["appearance"]["style"], "mutated": int(sum(labels)),
            "prevalence": sum(labels) / cases,
            "bayes_auc": bayes, "mechanism_scale": mechanism.scale,
            "vendors": {v: sum(1 for r in rows if r.get("vendor") == v) for v in config["protocol"]["vendors"]}
            if images else None,
            "config": config,
        }
        (staging / "cohort.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
        (staging / "synth_config.yaml").write_text(dump_config(config), encoding="utf-8")
        if images:
            split = make_splits([r.case_id for r in results], labels, config["split"]["test_fraction"],
                                config["split"]["folds"], seed)
            (staging / "splits.json").write_text(json.dumps(split, indent=2) + "\n", encoding="utf-8")
            fold_of = {case: f for f, fold in enumerate(split["folds"]) for case in fold["val"]}
            entries = {r.case_id: r.datalist_entry for r in results}
            training = [dict(entries[c], fold=fold_of.get(c, -1)) for c in split["training"]]
            datalist = {
                "name": "hccp53 synthetic multiphase liver MRI cohort",
                "description": "Synthetic research data with known P53 ground truth; not patient data.",
                "reference_phase": "pvp", "labels": {"0": "P53 wild-type", "1": "P53-mutated"},
                "seed": seed, "profile": profile,
                "training": training, "test": [entries[c] for c in split["test"]],
            }
            (staging / "datalist.json").write_text(json.dumps(datalist, indent=2) + "\n", encoding="utf-8")
    seconds = time.perf_counter() - started
    return CohortSummary(out, cases, int(sum(labels)), bayes, seconds, timings)
