"""Load a DICOM study folder into :class:`~hccp53.dicomio.stack.ImageStack` objects, keeping every instance.

Unlike the MONAI Deploy SDK's ``DICOMDataLoaderOperator``, which drops instances that repeat
a slice position, this loader keeps them all and splits a series whose positions repeat into
one stack per time point, echo, Dixon component or b-value (see :mod:`hccp53.dicomio.split`).

Headers are read once with pixel data deferred: a file's pixels are read only when a stack
that holds it becomes a volume (:func:`hccp53.dicomio.volume.stack_to_image`). Unreadable
or truncated files inside an otherwise good study are skipped with a warning; what cannot
make a study at all (nothing readable, two patients, two studies, CT instead of MR) raises
:class:`~hccp53.errors.InputError` with one sentence.
"""

from __future__ import annotations

import gc
import logging
import os
from collections import defaultdict
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pydicom
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.uid import UID

from hccp53.dicomio.header import drop_unreadable, header_problem, integer
from hccp53.dicomio.split import split_series
from hccp53.dicomio.stack import Study
from hccp53.dicomio.values import parse_time
from hccp53.errors import InputError

logger = logging.getLogger(__name__)

MR_IMAGE = UID("1.2.840.10008.5.1.4.1.1.4")
ENHANCED_MR_IMAGE = UID("1.2.840.10008.5.1.4.1.1.4.1")
LEGACY_ENHANCED_MR_IMAGE = UID("1.2.840.10008.5.1.4.1.1.4.4")  # Legacy Converted Enhanced MR Image Storage
IMAGE_SOP_CLASSES = {
    "1.2.840.10008.5.1.4.1.1.2": "CT",       # CT Image Storage
    "1.2.840.10008.5.1.4.1.1.2.1": "CT",     # Enhanced CT
    "1.2.840.10008.5.1.4.1.1.4": "MR",
    "1.2.840.10008.5.1.4.1.1.4.1": "MR",
    "1.2.840.10008.5.1.4.1.1.4.4": "MR",     # Legacy Converted Enhanced MR
    "1.2.840.10008.5.1.4.1.1.7": "SC",       # Secondary Capture
    "1.2.840.10008.5.1.4.1.1.128": "PT",
}
DEFAULT_MAX_VOXELS = 512 * 512 * 1024    # per series, checked before any pixel is read
_DEFER = 2048                             # bytes: values larger than this are read on demand


def study_files(folder: Path) -> Iterable[Path]:
    """Every file under ``folder`` in sorted order, leaving out hidden files and folders and DICOMDIR."""
    for root, dirs, names in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(names):
            if not name.startswith(".") and name.upper() != "DICOMDIR":
                yield Path(root) / name


def _truncated(path: Path, ds: Dataset) -> bool:
    """True when the file ends before its (deferred) pixel data does."""
    raw = ds._dict.get(0x7FE00010)
    tell, length = getattr(raw, "value_tell", None), getattr(raw, "length", None)
    if tell is None or length is None or length == 0xFFFFFFFF:
        return False
    return path.stat().st_size < tell + length


def read_headers(folder: Path) -> tuple[list[tuple[Path, Dataset]], list[tuple[str, str]]]:
    """Every readable DICOM object under ``folder`` (pixels deferred) and the files skipped, with why."""
    if not folder.exists():
        raise InputError(f"The study folder {folder} does not exist; give the folder that holds the DICOM files.")
    if not folder.is_dir():
        raise InputError(f"{folder} is a file, not a folder; give the folder that holds the study's DICOM files.")
    datasets: list[tuple[Path, Dataset]] = []
    skipped: list[tuple[str, str]] = []
    for path in study_files(folder):
        try:
            ds = pydicom.dcmread(path, defer_size=_DEFER)
        except InvalidDicomError:
            skipped.append((path.name, "not a DICOM file"))
            continue
        except (OSError, EOFError, ValueError, KeyError, TypeError, AttributeError, OverflowError,
                NotImplementedError, IndexError) as error:
            skipped.append((path.name, f"unreadable ({type(error).__name__})"))
            continue
        dropped = drop_unreadable(ds)
        if dropped:
            logger.warning("%s: %s cannot be read (stored bytes do not fit the VR); treated as absent", path.name,
                           ", ".join(dropped))  # fmt: skip
        if "SOPClassUID" not in ds or "SeriesInstanceUID" not in ds or "StudyInstanceUID" not in ds:
            skipped.append((path.name, "no SOP Class, Series or Study Instance UID"))
            continue
        if _empty(ds, 0x7FE00010):
            skipped.append((path.name, "not an image (no pixel data)"))
            continue
        if _truncated(path, ds):
            skipped.append((path.name, "truncated: the file ends inside its pixel data"))
            continue
        datasets.append((path, ds))
    return datasets, skipped


def _check_one_patient_and_study(datasets: list[tuple[Path, Dataset]], study_uid: str | None) -> str:
    patients = {str(ds.get("PatientID", "")) for _, ds in datasets}
    studies = sorted({str(ds.StudyInstanceUID) for _, ds in datasets})
    if len(patients) > 1:
        raise InputError(
            f"The folder holds images of {len(patients)} patients; put each patient's study in its own folder.")
    if study_uid is not None:
        if study_uid not in studies:
            raise InputError(f"Study {study_uid} is not in the folder; it holds {len(studies)} other study(ies).")
        return study_uid
    if len(studies) > 1:
        raise InputError(
            f"The folder holds {len(studies)} studies of one patient; pass one study per folder or choose one "
            f"with --study-uid ({', '.join(studies)}).")
    return studies[0]


def load_study(folder: str | Path, study_uid: str | None = None, max_voxels: int = DEFAULT_MAX_VOXELS) -> Study:
    """Read a study folder and return its image stacks.

    Parameters
    ----------
    folder:
        Folder holding the DICOM files of one study (searched recursively).
    study_uid:
        Pick this study when the folder holds several of one patient.
    max_voxels:
        Series larger than this are rejected before their pixels are read.

    Returns
    -------
    Study
        Its ``stacks`` (series, or parts of multi-phase series), ``skipped`` files and
        ``rejected_series``, each with a reason.

    Raises
    ------
    InputError
        Nothing readable; several patients or studies; no MR images (e.g. a CT study).
    """
    with _collector_paused():
        return _load_study(Path(folder), study_uid, max_voxels)


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector while headers are read.

    Reading a study allocates hundreds of thousands of small objects that all stay alive;
    the collector's repeated scans of them cost ~15% of the loading time and free nothing.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _load_study(folder: Path, study_uid: str | None, max_voxels: int) -> Study:
    datasets, skipped = read_headers(folder)
    for name, reason in skipped:
        logger.warning("skipped %s: %s", name, reason)
    if not datasets:
        detail = f" ({len(skipped)} file(s) skipped: {skipped[0][1]}, ...)" if skipped else ""
        raise InputError(f"No DICOM image found in {folder}{detail}; give the folder of an MR study.")
    uid = _check_one_patient_and_study(datasets, study_uid)
    datasets = [(p, ds) for p, ds in datasets if str(ds.StudyInstanceUID) == uid]

    modalities = {str(ds.get("Modality", IMAGE_SOP_CLASSES.get(str(ds.SOPClassUID), "?"))) for _, ds in datasets}
    if "MR" not in modalities:
        raise InputError(
            f"The study holds {'/'.join(sorted(modalities))} images, not MR; hccp53 needs a multiphase liver MRI "
            "study.")

    by_series: dict[str, list[tuple[Path, Dataset]]] = defaultdict(list)
    for path, ds in datasets:
        by_series[str(ds.SeriesInstanceUID)].append((path, ds))
    study = Study(study_uid=uid, stacks=[], skipped=skipped)
    first = datasets[0][1]
    study.study_date = str(first.get("StudyDate", ""))
    study.study_time = parse_time(first.get("StudyTime"))
    for series_uid, items in sorted(by_series.items(), key=lambda kv: _series_order(kv[1][0][1])):
        label = _series_label(items[0][1])
        reason = _unusable(items, max_voxels)
        if reason:
            study.rejected_series.append((label, reason))
            logger.info("%s not used: %s", label, reason)
            continue
        stacks, problem = split_series(series_uid, items)
        if problem:
            study.rejected_series.append((label, problem))
            logger.warning("%s not used: %s", label, problem)
        study.stacks.extend(stacks)
        lookup = dict(items)
        for stack in stacks:
            for instance in stack.instances:
                study.datasets[instance.path] = lookup[instance.path]
    if not study.stacks:
        label, reason = study.rejected_series[0]
        more = f" (and {len(study.rejected_series) - 1} more series)" if len(study.rejected_series) > 1 else ""
        raise InputError(f"No usable image series in {folder}: {label} is {reason}{more}."
                         if reason.startswith("an ") else
                         f"No usable image series in {folder}: {label}: {reason}{more}.")
    logger.info("study: %d stack(s) from %d series, %d file(s) skipped, %d series not used",
                len(study.stacks), len(by_series), len(skipped), len(study.rejected_series))
    return study


_GEOMETRY_TAGS = ((0x00200032, "ImagePositionPatient"), (0x00200037, "ImageOrientationPatient"),
                  (0x00280030, "PixelSpacing"), (0x00280010, "Rows"), (0x00280011, "Columns"))


def _empty(ds: Dataset, tag: int) -> bool:
    """True when the element is absent or has no value, checked without converting it."""
    element = ds._dict.get(tag)
    if element is None:
        return True
    length = getattr(element, "length", None)  # raw (not yet converted) element
    if length is not None:
        return length == 0
    return element.value in (None, "", [])


def _series_order(ds: Dataset) -> tuple[int, str]:
    number = integer(ds.get("SeriesNumber"))
    return (number if number is not None else 10**9, str(ds.SeriesInstanceUID))


def _series_label(ds: Dataset) -> str:
    number = integer(ds.get("SeriesNumber"))
    return f"series {number if number is not None else '?'} (`{ds.get('SeriesDescription', '')}`)"


def _unusable(items: list[tuple[Path, Dataset]], max_voxels: int) -> str | None:
    """Why a series cannot give stacks at all, or None."""
    ds = items[0][1]
    modality = str(ds.get("Modality", ""))
    if modality != "MR":
        return f"modality {modality or 'missing'}, not MR"
    if str(ds.SOPClassUID) in (ENHANCED_MR_IMAGE, LEGACY_ENHANCED_MR_IMAGE):
        return ("an Enhanced MR multi-frame object, which hccp53 does not read yet; export the study as classic "
                "single-frame MR images")
    if str(ds.SOPClassUID) != MR_IMAGE:
        return f"SOP class {ds.SOPClassUID} is not MR Image Storage"
    for tag, keyword in _GEOMETRY_TAGS:
        if any(_empty(d, tag) for _, d in items):
            return f"its geometry attribute {keyword} is missing, so its images cannot be placed in space"
    for _, d in items:
        problem = header_problem(d)
        if problem:
            return problem
    voxels = int(ds.Rows) * int(ds.Columns) * len(items) * (integer(ds.get("NumberOfFrames")) or 1)
    if voxels > max_voxels:
        return f"{voxels:,} voxels exceed the limit of {max_voxels:,}; refused before reading its pixels"
    if any((integer(d.get("SamplesPerPixel")) or 1) != 1 for _, d in items):
        return "colour images (SamplesPerPixel > 1), not MR magnitude images"
    return None
