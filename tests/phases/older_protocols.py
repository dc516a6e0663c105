"""Header-only DICOM studies of older and plainer liver protocols (issue 27), written for the loader.

Each study is a list of series, each written as real MR Image Storage files with the headers a
scanner of that generation writes (Manufacturer, ManufacturerModelName, SeriesDescription,
ImageType, ScanningSequence, SequenceName, MRAcquisitionType, TR/TE/flip angle, slice count and
spacing, AcquisitionTime/ContentTime/SeriesTime, TemporalPositionIdentifier and TriggerTime for a
multi-phase series, the Contrast/Bolus module after the injection). Only the in-plane matrix is
small (32 x 32 with a 12 mm pixel, a 384 mm field of view) so that the files stay small: phase
identification reads headers only.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

MR_IMAGE = "1.2.840.10008.5.1.4.1.1.4"
#: The injection of every study: 10:00:00.
INJECTION = dt.datetime(2008, 3, 4, 10, 0, 0)
MATRIX, PIXEL_MM = 32, 12.0

#: Sequence parameters by kind: ScanningSequence, SequenceVariant, MRAcquisitionType, TR, TE, flip, ScanOptions,
#: SequenceName, slice spacing (mm), slices.
SEQUENCES: dict[str, dict[str, Any]] = {
    "loc": dict(ScanningSequence="GR", SequenceVariant="SP", MRAcquisitionType="2D", RepetitionTime=5.5,
                EchoTime=1.6, FlipAngle=30, ScanOptions="", SequenceName="fl2d1", spacing=10.0, slices=3),
    "tse": dict(ScanningSequence="SE", SequenceVariant="SK", MRAcquisitionType="2D", RepetitionTime=3800.0,
                EchoTime=96.0, FlipAngle=180, ScanOptions="SAT1", SequenceName="tse5_15", spacing=8.0, slices=19),
    "fse": dict(ScanningSequence="SE", SequenceVariant="SK", MRAcquisitionType="2D", RepetitionTime=4000.0,
                EchoTime=85.0, FlipAngle=90, ScanOptions="FAST_GEMS\\FS", SequenceName="fse-xl", spacing=9.0,
                slices=20),
    # MAGNETOM Vision FLASH 2D, breath-hold, TE 4.1 ms (in phase at 1.5 T on that scanner)
    "fl2d": dict(ScanningSequence="GR", SequenceVariant="SP", MRAcquisitionType="2D", RepetitionTime=140.0,
                 EchoTime=4.1, FlipAngle=80, ScanOptions="", SequenceName="fl2d1", spacing=9.6, slices=19),
    # Genesis/Signa 2D spoiled gradient echo
    "gre_in": dict(ScanningSequence="GR", SequenceVariant="SP", MRAcquisitionType="2D", RepetitionTime=150.0,
                   EchoTime=4.4, FlipAngle=80, ScanOptions="", SequenceName="fspgr", spacing=9.0, slices=22),
    "gre_opp": dict(ScanningSequence="GR", SequenceVariant="SP", MRAcquisitionType="2D", RepetitionTime=150.0,
                    EchoTime=2.2, FlipAngle=80, ScanOptions="", SequenceName="fspgr", spacing=9.0, slices=22),
    # a 2D FMPSPGR dynamic aimed at the tumour: 4 slices per time point
    "fmpspgr4": dict(ScanningSequence="GR", SequenceVariant="SP", MRAcquisitionType="2D", RepetitionTime=110.0,
                     EchoTime=1.8, FlipAngle=70, ScanOptions="FAST_GEMS", SequenceName="fmpspgr", spacing=8.0,
                     slices=4),
    "vibe": dict(ScanningSequence="GR", SequenceVariant="SP", MRAcquisitionType="3D", RepetitionTime=7.5,
                 EchoTime=4.8, FlipAngle=10, ScanOptions="", SequenceName="*fl3d1", spacing=3.0, slices=56),
    "vibe_fs": dict(ScanningSequence="GR", SequenceVariant="SP", MRAcquisitionType="3D", RepetitionTime=4.2,
                    EchoTime=1.9, FlipAngle=10, ScanOptions="FS", SequenceName="*fl3d1", spacing=3.0, slices=56),
    "lava": dict(ScanningSequence="GR", SequenceVariant="SS\\SP", MRAcquisitionType="3D", RepetitionTime=4.0,
                 EchoTime=1.9, FlipAngle=12, ScanOptions="FAST_GEMS\\FS", SequenceName="efgre3d", spacing=2.5,
                 slices=64),
    "dual": dict(ScanningSequence="GR", SequenceVariant="SP", MRAcquisitionType="2D", RepetitionTime=180.0,
                 EchoTime=2.2, FlipAngle=70, ScanOptions="", SequenceName="fspgr", spacing=8.0, slices=24),
}
SCANNERS = {
    "vision": ("SIEMENS", "MAGNETOM Vision"),
    "genesis": ("GE MEDICAL SYSTEMS", "Genesis_Signa"),
    "excite": ("GE MEDICAL SYSTEMS", "Signa Excite"),
    "hdxt": ("GE MEDICAL SYSTEMS", "Signa HDxt"),
    "avanto": ("SIEMENS", "Avanto"),
}


@dataclass
class Series:
    """One series: ``seconds`` after the injection (a list for a multi-phase series, one per time point)."""

    number: int
    description: str
    kind: str
    seconds: float | list[float]
    agent: str | None = None          # Contrast/Bolus Agent (None: no Contrast/Bolus module)
    image_type: str = "ORIGINAL\\PRIMARY\\OTHER"
    shared_time: bool = False         # a multi-phase series writing its start on every time point (GE)
    bolus_start: bool = False         # write ContrastBolusStartTime (the injection)
    overrides: dict[str, Any] = field(default_factory=dict)


@dataclass
class StudySpec:
    """A study and what phase identification must find: phase -> (series number, temporal position or None)."""

    name: str
    failure: str                      # the failure class of issue 27 it reproduces ("" for a control)
    scanner: str
    series: list[Series]
    expected: dict[str, tuple[int, int | None]]
    thin: tuple[str, ...] = ()        # phases whose evidence is thin: confidence must be lowered


def _tm(seconds: float) -> str:
    moment = INJECTION + dt.timedelta(seconds=seconds)
    return moment.strftime("%H%M%S") + f".{moment.microsecond // 1000:03d}"


def write_study(folder: Path, spec: StudySpec) -> Path:
    """Write one study as single-frame MR files under ``folder / spec.name``; return that folder."""
    out = folder / spec.name
    out.mkdir(parents=True)
    manufacturer, model = SCANNERS[spec.scanner]
    study_uid = generate_uid()
    pixels = np.zeros((MATRIX, MATRIX), dtype=np.uint16).tobytes()
    for series in spec.series:
        params = {**SEQUENCES[series.kind], **series.overrides}
        spacing, slices = params.pop("spacing"), params.pop("slices")
        series_uid = generate_uid()
        times = series.seconds if isinstance(series.seconds, list) else [series.seconds]
        multi = isinstance(series.seconds, list)
        for position, seconds in enumerate(times, start=1):
            for k in range(slices):
                ds = Dataset()
                ds.SOPClassUID, ds.SOPInstanceUID = MR_IMAGE, generate_uid()
                ds.StudyInstanceUID, ds.SeriesInstanceUID = study_uid, series_uid
                ds.PatientID, ds.PatientName = "ISSUE27", "Issue^TwentySeven"
                ds.StudyDate, ds.StudyTime = INJECTION.strftime("%Y%m%d"), _tm(-1800)
                ds.Modality, ds.Manufacturer, ds.ManufacturerModelName = "MR", manufacturer, model
                ds.SeriesNumber, ds.SeriesDescription = series.number, series.description
                ds.ImageType = series.image_type.split("\\")
                for keyword, value in params.items():
                    setattr(ds, keyword, value.split("\\") if isinstance(value, str) and "\\" in value else value)
                ds.SliceThickness = spacing
                ds.SeriesTime = _tm(times[0] - 5)
                ds.AcquisitionTime = _tm(times[0] if series.shared_time else seconds)
                ds.ContentTime = _tm((times[0] if series.shared_time else seconds) + 30 + k * 0.1)
                ds.InstanceNumber = (position - 1) * slices + k + 1
                if multi:
                    ds.TemporalPositionIdentifier = position
                    ds.NumberOfTemporalPositions = len(times)
                    ds.TriggerTime = (seconds - times[0]) * 1000.0
                    ds.AcquisitionNumber = position
                if series.agent is not None:
                    ds.ContrastBolusAgent = series.agent
                    if series.bolus_start:
                        ds.ContrastBolusStartTime = _tm(0)
                ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
                ds.ImagePositionPatient = [-192.0, -192.0, -80.0 + k * spacing]
                ds.PixelSpacing = [PIXEL_MM, PIXEL_MM]
                ds.Rows = ds.Columns = MATRIX
                ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
                ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
                ds.PixelData = pixels
                ds.file_meta = FileMetaDataset()
                ds.file_meta.MediaStorageSOPClassUID = MR_IMAGE
                ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
                ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
                ds.save_as(out / f"S{series.number:02d}_T{position:02d}_I{k + 1:03d}.dcm", enforce_file_format=True)
    return out


#: The corpus: one study per failure class of issue 27 (and controls that must keep today's behaviour).
STUDIES = [
    StudySpec(
        "vision_flash2d", "a truncated MAGNETOM Vision name `…/T1_F` read as a Dixon fat image", "vision", [
            Series(1, "LIVER-GAD-ENHANCEMENT/SCOUT", "loc", -900),
            Series(2, "LIVER-GAD-ENHANCEMENT/T2_TSE", "tse", -700),
            Series(3, "LIVER-GAD-ENHANCEMENT/T1_F", "fl2d", -150),
            Series(4, "LIVER-GAD-ENHANCEMENT/T1_F", "fl2d", 25),
            Series(5, "LIVER-GAD-ENHANCEMENT/T1_F", "fl2d", 68),
            Series(6, "LIVER-GAD-ENHANCEMENT/T1_F", "fl2d", 185),
        ],
        {"t2": (2, None), "pre": (3, None), "ap": (4, None), "pvp": (5, None), "dp": (6, None)},
        thin=("pre", "ap", "pvp", "dp")),
    StudySpec(
        "signa_inphase_2d", "2D in-phase gradient-echo dynamics set aside as in-phase images", "genesis", [
            Series(1, "3 PLANE LOC", "loc", -1000),
            Series(2, "AXIAL FSE T2 FS", "fse", -800),
            Series(3, "AXIAL IN PHASE", "gre_in", -400),
            Series(4, "AXIAL OUT PHASE", "gre_opp", -370),
            Series(5, "AXIAL IN PHASE POST 20 SEC", "gre_in", 24, agent="MAGNEVIST"),
            Series(6, "AXIAL IN PHASE POST 45 SEC", "gre_in", 62, agent="MAGNEVIST"),
            Series(7, "AXIAL IN PHASE POST 3 MIN", "gre_in", 190, agent="MAGNEVIST"),
        ],
        {"t2": (2, None), "ap": (5, None), "pvp": (6, None), "dp": (7, None)},
        thin=("ap", "pvp", "dp")),
    StudySpec(
        "vibe_inphase_pre", "a non-fat-saturated in-phase VIBE pre not reported as pre", "avanto", [
            Series(1, "localizer", "loc", -1000),
            Series(2, "t2_haste_tra_bh", "tse", -800),
            Series(3, "t1_fl2d_tra_bh", "fl2d", -500),          # a 2D FLASH: not used, 3D dynamics exist
            Series(4, "AX VIBE_Pre NON-FAT SAT IN-PHASE", "vibe", -200),
            Series(5, "AX VIBE FS ARTERIAL", "vibe_fs", 28, agent=""),
            Series(6, "AX VIBE FS VENOUS", "vibe_fs", 72, agent=""),
            Series(7, "AX VIBE FS 3 MIN", "vibe_fs", 182, agent=""),
        ],
        {"t2": (2, None), "pre": (4, None), "ap": (5, None), "pvp": (6, None), "dp": (7, None)}),
    StudySpec(
        "multiphase_short_interval", "a multi-phase time point chosen one position off", "excite", [
            Series(1, "3-Plane Loc", "loc", -1000),
            Series(2, "Ax SSFSE T2", "fse", -800),
            Series(3, "Ax LAVA MULTIPHASE", "lava", [-25, 20, 38, 56, 74, 92], agent="MAGNEVIST",
                   shared_time=True, bolus_start=True),
            Series(4, "Ax LAVA 3 MIN", "lava", 185, agent="MAGNEVIST", bolus_start=True),
        ],
        {"t2": (2, None), "pre": (3, 1), "ap": (3, 3), "pvp": (3, 5), "dp": (4, None)}),
    StudySpec(
        "unlabeled_post_only", "only unlabeled post-contrast series: the time order decides", "hdxt", [
            Series(1, "3-Plane Loc", "loc", -1000),
            Series(2, "Ax SSFSE T2", "fse", -800),
            Series(3, "Ax DUAL ECHO", "dual", -600),
            Series(4, "Ax 3D T1", "lava", 25, agent=""),
            Series(5, "Ax 3D T1", "lava", 70, agent=""),
            Series(6, "Ax 3D T1", "lava", 180, agent=""),
            Series(7, "Ax 3D T1", "lava", 300, agent=""),
        ],
        {"t2": (2, None), "ap": (4, None), "pvp": (5, None), "dp": (7, None)},
        thin=("ap", "pvp", "dp")),
    StudySpec(
        "few_slice_2d_dynamic", "2D dynamics with few slices per stack excluded as too few slices", "genesis", [
            Series(1, "3 PLANE LOC", "loc", -1000),
            Series(2, "AXIAL FSE T2 FS", "fse", -800),
            Series(3, "AX 3D FSPGR PRE", "lava", -300),
            Series(4, "AX FMPSPGR DYNAMIC", "fmpspgr4", [-15, 25, 70], agent="OMNISCAN"),
            Series(5, "AX 3D FSPGR 4 MIN", "lava", 240, agent="OMNISCAN"),
        ],
        {"t2": (2, None), "pre": (3, None), "ap": (4, 2), "pvp": (4, 3), "dp": (5, None)},
        thin=("ap", "pvp")),
]
