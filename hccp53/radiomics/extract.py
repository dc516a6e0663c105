"""pyradiomics features of each phase inside the tumor mask, for one case or a whole datalist.

Settings live in ``configs/radiomics.yaml`` (pyradiomics' own parameter-file format). Features are named
``<phase>_<pyradiomics name>`` (``ap_wavelet-LLH_glcm_Idm``); shape features describe the mask, the same
for every phase, and are kept once as ``shape_<name>``. Diagnostics are dropped. A cohort extraction can be
cached in a CSV that is reused while the settings file, the phases and the mask perturbation are unchanged.

``perturbation`` (``erode`` / ``dilate``) extracts inside the tumor mask shrunk or grown by one voxel
(:func:`hccp53.radiomics.stability.perturb_mask`), for the ICC filter of :mod:`hccp53.radiomics.select`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Collection, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from hccp53.errors import ConfigError, InputError
from hccp53.radiomics.stability import Perturbation, perturb_mask

logger = logging.getLogger(__name__)

DEFAULT_SETTINGS = Path(__file__).resolve().parents[2] / "configs" / "radiomics.yaml"
_SHAPE = "original_shape_"
#: Extracted cases between two writes of the cache, so that a stopped extraction loses at most these.
_SAVE_EVERY = 20


class PerturbedMaskError(InputError):
    """Features cannot be measured inside a perturbed (eroded or dilated) tumor mask of one case."""


def _extractor(settings: Path) -> Any:
    from radiomics import featureextractor

    # pyradiomics logs every filter at INFO and a GLCM symmetry note at WARNING: keep errors only.
    logging.getLogger("radiomics").setLevel(logging.ERROR)
    if not Path(settings).is_file():
        raise ConfigError(f"Radiomics settings file {settings} does not exist.")
    try:
        return featureextractor.RadiomicsFeatureExtractor(str(settings))
    except Exception as error:  # pykwalify / yaml errors of a bad parameter file
        raise ConfigError(f"Radiomics settings file {settings} is not valid ({str(error).splitlines()[0]}).") from None


def _path(case: Mapping[str, Any], key: str, base_dir: Path | None) -> Path:
    case_id = case.get("case_id", "?")
    if key not in case:
        what = "tumor mask" if key == "mask" else f"phase {key}"
        raise InputError(f"Case {case_id} has no {what} ('{key}' in the datalist); radiomics needs it.")
    path = Path(case[key])
    if base_dir is not None and not path.is_absolute():
        path = base_dir / path
    if not path.is_file():
        raise InputError(f"Case {case_id}: {path} does not exist.")
    return path


def extract_case(
    case: Mapping[str, Any],
    phases: Sequence[str],
    settings: Path | str = DEFAULT_SETTINGS,
    base_dir: Path | None = None,
    extractor: Any = None,
    perturbation: Perturbation | None = None,
) -> dict[str, float]:
    """Features of every phase of one case inside its tumor mask (see the module docstring).

    ``perturbation``: ``erode`` or ``dilate`` the tumor mask by one voxel first (None: the mask as it is).

    Raises
    ------
    InputError
        A phase or the mask is missing, the mask holds no tumor voxel, or pyradiomics fails.
    PerturbedMaskError
        The perturbed mask holds no tumor voxel, or pyradiomics fails inside it (an :class:`InputError` too).
    """
    import SimpleITK as sitk

    extractor = extractor or _extractor(Path(settings))
    case_id = case.get("case_id", "?")
    mask_path = _path(case, "mask", base_dir)
    mask = sitk.ReadImage(str(mask_path))
    if not np.any(sitk.GetArrayViewFromImage(mask) == 1):
        raise InputError(f"Case {case_id}: the tumor mask {mask_path.name} has no voxel of label 1.")
    if perturbation is not None:
        mask = perturb_mask(mask, perturbation)
        if not np.any(sitk.GetArrayViewFromImage(mask) == 1):
            raise PerturbedMaskError(f"Case {case_id}: the tumor mask {mask_path.name} has no voxel left once "
                                     "eroded by one voxel.")  # fmt: skip
    features: dict[str, float] = {}
    for phase in phases:
        image = sitk.ReadImage(str(_path(case, phase, base_dir)), sitk.sitkFloat32)
        try:
            result = extractor.execute(image, mask)
        except (ValueError, RuntimeError) as error:
            failure = InputError if perturbation is None else PerturbedMaskError
            inside = "" if perturbation is None else f" inside the {perturbation}d mask"
            raise failure(f"Case {case_id}, phase {phase}: pyradiomics failed{inside} "
                          f"({str(error).splitlines()[0]}).") from None  # fmt: skip
        for name, value in result.items():
            if name.startswith("diagnostics_"):
                continue
            key = f"shape_{name[len(_SHAPE):]}" if name.startswith(_SHAPE) else f"{phase}_{name}"
            features[key] = float(value)
    return features


def _fingerprint(settings: Path, phases: Sequence[str], perturbation: str | None = None) -> str:
    digest = hashlib.sha256(Path(settings).read_bytes())
    digest.update(",".join(phases).encode())
    if perturbation is not None:
        digest.update(f"|mask:{perturbation}".encode())
    return digest.hexdigest()


_Job = tuple[dict[str, Any], tuple[str, ...], str, str | None, Perturbation | None]


def _one(job: _Job, extractor: Any = None) -> tuple[str, dict[str, float]]:
    """One case's features; a case whose perturbed mask cannot be measured gets no features and a warning.

    (Its row is then NaN in the cohort table and the ICC filter leaves the case out.) A missing file or a
    failure inside the original mask stays an error.
    """
    case, phases, settings, base, perturbation = job
    case_id = str(case["case_id"])
    try:
        return case_id, extract_case(case, phases, settings, Path(base) if base else None, extractor, perturbation)
    except PerturbedMaskError as error:
        logger.warning("%s The ICC filter leaves the case out.", error)
        return case_id, {}


def extract_cohort(
    datalist: Path | str,
    phases: Sequence[str],
    settings: Path | str = DEFAULT_SETTINGS,
    parts: Sequence[str] = ("training", "test"),
    cache: Path | None = None,
    workers: int = 1,
    progress: bool = True,
    case_ids: Collection[str] | None = None,
    perturbation: Perturbation | None = None,
) -> pd.DataFrame:
    """Features of every case of ``parts`` of a datalist: one row per ``case_id``, plus ``split`` and ``label``.

    ``case_ids`` restricts the extraction to those cases (e.g. the ones that have every phase).
    ``perturbation`` extracts inside the eroded or dilated tumor mask; a case whose perturbed mask cannot be
    measured (nothing left after erosion, fewer voxels than pyradiomics' minimum) gets a row of NaN and a warning.

    ``cache`` (a CSV) keeps extracted rows between runs, written every 20 cases so that a stopped extraction
    resumes where it was; a sidecar ``<cache>.json`` records the sha256 of the settings file, the phases and the
    perturbation, and a cache made with others is ignored and rewritten.
    """
    from tqdm.auto import tqdm

    datalist = Path(datalist)
    try:
        content = json.loads(datalist.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        raise InputError(f"Datalist {datalist} cannot be read ({error}).") from None
    cases = [{**c, "split": part} for part in parts for c in content.get(part, [])
             if case_ids is None or str(c.get("case_id")) in case_ids]  # fmt: skip
    if not cases:
        raise InputError(f"Datalist {datalist} has no cases in {', '.join(parts)}.")
    settings = Path(settings)
    phases = tuple(phases)
    fingerprint = _fingerprint(settings, phases, perturbation)
    done = pd.DataFrame()
    sidecar = Path(f"{cache}.json") if cache else None
    if cache and Path(cache).is_file() and sidecar and sidecar.is_file():
        if json.loads(sidecar.read_text()).get("fingerprint") == fingerprint:
            done = pd.read_csv(cache, index_col="case_id", dtype={"case_id": str})
        else:
            logger.info("Radiomics cache %s was made with other settings, phases or masks: extracting again.",
                        cache)  # fmt: skip
    todo = [c for c in cases if str(c["case_id"]) not in done.index]
    rows: dict[str, dict[str, float]] = {}
    jobs: list[_Job] = [(c, phases, str(settings), str(datalist.parent), perturbation) for c in todo]
    meta = {"fingerprint": fingerprint, "phases": list(phases), "settings": str(settings),
            "mask": perturbation or "original"}  # fmt: skip

    def save() -> pd.DataFrame:
        """Write what is extracted so far (atomically): a stopped extraction resumes from it."""
        new = pd.DataFrame.from_dict(rows, orient="index").reindex(list(rows))  # a failed perturbed case: NaN row
        new.index.name = "case_id"
        features = pd.concat([done.drop(columns=["split", "label"], errors="ignore"), new])
        if cache and rows:
            Path(cache).parent.mkdir(parents=True, exist_ok=True)
            tmp = Path(f"{cache}.tmp")
            features.to_csv(tmp)
            os.replace(tmp, cache)
            sidecar.write_text(json.dumps(meta) + "\n")
        return features

    def extracted(case_id: str, features: dict[str, float]) -> None:
        rows[case_id] = features
        bar.update()
        if len(rows) % _SAVE_EVERY == 0:
            save()

    bar = tqdm(total=len(jobs), desc="radiomics", disable=not progress or not jobs, leave=False)
    if workers > 1 and len(jobs) > 1:
        with ProcessPoolExecutor(workers) as pool:
            for case_id, features in pool.map(_one, jobs, chunksize=4):
                extracted(case_id, features)
    else:
        extractor = _extractor(settings)
        for job in jobs:
            extracted(*_one(job, extractor))
    bar.close()
    features = save()
    ids = [str(c["case_id"]) for c in cases]
    out = features.loc[ids].copy()
    out["split"] = [c["split"] for c in cases]
    out["label"] = [c.get("label") for c in cases]
    logger.info("Radiomics: %d features of %d cases (%d extracted now).", features.shape[1], len(ids), len(rows))
    return out
