"""The bad-input corpus: one good synthetic study broken in each way a hospital's data can be broken.

Every case is made by code from a good study (its ``dicom/`` folder and the generator's ``truth.json``), so the
corpus is reproducible and grows by adding a function here, not by collecting files. Each case says what the app
must do with it:

- ``error``: exit 1 with exactly one ``hccp53 app: error:`` sentence that matches ``message``, no traceback and
  an empty (or absent) output folder;
- ``ok``: exit 0 with the usual four outputs, and a log line that matches ``message`` (the warning the user
  should see), when one is given.

Run it alone to look at the cases::

    python tests/reliability/corpus.py GOOD_CASE_FOLDER OUT_FOLDER   # GOOD_CASE_FOLDER holds dicom/, truth.json

It writes ``OUT_FOLDER/<case>/`` (a study folder each) and ``OUT_FOLDER/corpus.json`` (the expectations).
``tests/reliability/test_corpus.py`` runs the app on every case.
"""

from __future__ import annotations

import argparse
import json
import shutil
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pydicom
from pydicom.uid import JPEG2000Lossless, JPEGLSLossless, RLELossless, generate_uid

# A limit on voxels per series that the `huge` case exceeds (the app reads it from configs/inference.yaml).
HUGE_ROWS = HUGE_COLUMNS = 20_000


@dataclass(frozen=True)
class Case:
    """One corpus entry: its folder name, what was done to the study and what the app must answer."""

    name: str
    broken: str
    expect: str  # "error" | "ok"
    message: str  # regular expression: the error sentence, or a warning the log must hold ("" for none)


@dataclass
class GoodStudy:
    """A copy of the good study to break, with the truth of its phases."""

    folder: Path
    truth: dict

    def files(self) -> list[Path]:
        return sorted(p for p in self.folder.rglob("*") if p.is_file())

    def phase_files(self, phase: str) -> list[Path]:
        """The instances of one phase (its series, and its temporal position when the series holds several)."""
        entry = self.truth["phases"][phase]
        chosen = []
        for path in self.files():
            ds = pydicom.dcmread(path, stop_before_pixels=True)
            if ds.SeriesInstanceUID != entry["series_instance_uid"]:
                continue
            position = int(ds.get("TemporalPositionIdentifier", 0))
            if "temporal_position" in entry and position != entry["temporal_position"]:
                continue
            if "selector" in entry and tuple(ds.ImageType) != tuple(entry["selector"]["ImageType"]):
                continue
            chosen.append(path)
        if not chosen:
            raise RuntimeError(f"the good study has no files for phase {phase}")
        return sorted(chosen, key=lambda p: float(pydicom.dcmread(p, stop_before_pixels=True).ImagePositionPatient[2]))

    def rewrite(self, paths: list[Path], change: Callable[[pydicom.Dataset], None]) -> None:
        for path in paths:
            ds = pydicom.dcmread(path)
            change(ds)
            ds.save_as(path, enforce_file_format=True)


def _empty(study: GoodStudy) -> None:
    shutil.rmtree(study.folder)
    study.folder.mkdir()


def _not_dicom(study: GoodStudy) -> None:
    _empty(study)
    (study.folder / "report.txt").write_text("Liver MRI, arterial phase hyperenhancement in segment VII.\n")
    (study.folder / "key_image.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(200))
    (study.folder / "IM0001.dcm").write_bytes(b"")  # an empty file with a DICOM name
    (study.folder / "archive.zip").write_bytes(b"PK\x03\x04" + bytes(100))


def _corrupt_files_mixed_in(study: GoodStudy) -> None:
    pvp = study.phase_files("pvp")
    victim = pvp[len(pvp) // 2]
    victim.write_bytes(victim.read_bytes()[:-700])  # truncated inside its pixel data
    (study.folder / "garbage.dcm").write_bytes(b"\x00" * 128 + b"DICM" + b"\xff" * 40)
    (study.folder / "notes.txt").write_text("radiologist's notes")
    (study.folder / "zero_bytes.dcm").write_bytes(b"")


def _missing_phase(study: GoodStudy) -> None:
    for path in study.phase_files("ap"):
        path.unlink()


def _two_patients(study: GoodStudy) -> None:
    def other_patient(ds: pydicom.Dataset) -> None:
        ds.PatientID, ds.PatientName = "OTHER-PATIENT-7", "Other^Patient"

    study.rewrite(study.phase_files("t2"), other_patient)


def _ct_not_mr(study: GoodStudy) -> None:
    def to_ct(ds: pydicom.Dataset) -> None:
        ds.Modality, ds.SOPClassUID = "CT", "1.2.840.10008.5.1.4.1.1.2"
        ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID

    study.rewrite(study.files(), to_ct)


def _duplicated_slices(study: GoodStudy) -> None:
    source = study.phase_files("pvp")[3]
    ds = pydicom.dcmread(source)
    ds.SOPInstanceUID = generate_uid()
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.InstanceNumber = 999
    ds.save_as(source.with_name("DUPLICATE.dcm"), enforce_file_format=True)


def _inconsistent_positions(study: GoodStudy) -> None:
    def shift(ds: pydicom.Dataset) -> None:
        x, y, z = (float(v) for v in ds.ImagePositionPatient)
        ds.ImagePositionPatient = [x, y, z + 1.3]

    study.rewrite([study.phase_files("pvp")[4]], shift)


def _single_slice(study: GoodStudy) -> None:
    for path in study.phase_files("pvp")[1:]:
        path.unlink()


def _all_zero_pixels(study: GoodStudy) -> None:
    def blank(ds: pydicom.Dataset) -> None:
        ds.PixelData = np.zeros_like(ds.pixel_array).tobytes()

    study.rewrite(study.phase_files("pvp"), blank)


def _rescale_slope_zero(study: GoodStudy) -> None:
    def zero(ds: pydicom.Dataset) -> None:
        ds.RescaleSlope, ds.RescaleIntercept = "0", "0"

    study.rewrite(study.phase_files("ap"), zero)


def _rescale_overflow(study: GoodStudy) -> None:
    def overflow(ds: pydicom.Dataset) -> None:  # float('1e400') is inf: stored value x slope is inf or NaN
        ds.RescaleSlope, ds.RescaleIntercept = "1e400", "0"

    study.rewrite(study.phase_files("ap"), overflow)


def _enhanced_mr(study: GoodStudy) -> None:
    import highdicom

    files = study.phase_files("pvp")
    legacy = [pydicom.dcmread(p) for p in files]
    enhanced = highdicom.legacy.LegacyConvertedEnhancedMRImage(
        legacy_datasets=legacy, series_instance_uid=generate_uid(), series_number=900,
        sop_instance_uid=generate_uid(), instance_number=1)  # fmt: skip
    for path in files:
        path.unlink()
    enhanced.save_as(study.folder / "ENHANCED_PVP.dcm")


def _compressed(study: GoodStudy) -> None:
    for phase, syntax in (("t2", RLELossless), ("ap", JPEGLSLossless), ("pvp", JPEG2000Lossless)):
        study.rewrite(study.phase_files(phase), lambda ds, syntax=syntax: ds.compress(syntax))


def _oblique(study: GoodStudy) -> None:
    """Every series tilted by 20 degrees about the patient's left-right axis (the whole study, consistently)."""
    angle = np.deg2rad(20.0)
    rotation = np.array([[1, 0, 0], [0, np.cos(angle), -np.sin(angle)], [0, np.sin(angle), np.cos(angle)]])
    centre = np.array([0.0, 0.0, 0.0])

    def tilt(ds: pydicom.Dataset) -> None:
        if "ImageOrientationPatient" not in ds:
            return
        orientation = np.asarray(ds.ImageOrientationPatient, dtype=float).reshape(2, 3)
        position = np.asarray(ds.ImagePositionPatient, dtype=float)
        ds.ImageOrientationPatient = [round(float(v), 6) for v in (orientation @ rotation.T).ravel()]
        ds.ImagePositionPatient = [round(float(v), 4) for v in rotation @ (position - centre) + centre]

    study.rewrite(study.files(), tilt)


def _huge_dimensions(study: GoodStudy) -> None:
    def huge(ds: pydicom.Dataset) -> None:  # the header claims a huge matrix; the pixel data stays as it was
        ds.Rows, ds.Columns = HUGE_ROWS, HUGE_COLUMNS

    study.rewrite(study.phase_files("pvp"), huge)


# (breaker, what it does, expectation, the sentence or warning to find); the case is named after the breaker.
_TABLE: list[tuple[Callable[[GoodStudy], None], str, str, str]] = [
    (_empty, "an empty folder", "error",
     r"No DICOM image found in .*; give the folder of an MR study"),
    (_not_dicom, "only non-DICOM files (text, PNG, ZIP, an empty .dcm)", "error",
     r"No DICOM image found in .*4 file\(s\) skipped: not a DICOM file"),
    (_corrupt_files_mixed_in, "a truncated PVP slice, a garbage .dcm, an empty .dcm and a text file added", "ok",
     r"skipped .*: truncated"),
    (_missing_phase, "the arterial phase deleted", "error",
     r"No arterial phase: no T1 dynamic series falls in the late arterial window"),
    (_two_patients, "the T2 series given another PatientID", "error",
     r"images of 2 patients; put each patient's study in its own folder"),
    (_ct_not_mr, "every image turned into CT", "error",
     r"holds CT images, not MR"),
    (_duplicated_slices, "a PVP slice stored twice under a new SOP Instance UID", "error",
     r"No portal venous phase: .*; set aside: .*duplicated or inconsistent slice positions"),
    (_inconsistent_positions, "one PVP slice moved 1.3 mm along the stack", "error",
     r"irregular slice positions"),
    (_single_slice, "the PVP series reduced to one slice", "error",
     r"No portal venous phase: .*; set aside: series \d+ .*too few slices \(1 < \d+\)"),
    (_all_zero_pixels, "every PVP pixel set to 0", "error",
     r"chosen as the portal venous phase, has the same value \(0\) in every voxel"),
    (_rescale_slope_zero, "Rescale Slope 0 on the arterial phase", "error",
     r"No arterial phase: .*; set aside: series \d+ .*its RescaleSlope is 0, which would make every pixel the same"),
    (_rescale_overflow, "Rescale Slope 1e400 (infinite) on the arterial phase", "error",
     r"No arterial phase: .*; set aside: series \d+ .*its RescaleSlope '1e400' is not a number within"),
    (_enhanced_mr, "the PVP series converted to one Legacy Converted Enhanced MR object", "error",
     r"No portal venous phase: .*; set aside: .*an Enhanced MR multi-frame object"),
    (_compressed, "T2 in RLE, arterial in JPEG-LS and PVP in JPEG 2000 (all lossless)", "ok",
     ""),
    (_oblique, "the whole study tilted 20 degrees about the left-right axis", "ok",
     ""),
    (_huge_dimensions, f"the PVP headers claim {HUGE_ROWS} x {HUGE_COLUMNS} pixels", "error",
     r"set aside: .* voxels exceed the limit of [\d,]+; refused before reading its pixels"),
]  # fmt: skip
BREAKERS: dict[str, tuple[Callable[[GoodStudy], None], Case]] = {
    breaker.__name__.lstrip("_"): (breaker, Case(breaker.__name__.lstrip("_"), broken, expect, message))
    for breaker, broken, expect, message in _TABLE
}


def build_case(good: Path, out: Path, name: str) -> Case:
    """Copy ``good`` (a case folder: ``dicom/`` and ``truth.json``) to ``out/name`` and break it as ``name`` says."""
    breaker, case = BREAKERS[name]
    folder = out / name
    if folder.exists():
        shutil.rmtree(folder)
    shutil.copytree(good / "dicom", folder)
    breaker(GoodStudy(folder, json.loads((good / "truth.json").read_text(encoding="utf-8"))))
    return case


def build_corpus(good: Path, out: Path, names: list[str] | None = None) -> list[Case]:
    """Every case (or those named), with ``out/corpus.json`` listing their expectations."""
    cases = [build_case(good, out, name) for name in (names or list(BREAKERS))]
    (out / "corpus.json").write_text(json.dumps([asdict(c) for c in cases], indent=2) + "\n", encoding="utf-8")
    return cases


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     epilog=f"cases: {', '.join(BREAKERS)}")  # fmt: skip
    parser.add_argument("good", type=Path, help="a good synthetic case folder (dicom/ and truth.json)")
    parser.add_argument("out", type=Path, help="where to write one study folder per case and corpus.json")
    parser.add_argument("--case", action="append", choices=list(BREAKERS), help="only this case (repeatable)")
    args = parser.parse_args(argv)
    if not (args.good / "dicom").is_dir() or not (args.good / "truth.json").is_file():
        parser.error(f"{args.good} has no dicom/ folder and truth.json; give a case folder of `hccp53 synth`.")
    args.out.mkdir(parents=True, exist_ok=True)
    for case in build_corpus(args.good, args.out, args.case):
        print(f"{case.name:24s} {case.expect:5s} {case.broken}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
