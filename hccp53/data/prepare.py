"""``hccp53 prepare``: a cohort of DICOM studies plus a labels CSV -> the prepared datalist of DESIGN.md.

Each study goes through the code the app uses (:func:`~hccp53.dicomio.load_study`,
:func:`~hccp53.phases.identify_phases`, :func:`~hccp53.volumes.study.study_volumes`); its
phases are written as NIfTI on the reference phase's grid with the transforms applied, and
its tumor mask (NIfTI or DICOM SEG, optional) is resampled onto the same grid.

The labels CSV has one row per case: ``label`` (1 = P53-mutated, 0 = wild-type) and a way to
find the study: ``dicom`` (folder, relative to ``--dicom``), ``case_id`` (a sub-folder of
``--dicom`` of that name), ``study_uid`` or ``patient_id`` (matched against the studies'
headers). An optional ``mask`` column gives a tumor mask path (relative to the CSV). Every
other column is a clinical variable. A case that cannot be prepared is skipped with its
reason in ``skipped.json`` and the summary, never silently.
"""

from __future__ import annotations

import csv
import json
import logging
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
import SimpleITK as sitk
from tqdm import tqdm

from hccp53 import PHASES, __version__
from hccp53.data.splits import make_splits
from hccp53.dicomio.loader import study_files
from hccp53.errors import ConfigError, HccP53Error, InputError
from hccp53.staging import staged_output

logger = logging.getLogger(__name__)

_LOOKUP_COLUMNS = ("dicom", "case_id", "study_uid", "patient_id")


@dataclass
class PrepareSummary:
    out: Path
    prepared: list[str]
    skipped: list[dict[str, str]] = field(default_factory=list)
    seconds: float = 0.0


@dataclass(frozen=True)
class CaseRequest:
    case_id: str
    folder: Path
    label: int | None  # None: not known (a mask saved by an annotator); the entry then has no ``label``
    clinical: dict[str, Any]
    mask: Path | None


def _number(text: str) -> Any:
    text = text.strip()
    if text == "":
        return None
    try:
        value = float(text)
    except ValueError:
        return text
    return int(value) if value.is_integer() and "." not in text else value


def read_labels(path: Path) -> list[dict[str, str]]:
    """Rows of the labels CSV.

    Raises
    ------
    ConfigError
        Missing file, no ``label`` column, or no column to find the studies by.
    """
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            rows = list(csv.DictReader(handle))
    except OSError as error:
        raise ConfigError(f"Cannot read the labels CSV {path}: {error.strerror}.") from None
    columns = set(rows[0]) if rows else set()
    if "label" not in columns:
        raise ConfigError(f"The labels CSV {path} has no 'label' column (1 = P53-mutated, 0 = wild-type).")
    if not columns & set(_LOOKUP_COLUMNS):
        raise ConfigError(f"The labels CSV {path} needs one of the columns {', '.join(_LOOKUP_COLUMNS)} to find "
                          "each case's study.")
    return rows


def _study_index(root: Path) -> dict[str, dict[str, Path]]:
    """Sub-folders of ``root`` by folder name, StudyInstanceUID and PatientID (first readable file)."""
    index: dict[str, dict[str, Path]] = {"case_id": {}, "study_uid": {}, "patient_id": {}}
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        index["case_id"][folder.name] = folder
        for path in study_files(folder):
            try:
                ds = pydicom.dcmread(path, stop_before_pixels=True)
            except (pydicom.errors.InvalidDicomError, OSError, EOFError, ValueError):
                continue
            if "StudyInstanceUID" in ds:
                index["study_uid"][str(ds.StudyInstanceUID)] = folder
                index["patient_id"][str(ds.get("PatientID", ""))] = folder
                break
    return index


def _requests(rows: list[dict[str, str]], dicom_root: Path, labels_csv: Path
              ) -> tuple[list[CaseRequest], list[dict[str, str]]]:
    index = _study_index(dicom_root)
    requests, skipped = [], []
    for number, row in enumerate(rows, start=2):  # line 1 is the header
        case_id = (row.get("case_id") or "").strip() or f"row{number}"
        folder = None
        if (row.get("dicom") or "").strip():
            folder = dicom_root / row["dicom"].strip()
        else:
            for column in ("case_id", "study_uid", "patient_id"):
                key = (row.get(column) or "").strip()
                if key and key in index[column]:
                    folder = index[column][key]
                    break
        if folder is None or not folder.is_dir():
            skipped.append({"case_id": case_id, "reason": f"no study folder found under {dicom_root} (CSV line "
                                                          f"{number})"})
            continue
        if not (row.get("case_id") or "").strip():
            case_id = folder.name  # no case_id column: the study's folder names the case
        label_text = (row.get("label") or "").strip()
        if label_text not in ("0", "1"):
            skipped.append({"case_id": case_id, "reason": f"label must be 0 or 1, got {label_text!r} (CSV line "
                                                          f"{number})"})
            continue
        mask_text = (row.get("mask") or "").strip()
        mask = (labels_csv.parent / mask_text) if mask_text else None
        clinical = {k: _number(v or "") for k, v in row.items()
                    if k not in (*_LOOKUP_COLUMNS, "label", "mask") and k is not None}
        requests.append(CaseRequest(case_id, folder, int(label_text), clinical, mask))
    return requests, skipped


def _mask_image(path: Path) -> sitk.Image:
    """A tumor mask from NIfTI (values > 0.5) or DICOM SEG (segments that name a tumor, else all)."""
    if not path.is_file():
        raise InputError(f"The tumor mask {path} does not exist.")
    if path.suffix.lower() == ".dcm" or _is_dicom(path):
        import highdicom as hd

        try:
            seg = hd.seg.segread(path)
        except (AttributeError, ValueError, TypeError, KeyError) as error:
            raise InputError(f"The tumor mask {path.name} is not a readable DICOM SEG ({error}).") from None
        tumor = [int(s.SegmentNumber) for s in seg.SegmentSequence
                 if any(word in str(s.SegmentLabel).lower() for word in ("tumor", "tumour", "lesion", "hcc"))]
        volume = seg.get_volume(segment_numbers=tumor or None, combine_segments=True)
        array = (np.asarray(volume.array) > 0).astype(np.uint8)
        affine = np.asarray(volume.affine)  # LPS from (slice, row, column) indices
        image = sitk.GetImageFromArray(array)  # sitk axes: column, row, slice
        columns = affine[:3, :3]
        spacing = np.linalg.norm(columns, axis=0)  # slice, row, column
        direction = columns / spacing
        image.SetSpacing((float(spacing[2]), float(spacing[1]), float(spacing[0])))
        image.SetOrigin(tuple(float(v) for v in affine[:3, 3]))
        image.SetDirection(tuple(float(v) for v in np.stack([direction[:, 2], direction[:, 1], direction[:, 0]],
                                                             axis=1).flatten()))
        return image
    try:
        image = sitk.ReadImage(str(path))
    except RuntimeError:
        raise InputError(f"The tumor mask {path.name} is neither NIfTI nor a DICOM SEG.") from None
    return sitk.Cast(sitk.Cast(image, sitk.sitkFloat32) > 0.5, sitk.sitkUInt8)  # float first: no overflow


def _is_dicom(path: Path) -> bool:
    with path.open("rb") as handle:
        handle.seek(128)
        return handle.read(4) == b"DICM"


def prepare_case(request: CaseRequest, staging: Path, required: tuple[str, ...], reference_phase: str,
                 register: bool) -> dict[str, Any]:
    """Prepare one case into ``staging/cases/<case_id>`` and return its datalist entry."""
    from hccp53.dicomio import load_study
    from hccp53.phases import identify_phases
    from hccp53.volumes.resample import resample_mask
    from hccp53.volumes.study import study_volumes

    study = load_study(request.folder)
    found = identify_phases(study, require=required)
    volumes = study_volumes(study, found, phases=PHASES, reference_phase=reference_phase, register=register)
    folder = staging / "cases" / request.case_id
    volumes.save(folder)
    entry: dict[str, Any] = {"case_id": request.case_id}
    for phase in PHASES:
        if phase in volumes.images:
            entry[phase] = f"cases/{request.case_id}/{phase}.nii.gz"
    if request.mask is not None:
        mask = resample_mask(_mask_image(request.mask), volumes.images[reference_phase])
        if int(sitk.GetArrayViewFromImage(mask).sum()) == 0:
            raise InputError(f"The tumor mask of {request.case_id} does not overlap the study's reference phase.")
        sitk.WriteImage(mask, str(folder / "mask.nii.gz"), useCompression=True)
        entry["mask"] = f"cases/{request.case_id}/mask.nii.gz"
    if request.label is not None:
        entry["label"] = request.label
    entry["clinical"] = request.clinical
    (folder / "phases.json").write_text(json.dumps(found.to_json(), indent=2) + "\n", encoding="utf-8")
    return entry


def _prepare_or_skip(request: CaseRequest, staging: Path, required: tuple[str, ...], reference_phase: str,
                     register: bool) -> tuple[str, dict[str, Any] | None, str | None]:
    try:
        return request.case_id, prepare_case(request, staging, required, reference_phase, register), None
    except HccP53Error as error:
        return request.case_id, None, str(error)


def prepare_cohort(
    dicom_root: str | Path,
    labels_csv: str | Path,
    out: str | Path,
    required: tuple[str, ...],
    reference_phase: str = "pvp",
    register: bool = False,
    workers: int = 1,
    test_fraction: float = 0.2,
    folds: int = 5,
    seed: int = 0,
    overwrite: bool = False,
    progress: bool = True,
) -> PrepareSummary:
    """Prepare every case of the labels CSV; write ``datalist.json``, ``splits.json``, ``skipped.json``.

    ``required`` are the phases a case must have, else it is skipped (``hccp53 prepare --require``); every
    phase that is identified is written.

    Raises
    ------
    ConfigError, InputError, OutputError
        Bad arguments, unreadable CSV, missing DICOM root, unusable output folder, or no case
        that could be prepared — before anything is left behind.
    """
    dicom_root, labels_csv, out = Path(dicom_root), Path(labels_csv), Path(out)
    if not dicom_root.is_dir():
        raise InputError(f"The DICOM folder {dicom_root} does not exist; give the folder holding one sub-folder per "
                         "study.")
    if workers < 1:
        raise ConfigError(f"The number of workers must be a positive integer, got {workers!r}.")
    rows = read_labels(labels_csv)
    started = time.perf_counter()
    requests, skipped = _requests(rows, dicom_root, labels_csv)
    entries: dict[str, dict[str, Any]] = {}
    with staged_output(out, overwrite) as staging:
        bar = tqdm(total=len(requests), desc="prepare", unit="case", disable=not progress, dynamic_ncols=True)
        arguments = (staging, required, reference_phase, register)
        if workers == 1 or len(requests) <= 1:
            outcomes = []
            for request in requests:
                outcomes.append(_prepare_or_skip(request, *arguments))
                bar.update()
        else:
            with ProcessPoolExecutor(max_workers=min(workers, len(requests))) as pool:
                futures = [pool.submit(_prepare_or_skip, request, *arguments) for request in requests]
                outcomes = []
                for future in as_completed(futures):
                    outcomes.append(future.result())
                    bar.update()
        bar.close()
        for case_id, entry, reason in sorted(outcomes, key=lambda o: o[0]):
            if entry is None:
                skipped.append({"case_id": case_id, "reason": reason or "unknown"})
                logger.warning("skipped %s: %s", case_id, reason)
            else:
                entries[case_id] = entry
        if not entries:
            raise InputError(f"No case could be prepared ({len(skipped)} skipped; first: "
                             f"{skipped[0]['case_id']}: {skipped[0]['reason']})." if skipped else
                             "The labels CSV has no rows.")
        ids = sorted(entries)
        split = make_splits(ids, [entries[c]["label"] for c in ids], test_fraction, folds, seed)
        fold_of = {case: f for f, fold in enumerate(split["folds"]) for case in fold["val"]}
        datalist = {
            "name": "hccp53 prepared cohort", "reference_phase": reference_phase, "registered": register,
            "labels": {"0": "P53 wild-type", "1": "P53-mutated"}, "seed": seed, "generator": f"hccp53 {__version__}",
            "training": [dict(entries[c], fold=fold_of.get(c, -1)) for c in split["training"]],
            "test": [entries[c] for c in split["test"]],
        }
        (staging / "datalist.json").write_text(json.dumps(datalist, indent=2) + "\n", encoding="utf-8")
        (staging / "splits.json").write_text(json.dumps(split, indent=2) + "\n", encoding="utf-8")
        (staging / "skipped.json").write_text(json.dumps(skipped, indent=2) + "\n", encoding="utf-8")
    return PrepareSummary(out, sorted(entries), skipped, time.perf_counter() - started)
