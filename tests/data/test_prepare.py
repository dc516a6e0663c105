"""`hccp53 prepare`: DICOM cohort + labels CSV -> prepared datalist, skipped cases named, masks resampled."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk
from monai.data import load_decathlon_datalist

from hccp53.data.prepare import prepare_cohort
from hccp53.errors import ConfigError, InputError

REQUIRED = ("t2", "ap", "pvp")  # what `hccp53 prepare` requires by default


@pytest.fixture(scope="module")
def dicom_cohort(cohort: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The synthetic cohort rearranged as a user would have it: studies/<case>/ and labels.csv."""
    root = tmp_path_factory.mktemp("prepare_input")
    studies = root / "studies"
    with (cohort / "cohort.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    for row in rows:
        shutil.copytree(cohort / "cases" / row["case_id"] / "dicom", studies / row["case_id"])
    shutil.copy(cohort / "cases" / "SYN0001" / "truth" / "seg.dcm", root / "SYN0001_seg.dcm")
    shutil.copy(cohort / "cases" / "SYN0002" / "nifti" / "tumor_mask.nii.gz", root / "SYN0002_mask.nii.gz")
    with (root / "labels.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["case_id", "label", "mask", "age", "afp_ng_ml", "sex"])
        for row in rows:
            mask = {"SYN0001": "SYN0001_seg.dcm", "SYN0002": "SYN0002_mask.nii.gz"}.get(row["case_id"], "")
            writer.writerow([row["case_id"], row["label"], mask, row["age"], row["afp_ng_ml"], row["sex"]])
        writer.writerow(["SYN0999", "1", "", "60", "10", "M"])          # no such study
        writer.writerow(["SYN0001", "maybe", "", "60", "10", "M"])      # bad label
    return studies, root / "labels.csv"


@pytest.fixture(scope="module")
def prepared(dicom_cohort: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    studies, labels = dicom_cohort
    out = tmp_path_factory.mktemp("prepared") / "out"
    prepare_cohort(studies, labels, out, workers=2, required=REQUIRED, progress=False)
    return out


def test_prepared_datalist_loads_and_follows_the_contract(prepared: Path, cohort: Path) -> None:
    training = load_decathlon_datalist(prepared / "datalist.json", data_list_key="training")
    test = load_decathlon_datalist(prepared / "datalist.json", data_list_key="test")
    cases = training + test
    assert len(cases) == 8
    truth_labels = {r["case_id"]: int(r["label"]) for r in csv.DictReader((cohort / "cohort.csv").open())}
    for case in cases:
        assert case["label"] == truth_labels[case["case_id"]]
        assert {"t2", "ap", "pvp"} <= set(case)
        assert case["clinical"]["age"] > 0 and case["clinical"]["sex"] in ("M", "F")
        grids = [sitk.ReadImage(case[p]) for p in ("t2", "ap", "pvp", "dp", "hbp") if p in case]
        for image in grids[1:]:
            assert image.GetSize() == grids[0].GetSize()
            np.testing.assert_allclose(image.GetOrigin(), grids[0].GetOrigin(), atol=1e-4)


def test_reference_phase_and_masks_match_the_generator_truth(prepared: Path, cohort: Path) -> None:
    for case_id in ("SYN0001", "SYN0002"):
        pvp = sitk.ReadImage(str(prepared / "cases" / case_id / "pvp.nii.gz"))
        truth = sitk.ReadImage(str(cohort / "cases" / case_id / "nifti" / "pvp.nii.gz"))
        np.testing.assert_allclose(sitk.GetArrayFromImage(pvp), sitk.GetArrayFromImage(truth), atol=1e-3)
        mask = sitk.GetArrayFromImage(sitk.ReadImage(str(prepared / "cases" / case_id / "mask.nii.gz")))
        true_mask = sitk.GetArrayFromImage(sitk.ReadImage(str(cohort / "cases" / case_id / "nifti" /
                                                                 "tumor_mask.nii.gz")))
        np.testing.assert_array_equal(mask, true_mask)  # the SEG (SYN0001) and the NIfTI (SYN0002) alike


def test_skipped_cases_are_named_with_their_reason(prepared: Path) -> None:
    skipped = json.loads((prepared / "skipped.json").read_text())
    reasons = {item["case_id"]: item["reason"] for item in skipped}
    assert "no study folder found" in reasons["SYN0999"]
    assert any("label must be 0 or 1" in r for r in reasons.values())
    assert len(skipped) == 2


def test_missing_required_phase_skips_the_case(cohort: Path, truths: dict, tmp_path: Path) -> None:
    studies = tmp_path / "studies"
    for case_id in ("SYN0001", "SYN0003"):
        shutil.copytree(cohort / "cases" / case_id / "dicom", studies / case_id)
    arterial = truths["SYN0001"]["phases"]["ap"]
    assert "temporal_position" not in arterial  # its own series: remove it whole
    removed = 0
    for path in sorted((studies / "SYN0001").rglob("*.dcm")):
        if str(pydicom.dcmread(path, stop_before_pixels=True).SeriesInstanceUID) == arterial["series_instance_uid"]:
            path.unlink()
            removed += 1
    assert removed > 0
    (tmp_path / "labels.csv").write_text("case_id,label\nSYN0001,1\nSYN0003,0\n")
    summary = prepare_cohort(studies, tmp_path / "labels.csv", tmp_path / "out", required=REQUIRED, progress=False)
    assert summary.prepared == ["SYN0003"]
    (item,) = summary.skipped
    assert item["case_id"] == "SYN0001" and "arterial" in item["reason"].lower()
    with pytest.raises(InputError, match="No case could be prepared"):
        (tmp_path / "only.csv").write_text("case_id,label\nSYN0001,1\n")
        prepare_cohort(studies, tmp_path / "only.csv", tmp_path / "out2", required=REQUIRED, progress=False)
    assert not (tmp_path / "out2").exists()


def test_bad_labels_file_and_folders(tmp_path: Path) -> None:
    (tmp_path / "studies").mkdir()
    (tmp_path / "labels.csv").write_text("case_id,p53\nA,1\n")
    with pytest.raises(ConfigError, match="has no 'label' column"):
        prepare_cohort(tmp_path / "studies", tmp_path / "labels.csv", tmp_path / "out",
                       required=REQUIRED, progress=False)
    with pytest.raises(InputError, match="does not exist"):
        prepare_cohort(tmp_path / "absent", tmp_path / "labels.csv", tmp_path / "out",
                       required=REQUIRED, progress=False)
    with pytest.raises(ConfigError, match="Cannot read the labels CSV"):
        prepare_cohort(tmp_path / "studies", tmp_path / "missing.csv", tmp_path / "out",
                       required=REQUIRED, progress=False)
    assert not (tmp_path / "out").exists()


def test_studies_are_found_by_study_uid_or_patient_id(cohort: Path, truths: dict, tmp_path: Path) -> None:
    studies = tmp_path / "studies"
    shutil.copytree(cohort / "cases" / "SYN0004" / "dicom", studies / "anonymous_folder_a")
    shutil.copytree(cohort / "cases" / "SYN0005" / "dicom", studies / "anonymous_folder_b")
    first = pydicom.dcmread(next((studies / "anonymous_folder_a").rglob("*.dcm")), stop_before_pixels=True)
    second = pydicom.dcmread(next((studies / "anonymous_folder_b").rglob("*.dcm")), stop_before_pixels=True)
    (tmp_path / "labels.csv").write_text(
        "study_uid,patient_id,label\n"
        f"{first.StudyInstanceUID},,1\n"
        f",{second.PatientID},0\n")
    summary = prepare_cohort(studies, tmp_path / "labels.csv", tmp_path / "out",
                             required=REQUIRED, progress=False, test_fraction=0.5)
    assert summary.prepared == ["anonymous_folder_a", "anonymous_folder_b"] and summary.skipped == []
    datalist = json.loads((tmp_path / "out" / "datalist.json").read_text())
    labels = sorted(case["label"] for case in datalist["training"] + datalist["test"])
    assert labels == [0, 1]
