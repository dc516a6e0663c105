"""The DICOM studies: valid for dciodvfy, readable by pydicom and highdicom, and true to each vendor's style."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections import Counter, defaultdict
from pathlib import Path

import highdicom as hd
import nibabel as nib
import numpy as np
import pydicom
import pytest

from hccp53.synth.config import load_config


def _series(dicom_dir: Path) -> dict[str, list[pydicom.Dataset]]:
    series: dict[str, list[pydicom.Dataset]] = defaultdict(list)
    for path in sorted(dicom_dir.rglob("*.dcm")):
        ds = pydicom.dcmread(path)
        series[str(ds.SeriesDescription)].append(ds)
    return series


def _dciodvfy_errors(path: Path) -> list[str]:
    result = subprocess.run(["dciodvfy", str(path)], capture_output=True, text=True, check=False)
    return [line for line in (result.stdout + result.stderr).splitlines() if line.startswith("Error")]


def test_dciodvfy_finds_no_error_in_any_series_or_seg(cohort: Path, vendor_cohorts: dict[str, Path]) -> None:
    assert shutil.which("dciodvfy"), "dciodvfy is missing: run `make setup` (scripts/setup_system.sh)"
    checked = 0
    for root in [cohort, *vendor_cohorts.values()]:
        for series_dir in sorted(root.glob("cases/*/dicom/S*")):
            files = sorted(series_dir.glob("*.dcm"))
            for path in {files[0], files[len(files) // 2], files[-1]}:
                assert _dciodvfy_errors(path) == [], path
                checked += 1
        for seg in sorted(root.glob("cases/*/truth/seg.dcm")):
            assert _dciodvfy_errors(seg) == [], seg
            checked += 1
    assert checked > 300


def test_dciodvfy_does_report_a_broken_file(cohort: Path, tmp_path: Path) -> None:
    """The validator check above can fail: remove a Type 1 attribute and dciodvfy says so."""
    path = next(cohort.glob("cases/SYN0001/dicom/S*/IM00001.dcm"))
    ds = pydicom.dcmread(path)
    del ds.Rows
    ds.save_as(tmp_path / "broken.dcm")
    assert any("Rows" in line for line in _dciodvfy_errors(tmp_path / "broken.dcm"))


def test_every_instance_reads_and_study_is_consistent(cohort: Path) -> None:
    for case in sorted((cohort / "cases").iterdir()):
        datasets = [pydicom.dcmread(p) for p in sorted((case / "dicom").rglob("*.dcm"))]
        assert {ds.StudyInstanceUID for ds in datasets} == {datasets[0].StudyInstanceUID}
        assert {str(ds.PatientID) for ds in datasets} == {str(datasets[0].PatientID)}
        assert {ds.SOPClassUID for ds in datasets} == {pydicom.uid.MRImageStorage}
        assert len({ds.SOPInstanceUID for ds in datasets}) == len(datasets)
        pixels = datasets[len(datasets) // 2].pixel_array
        assert pixels.dtype == np.uint16 and pixels.max() > 0


def test_reference_series_reads_with_highdicom_onto_the_prepared_grid(cohort: Path, truths: dict) -> None:
    for case_id, truth in truths.items():
        uid = truth["phases"]["pvp"]["series_instance_uid"]
        datasets = [ds for ds in (pydicom.dcmread(p) for p in (cohort / "cases" / case_id / "dicom").rglob("*.dcm"))
                    if ds.SeriesInstanceUID == uid]
        if "temporal_position" in truth["phases"]["pvp"]:
            selector = truth["phases"]["pvp"]["selector"]
            datasets = [ds for ds in datasets if all(
                (list(ds.ImageType) if k == "ImageType" else ds.get(k)) == v for k, v in selector.items()
                if k in ("TemporalPositionIdentifier", "AcquisitionNumber", "ImageType"))]
        volume = hd.get_volume_from_series(datasets)
        nifti = nib.load(cohort / "cases" / case_id / "nifti" / "pvp.nii.gz")
        assert volume.spatial_shape == nifti.shape[::-1]
        # highdicom gives the LPS affine of (slice, row, column) indices; NIfTI the RAS affine of (i, j, k).
        lps_from_ijk = np.diag([-1.0, -1.0, 1.0, 1.0]) @ nifti.affine
        corner = lps_from_ijk @ np.array([0, 0, 0, 1.0])
        corners = [volume.affine @ np.array([k, r, c, 1.0]) for k in (0, volume.spatial_shape[0] - 1)
                   for r in (0, volume.spatial_shape[1] - 1) for c in (0, volume.spatial_shape[2] - 1)]
        assert min(np.linalg.norm(corner - c) for c in corners) < 1e-3


def test_seg_reads_with_highdicom_and_matches_the_nifti_masks(cohort: Path) -> None:
    for case in sorted((cohort / "cases").iterdir()):
        seg = hd.seg.segread(case / "truth" / "seg.dcm")
        assert [s.SegmentLabel for s in seg.SegmentSequence] == ["Liver", "Tumor"]
        assert seg.SegmentSequence[1].SegmentedPropertyTypeCodeSequence[0].CodeValue == "372087000"  # Neoplasm, Primary
        sources = [uid for _, _, uid in seg.get_source_image_uids()]
        pixels = seg.get_pixels_by_source_instance(sources, segment_numbers=[1, 2],
                                                   assert_missing_frames_are_empty=True)
        liver = nib.load(case / "nifti" / "liver_mask.nii.gz").get_fdata()
        tumor = nib.load(case / "nifti" / "tumor_mask.nii.gz").get_fdata()
        assert int(pixels[..., 1].sum()) == int(tumor.sum()) > 0
        assert int(pixels[..., 0].sum()) == int(liver.sum()) > int(tumor.sum())


def test_timing_and_parameters_follow_the_protocol(cohort: Path, truths: dict) -> None:
    windows = load_config()["protocol"]["timing_s"]
    expected = {"ap": windows["arterial"], "pvp": windows["portal_venous"], "dp": windows["delayed"],
                "hbp": windows["hepatobiliary"]}
    for case_id, truth in truths.items():
        for phase, (low, high) in expected.items():
            if phase in truth["phases"]:
                assert low <= truth["phases"][phase]["seconds_after_injection"] <= high
        assert truth["phases"]["pre"]["seconds_after_injection"] < 0
        series = _series(cohort / "cases" / case_id / "dicom")
        t2 = series[truth["phases"]["t2"]["series_description"]][0]
        dynamic = series[truth["phases"]["pvp"]["series_description"]][0]
        assert t2.ScanningSequence == "SE" and 80 <= float(t2.EchoTime) <= 100
        assert float(t2.RepetitionTime) >= 1500
        assert dynamic.ScanningSequence == "GR" and dynamic.MRAcquisitionType == "3D"
        assert float(dynamic.RepetitionTime) < 10
        assert float(t2.SliceThickness) > float(dynamic.SliceThickness)
        assert (t2.Rows, t2.Columns) != (dynamic.Rows, dynamic.Columns)
        t2_fov = float(t2.PixelSpacing[1]) * t2.Columns
        assert abs(t2_fov - float(dynamic.PixelSpacing[1]) * dynamic.Columns) > 1.0
        shifts = [np.asarray(p["breath_hold_shift_mm"]) for p in truth["phases"].values()]
        assert max(np.linalg.norm(a - b) for a in shifts for b in shifts) > 0.5


def test_full_profile_has_scanner_sized_images() -> None:
    profile = load_config()["profiles"]["full"]
    assert profile["dynamic"]["matrix"] == [256, 256]
    slices = profile["dynamic"]["coverage_mm"] / profile["dynamic"]["spacing_z"]
    assert 40 <= slices <= 80
    assert 5 <= profile["t2"]["thickness"] <= 8


def test_ge_multiphase_single_series_repeats_positions_by_temporal_position(vendor_cohorts: dict) -> None:
    for truth_path in sorted(vendor_cohorts["ge_single"].glob("cases/*/truth.json")):
        truth = json.loads(truth_path.read_text())
        pvp = truth["phases"]["pvp"]
        assert pvp["selector"]["TemporalPositionIdentifier"] == pvp["temporal_position"]
        series = _series(truth_path.parent / "dicom")[pvp["series_description"]]
        per_position = Counter(tuple(ds.ImagePositionPatient) for ds in series)
        n_phases = int(series[0].NumberOfTemporalPositions)
        assert n_phases >= 3 and set(per_position.values()) == {n_phases}
        by_phase: dict[int, set] = defaultdict(set)
        for ds in series:
            by_phase[int(ds.TemporalPositionIdentifier)].add(tuple(ds.ImagePositionPatient))
        assert len(by_phase) == n_phases
        assert all(len(p) == len(per_position) for p in by_phase.values())  # each position once per phase
        if not series[0].AcquisitionTime == series[-1].AcquisitionTime:  # times shared in half of the studies
            times = {int(ds.TemporalPositionIdentifier): str(ds.AcquisitionTime) for ds in series}
            assert sorted(times.values()) == [times[k] for k in sorted(times)]


def test_ge_lava_flex_dixon_series_have_prefixes(vendor_cohorts: dict) -> None:
    names = set(_series(next(vendor_cohorts["ge_separate"].glob("cases/*/dicom"))))
    assert {"WATER: Ax LAVA-Flex", "FAT: Ax LAVA-Flex", "InPhase: Ax LAVA-Flex", "OutPhase: Ax LAVA-Flex"} <= names


def test_siemens_subtraction_twins_dixon_suffixes_and_dwi(vendor_cohorts: dict) -> None:
    for dicom in sorted(vendor_cohorts["siemens"].glob("cases/*/dicom")):
        series = _series(dicom)
        names = set(series)
        subtractions = [n for n in names if n.endswith("_SUB")]
        assert len(subtractions) >= 2
        for name in subtractions:
            assert name[:-4] in names
            assert list(series[name][0].ImageType)[:1] == ["DERIVED"]
        assert {f"t1_vibe_dixon_tra_bh_{s}" for s in ("W", "F", "in", "opp")} <= names
        water = series["t1_vibe_dixon_tra_bh_W"][0]
        assert list(water.ImageType) == ["DERIVED", "PRIMARY", "DIXON", "WATER"]
        dwi = [n for n in names if n.startswith("ep2d_diff") and not n.endswith("_ADC")]
        assert len(dwi) == 1
        b_values = {float(ds.DiffusionBValue) for ds in series[dwi[0]]}
        assert b_values == {50.0, 400.0, 800.0}


def test_philips_rescale_slope_and_s_prefixed_subtractions(vendor_cohorts: dict) -> None:
    for dicom in sorted(vendor_cohorts["philips"].glob("cases/*/dicom")):
        series = _series(dicom)
        assert "e-THRIVE_V" in series and "se-THRIVE_V" in series
        slopes = {float(ds.RescaleSlope) for datasets in series.values() for ds in datasets}
        assert all(slope != 1.0 for slope in slopes)
        mdixon = series["mDIXON"]
        assert {ds.ImageType[2] for ds in mdixon} == {"W", "F", "IP", "OP"}


def test_philips_mdixon_dynamic_mixes_water_fat_in_opp_in_one_series(vendor_cohorts: dict) -> None:
    for truth_path in sorted(vendor_cohorts["philips_mdixon"].glob("cases/*/truth.json")):
        truth = json.loads(truth_path.read_text())
        ap = truth["phases"]["ap"]
        assert ap["series_description"] == "mDIXON +C 1ST"
        assert ap["selector"]["ImageType"][2] == "W"
        series = _series(truth_path.parent / "dicom")[ap["series_description"]]
        expected = Counter({kind: len(series) // 4 for kind in ("W", "F", "IP", "OP")})
        assert Counter(ds.ImageType[2] for ds in series) == expected


def test_canon_dynamic_series_is_split_by_acquisition_number(vendor_cohorts: dict) -> None:
    for truth_path in sorted(vendor_cohorts["canon"].glob("cases/*/truth.json")):
        truth = json.loads(truth_path.read_text())
        assert truth["phases"]["ap"]["series_description"] == "1_AX_DYN_PRE_a_POST"
        series = _series(truth_path.parent / "dicom")["1_AX_DYN_PRE_a_POST"]
        assert "TemporalPositionIdentifier" not in series[0]
        numbers = Counter(int(ds.AcquisitionNumber) for ds in series)
        assert sorted(numbers) == [1, 2, 3] and len(set(numbers.values())) == 1
        times = {int(ds.AcquisitionNumber): ds.AcquisitionTime for ds in series}
        assert len(set(times.values())) == 3
        hbp = truth["phases"].get("hbp")
        if hbp:
            assert hbp["series_description"].endswith("_MIN_DELAY")  # Canon names the HBP a "delay"


def test_truth_phase_uids_exist_in_the_study(cohort: Path, truths: dict) -> None:
    for case_id, truth in truths.items():
        uids = {str(pydicom.dcmread(p, stop_before_pixels=True).SeriesInstanceUID)
                for p in (cohort / "cases" / case_id / "dicom").rglob("*.dcm")}
        assert {p["series_instance_uid"] for p in truth["phases"].values()} <= uids


@pytest.mark.parametrize("vendor", ["ge_single", "ge_separate", "siemens", "philips", "philips_mdixon", "canon"])
def test_every_vendor_style_has_the_core_phases(vendor_cohorts: dict, vendor: str) -> None:
    for truth_path in sorted(vendor_cohorts[vendor].glob("cases/*/truth.json")):
        truth = json.loads(truth_path.read_text())
        assert {"t2", "pre", "ap", "pvp", "dp"} <= set(truth["phases"])
        kinds = {s["kind"] for s in truth["series"]}
        assert {"localizer", "t2", "t2_coronal", "chemical_shift", "dynamic"} <= kinds
