"""Write synthetic series as MR Image Storage instances (PS3.3 A.4, classic single-frame MR).

highdicom builds derived objects (SEG, SR) but has no constructor for acquired MR images,
so each module of the MR Image IOD is filled here from the protocol plan, one function per
module, with the attribute tags cited. Files are Part 10 with Explicit VR Little Endian.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pydicom
from pydicom.datadict import dictionary_VR
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import PYDICOM_IMPLEMENTATION_UID, ExplicitVRLittleEndian, MRImageStorage, generate_uid

from hccp53 import __version__
from hccp53.synth.geometry import Grid
from hccp53.synth.protocol import ImageGroup, SeriesPlan, StudyPlan

BITS_STORED = 12
MAX_STORED = 2**BITS_STORED - 1


class Uids:
    """Deterministic UIDs: the same seed, case and parts always give the same UID."""

    def __init__(self, seed: int, case_id: str) -> None:
        self._base = f"hccp53-synth:{seed}:{case_id}"

    def __call__(self, *parts: object) -> str:
        return generate_uid(entropy_srcs=[self._base, *map(str, parts)])


@dataclass(frozen=True)
class StudyInfo:
    """Patient and study level values shared by every instance of a case."""

    patient_name: str
    patient_id: str
    birth_date: str
    sex: str
    age_years: int
    weight_kg: float
    study_uid: str
    study_start: dt.datetime
    accession: str
    frame_of_reference_uid: str


def ds_number(value: float) -> str:
    """Format a decimal string (DS, at most 16 characters)."""
    text = f"{value:.4f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _set(ds: Dataset, keyword: str, value: object) -> None:
    """Set an attribute, formatting floats as decimal strings only where its VR is DS."""
    if isinstance(value, float) and dictionary_VR(keyword) == "DS":
        value = ds_number(value)
    setattr(ds, keyword, value)


def _time(start: dt.datetime, seconds: float) -> tuple[str, str]:
    moment = start + dt.timedelta(seconds=float(seconds))
    return moment.strftime("%Y%m%d"), moment.strftime("%H%M%S.%f")[:13]


def _patient_and_study(ds: Dataset, study: StudyInfo) -> None:
    # Patient module (C.7.1.1)
    ds.PatientName = study.patient_name
    ds.PatientID = study.patient_id
    ds.PatientBirthDate = study.birth_date
    ds.PatientSex = study.sex
    # General Study (C.7.2.1) and Patient Study (C.7.2.2)
    ds.StudyInstanceUID = study.study_uid
    ds.StudyDate, ds.StudyTime = _time(study.study_start, 0.0)
    ds.ReferringPhysicianName = ""
    ds.StudyID = study.accession[-6:]
    ds.AccessionNumber = study.accession
    ds.StudyDescription = "MR ABDOMEN LIVER W WO CONTRAST"
    ds.PatientAge = f"{study.age_years:03d}Y"
    ds.PatientWeight = ds_number(study.weight_kg)


def _series_and_equipment(ds: Dataset, plan: StudyPlan, series: SeriesPlan, series_uid: str,
                          study: StudyInfo, position: str) -> None:
    # General Series (C.7.3.1)
    ds.Modality = "MR"
    ds.SeriesInstanceUID = series_uid
    ds.SeriesNumber = series.number
    ds.SeriesDescription = series.description
    ds.ProtocolName = series.description
    ds.SeriesDate, ds.SeriesTime = _time(study.study_start, series.start_s)
    ds.BodyPartExamined = "ABDOMEN"
    ds.PatientPosition = position
    # Frame of Reference (C.7.4.1): one per study, the table does not move between series.
    ds.FrameOfReferenceUID = study.frame_of_reference_uid
    ds.PositionReferenceIndicator = ""
    # General Equipment (C.7.5.1)
    for keyword, value in plan.equipment.items():
        setattr(ds, keyword, value)
    ds.InstitutionName = "HCCP53 SYNTHETIC SITE"


def _contrast(ds: Dataset, plan: StudyPlan, study: StudyInfo) -> None:
    # Contrast/Bolus (C.7.6.4): present on every series acquired after the injection.
    ds.ContrastBolusAgent = plan.agent_text
    ds.ContrastBolusRoute = "IV"
    ds.ContrastBolusVolume = "10" if plan.agent == "gadoxetic" else "15"
    ds.ContrastBolusIngredient = "GADOLINIUM"
    if plan.bolus_start_written:
        ds.ContrastBolusStartTime = _time(study.study_start, plan.injection_s)[1]


def _mr_image(ds: Dataset, plan: StudyPlan, series: SeriesPlan, grid: Grid, thickness: float) -> None:
    # MR Image module (C.8.3.1): sequence parameters shared by the series.
    for keyword, value in series.technique.items():
        _set(ds, keyword, value)
    ds.MagneticFieldStrength = ds_number(plan.field_strength)
    ds.ImagingFrequency = ds_number(42.577478 * plan.field_strength)
    ds.ImagedNucleus = "1H"
    ds.NumberOfAverages = "1"
    ds.SpacingBetweenSlices = ds_number(grid.spacing[0])
    ds.SliceThickness = ds_number(thickness)
    ds.PercentSampling = "100"
    ds.PercentPhaseFieldOfView = ds_number(100.0 * grid.shape[1] / grid.shape[2])
    ds.AcquisitionMatrix = [grid.shape[2], 0, 0, grid.shape[1]]
    ds.InPlanePhaseEncodingDirection = "COL"
    ds.ReceiveCoilName = "TORSO"
    ds.TransmitCoilName = "BODY"
    ds.PixelBandwidth = ds_number(390.0)


def _window(values: np.ndarray) -> tuple[str, str]:
    low, high = np.percentile(values, [1.0, 99.5])
    return ds_number((low + high) / 2.0), ds_number(max(high - low, 1.0))


def write_series(
    folder: Path,
    plan: StudyPlan,
    series: SeriesPlan,
    images: list[tuple[ImageGroup, Grid, np.ndarray]],
    study: StudyInfo,
    uids: Uids,
    rescale_slope: float | None,
    patient_position: str,
) -> list[tuple[Dataset, int, int]]:
    """Write one series, every group's slices, as Part 10 files under ``folder``.

    Parameters
    ----------
    images:
        ``(group, grid, values)`` per image group; ``values[slice, row, column]`` are the
        real-world values a reader gets after the modality rescale.
    rescale_slope:
        Philips style: store ``values / slope`` with (0028,1053) *Rescale Slope*; None stores
        values directly.

    Returns
    -------
    list
        ``(dataset, group index, slice index)`` of every instance, in instance-number order.
    """
    folder.mkdir(parents=True, exist_ok=True)
    series_uid = uids("series", series.number)
    common = Dataset()
    common.SpecificCharacterSet = "ISO_IR 100"
    common.SOPClassUID = MRImageStorage
    _patient_and_study(common, study)
    _series_and_equipment(common, plan, series, series_uid, study, patient_position)
    if any(group.start_s >= plan.injection_s for group in series.groups):
        _contrast(common, plan, study)  # a multi-phase series holding any post-contrast image
    _mr_image(common, plan, series, series.grid, series.thickness)
    sample = [values.ravel()[:: max(1, values.size // 200000)] for _, _, values in images]
    center, width = _window(np.concatenate(sample))

    written: list[tuple[Dataset, int, int]] = []
    instance = 0
    for group_index, (group, grid, values) in enumerate(images):
        stored_values = values / rescale_slope if rescale_slope else values
        stored = np.clip(np.rint(stored_values), 0, MAX_STORED).astype(np.uint16)
        order = range(grid.shape[0] - 1, -1, -1) if series.descending else range(grid.shape[0])
        acquisition_s = series.start_s if series.shared_acquisition_time else group.start_s
        acq_date, acq_time = _time(study.study_start, acquisition_s)
        content_date, content_time = _time(study.study_start, group.start_s + series.duration_s + 15.0)
        for k in order:
            instance += 1
            ds = Dataset()
            ds.update(common)
            ds.SOPInstanceUID = uids("instance", series.number, instance)
            ds.InstanceCreationDate, ds.InstanceCreationTime = content_date, content_time
            # General Image (C.7.6.1) and General Acquisition (C.7.10.1)
            ds.InstanceNumber = instance
            ds.ImageType = list(group.image_type)
            ds.AcquisitionDate, ds.AcquisitionTime = acq_date, acq_time
            ds.ContentDate, ds.ContentTime = content_date, content_time
            ds.AcquisitionNumber = 1
            ds.ImagesInAcquisition = grid.shape[0]
            # Image Plane (C.7.6.2)
            position = grid.slice_position(k)
            ds.ImagePositionPatient = [ds_number(v) for v in position]
            ds.ImageOrientationPatient = [ds_number(v) for v in (*grid.orientation[0], *grid.orientation[1])]
            ds.PixelSpacing = [ds_number(grid.spacing[1]), ds_number(grid.spacing[2])]
            ds.SliceLocation = ds_number(float(position @ grid.axes[:, 2]))
            if grid is not series.grid:  # localizer planes
                ds.SliceThickness = ds_number(series.thickness)
                ds.SpacingBetweenSlices = ds_number(grid.spacing[0])
                ds.AcquisitionMatrix = [grid.shape[2], 0, 0, grid.shape[1]]
            for keyword, value in group.header.items():
                _set(ds, keyword, value)
            # Image Pixel (C.7.6.3)
            ds.SamplesPerPixel = 1
            ds.PhotometricInterpretation = "MONOCHROME2"
            ds.Rows, ds.Columns = grid.shape[1], grid.shape[2]
            ds.BitsAllocated = 16
            ds.BitsStored = BITS_STORED
            ds.HighBit = BITS_STORED - 1
            ds.PixelRepresentation = 0
            ds.PixelData = stored[k].tobytes()
            if rescale_slope:
                ds.RescaleIntercept = "0"
                ds.RescaleSlope = ds_number(rescale_slope)
                ds.RescaleType = "US"
            # VOI LUT (C.11.2)
            ds.WindowCenter, ds.WindowWidth = center, width
            _write(folder / f"IM{instance:05d}.dcm", ds)
            written.append((ds, group_index, k))
    return written


def _write(path: Path, ds: Dataset) -> None:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = ds.SOPClassUID
    meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    meta.ImplementationVersionName = f"HCCP53_{__version__}"[:16]
    ds.file_meta = meta
    pydicom.dcmwrite(path, ds, enforce_file_format=True)
