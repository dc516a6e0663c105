"""Loading studies: every instance kept, multi-phase series split, volumes exact, bad input refused clearly."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk
from pydicom.uid import JPEG2000Lossless, JPEGLSLossless, RLELossless, generate_uid

from hccp53.dicomio import load_study
from hccp53.dicomio.stack import ImageStack, Study
from hccp53.dicomio.values import parse_time
from hccp53.dicomio.volume import stack_to_image
from hccp53.errors import InputError


def _truth_stack(study: Study, phase: dict) -> ImageStack:
    stacks = [s for s in study.stacks if s.series_uid == phase["series_instance_uid"]]
    if "temporal_position" in phase:
        stacks = [s for s in stacks if s.temporal_position == phase["temporal_position"]]
    elif "selector" in phase:
        wanted = tuple(phase["selector"]["ImageType"])
        stacks = [s for s in stacks if s.image_type == wanted]
    assert len(stacks) == 1
    return stacks[0]


def _copy_case(cohort: Path, case: str, to: Path) -> Path:
    shutil.copytree(cohort / "cases" / case / "dicom", to)
    return to


def _series_files(folder: Path, description: str) -> list[Path]:
    return [p for p in sorted(folder.rglob("*.dcm"))
            if pydicom.dcmread(p, stop_before_pixels=True).SeriesDescription == description]


def _rewrite(paths: list[Path], **values: object) -> None:
    for path in paths:
        ds = pydicom.dcmread(path)
        for keyword, value in values.items():
            if value is None:
                delattr(ds, keyword)
            else:
                setattr(ds, keyword, value)
        ds.save_as(path)


def test_every_instance_is_kept_in_some_stack(cohort: Path, vendor_cohorts: dict) -> None:
    for root in [cohort, *vendor_cohorts.values()]:
        for dicom in sorted(root.glob("cases/*/dicom")):
            study = load_study(dicom)
            assert study.rejected_series == [] and study.skipped == []
            assert sum(s.slices for s in study.stacks) == len(list(dicom.rglob("*.dcm")))
            for stack in study.stacks:
                positions = [i.position for i in stack.instances]
                assert len(set(positions)) == len(positions)


def test_multiphase_series_are_split_the_way_each_vendor_stores_them(vendor_cohorts: dict) -> None:
    expected = {"ge_single": "TemporalPositionIdentifier", "canon": "AcquisitionNumber"}
    for style, keyword in expected.items():
        for dicom in sorted(vendor_cohorts[style].glob("cases/*/dicom")):
            study = load_study(dicom)
            timed = [s for s in study.stacks if s.temporal_positions > 1]
            assert len(timed) >= 3 and all(keyword in s.split for s in timed)
            assert [s.temporal_position for s in timed] == list(range(1, len(timed) + 1))
            times = [s.acquisition_time for s in timed]
            assert times == sorted(times)
    for dicom in sorted(vendor_cohorts["philips_mdixon"].glob("cases/*/dicom")):
        parts = [s for s in load_study(dicom).stacks if s.description == "mDIXON +C 2ND"]
        assert sorted(s.image_type[2] for s in parts) == ["F", "IP", "OP", "W"]
    for dicom in sorted(vendor_cohorts["siemens"].glob("cases/*/dicom")):
        dwi = [s for s in load_study(dicom).stacks if s.diffusion_b_value is not None and "ADC" not in s.description]
        assert sorted(s.diffusion_b_value for s in dwi) == [50.0, 400.0, 800.0]


def test_volumes_from_dicom_equal_the_generator_truth_on_the_reference_grid(cohort: Path, truths: dict) -> None:
    for case_id, truth in truths.items():
        study = load_study(cohort / "cases" / case_id / "dicom")
        image = stack_to_image(study, _truth_stack(study, truth["phases"]["pvp"]))
        reference = sitk.ReadImage(str(cohort / "cases" / case_id / "nifti" / "pvp.nii.gz"))
        assert image.GetSize() == reference.GetSize()
        np.testing.assert_allclose(image.GetOrigin(), reference.GetOrigin(), atol=1e-3)
        np.testing.assert_allclose(image.GetSpacing(), reference.GetSpacing(), atol=1e-4)
        np.testing.assert_allclose(image.GetDirection(), reference.GetDirection(), atol=1e-6)
        np.testing.assert_allclose(sitk.GetArrayFromImage(image), sitk.GetArrayFromImage(reference), atol=1e-3)


@pytest.mark.parametrize("syntax", [RLELossless, JPEGLSLossless, JPEG2000Lossless], ids=lambda u: u.name)
def test_compressed_transfer_syntaxes_give_the_same_volume(cohort: Path, truths: dict, tmp_path: Path,
                                                           syntax: pydicom.uid.UID) -> None:
    truth = truths["SYN0003"]
    folder = _copy_case(cohort, "SYN0003", tmp_path / "study")
    for path in _series_files(folder, truth["phases"]["pvp"]["series_description"]):
        ds = pydicom.dcmread(path)
        ds.compress(syntax)
        ds.save_as(path)
    study = load_study(folder)
    image = stack_to_image(study, _truth_stack(study, truth["phases"]["pvp"]))
    reference = sitk.ReadImage(str(cohort / "cases" / "SYN0003" / "nifti" / "pvp.nii.gz"))
    np.testing.assert_allclose(sitk.GetArrayFromImage(image), sitk.GetArrayFromImage(reference), atol=1e-3)


@pytest.mark.filterwarnings("ignore:End of file reached before delimiter:UserWarning")  # the garbage file, on purpose
def test_truncated_and_foreign_files_are_skipped_with_a_warning(cohort: Path, truths: dict, tmp_path: Path,
                                                                caplog: pytest.LogCaptureFixture) -> None:
    truth = truths["SYN0001"]
    folder = _copy_case(cohort, "SYN0001", tmp_path / "study")
    victim = _series_files(folder, truth["phases"]["pvp"]["series_description"])[5]
    victim.write_bytes(victim.read_bytes()[:-700])
    (folder / "notes.txt").write_text("radiologist's notes")
    (folder / "garbage.dcm").write_bytes(b"\x00" * 128 + b"DICM" + b"\xff" * 40)
    with caplog.at_level(logging.WARNING):
        study = load_study(folder)
    reasons = dict(study.skipped)
    assert reasons[victim.name].startswith("truncated")
    assert reasons["notes.txt"] == "not a DICOM file"
    assert "garbage.dcm" in reasons
    assert f"skipped {victim.name}: truncated" in caplog.text
    with caplog.at_level(logging.WARNING):
        image = stack_to_image(study, _truth_stack(study, truth["phases"]["pvp"]))
    assert "missing slice(s) filled by interpolation" in caplog.text
    reference = sitk.ReadImage(str(cohort / "cases" / "SYN0001" / "nifti" / "pvp.nii.gz"))
    assert image.GetSize() == reference.GetSize()


def test_empty_folder_and_folder_without_dicom(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="No DICOM image found in"):
        load_study(tmp_path)
    (tmp_path / "a.txt").write_text("x")
    with pytest.raises(InputError, match=r"1 file\(s\) skipped: not a DICOM file"):
        load_study(tmp_path)
    with pytest.raises(InputError, match="does not exist"):
        load_study(tmp_path / "absent")
    with pytest.raises(InputError, match="is a file, not a folder"):
        load_study(tmp_path / "a.txt")


def test_two_patients_in_one_folder_are_refused(cohort: Path, tmp_path: Path) -> None:
    _copy_case(cohort, "SYN0001", tmp_path / "mixed" / "a")
    _copy_case(cohort, "SYN0002", tmp_path / "mixed" / "b")
    with pytest.raises(InputError, match="images of 2 patients; put each patient's study in its own folder"):
        load_study(tmp_path / "mixed")


def test_two_studies_of_one_patient_need_a_choice(cohort: Path, truths: dict, tmp_path: Path) -> None:
    folder = _copy_case(cohort, "SYN0001", tmp_path / "study")
    other = generate_uid()
    _rewrite(_series_files(folder, truth_t2 := truths["SYN0001"]["phases"]["t2"]["series_description"]),
             StudyInstanceUID=other)
    with pytest.raises(InputError, match="2 studies of one patient; pass one study per folder or choose one"):
        load_study(folder)
    chosen = load_study(folder, study_uid=other)
    assert [s.description for s in chosen.stacks] == [truth_t2]


def test_ct_study_is_refused(cohort: Path, tmp_path: Path) -> None:
    folder = _copy_case(cohort, "SYN0001", tmp_path / "study")
    _rewrite(sorted(folder.rglob("*.dcm")), Modality="CT", SOPClassUID="1.2.840.10008.5.1.4.1.1.2")
    with pytest.raises(InputError, match="holds CT images, not MR"):
        load_study(folder)


def test_duplicated_slice_positions_reject_the_series(cohort: Path, truths: dict, tmp_path: Path) -> None:
    truth = truths["SYN0001"]
    folder = _copy_case(cohort, "SYN0001", tmp_path / "study")
    source = _series_files(folder, truth["phases"]["pvp"]["series_description"])[3]
    ds = pydicom.dcmread(source)
    ds.SOPInstanceUID = generate_uid()
    ds.InstanceNumber = 999
    ds.save_as(source.with_name("IM99999.dcm"))
    study = load_study(folder)
    reasons = dict(study.rejected_series)
    assert any("duplicated or inconsistent slice positions" in r for r in reasons.values())
    assert truth["phases"]["pvp"]["series_instance_uid"] not in {s.series_uid for s in study.stacks}


def test_repeats_nothing_tells_apart_reject_the_series_with_a_sentence(vendor_cohorts: dict, tmp_path: Path) -> None:
    source = next(iter(sorted(vendor_cohorts["ge_single"].glob("cases/*/dicom"))))
    folder = tmp_path / "study"
    shutil.copytree(source, folder)
    truth = json.loads((source.parent / "truth.json").read_text())
    files = _series_files(folder, truth["phases"]["pvp"]["series_description"])
    _rewrite(files, TemporalPositionIdentifier=None, NumberOfTemporalPositions=None, AcquisitionNumber=1,
             AcquisitionTime="101500", ContentTime="101600")
    study = load_study(folder)
    (label, reason), = study.rejected_series
    assert "tells the repeats apart; cannot split phases" in reason and "slice positions repeated" in reason


def test_single_slice_and_irregular_stacks_cannot_become_volumes(cohort: Path, truths: dict, tmp_path: Path) -> None:
    study = load_study(cohort / "cases" / "SYN0001" / "dicom")
    localizer = next(s for s in study.stacks if s.slices == 1 or "loc" in s.description.lower())
    with pytest.raises(InputError, match="a volume needs at least 3"):
        stack_to_image(study, localizer)
    folder = _copy_case(cohort, "SYN0001", tmp_path / "study")
    files = _series_files(folder, truths["SYN0001"]["phases"]["pvp"]["series_description"])
    ds = pydicom.dcmread(files[4])
    position = [float(v) for v in ds.ImagePositionPatient]
    ds.ImagePositionPatient = [position[0], position[1], position[2] + 1.3]
    ds.save_as(files[4])
    study = load_study(folder)
    with pytest.raises(InputError, match="irregular slice positions"):
        stack_to_image(study, _truth_stack(study, truths["SYN0001"]["phases"]["pvp"]))


def test_enhanced_mr_is_refused_per_series_with_a_reason(cohort: Path, truths: dict, tmp_path: Path) -> None:
    folder = _copy_case(cohort, "SYN0001", tmp_path / "study")
    _rewrite(_series_files(folder, truths["SYN0001"]["phases"]["dp"]["series_description"]),
             SOPClassUID="1.2.840.10008.5.1.4.1.1.4.1")
    study = load_study(folder)
    assert any("Enhanced MR multi-frame" in reason for _, reason in study.rejected_series)


def test_huge_series_are_refused_before_reading_pixels(cohort: Path) -> None:
    study = load_study(cohort / "cases" / "SYN0001" / "dicom", max_voxels=50_000)
    reasons = [reason for _, reason in study.rejected_series]
    assert reasons and all("exceed the limit of 50,000" in r for r in reasons)
    assert all(s.rows * s.columns * s.slices <= 50_000 for s in study.stacks)


@pytest.mark.parametrize(("text", "seconds"), [("101530", 36930.0), ("101530.25", 36930.25), ("10:15:30", 36930.0),
                                               ("1015", 36900.0), ("", None), ("99", None), ("ab", None)])
def test_parse_time(text: str, seconds: float | None) -> None:
    assert parse_time(text) == seconds


def test_a_study_with_no_usable_series_names_the_first_reason(cohort: Path, tmp_path: Path) -> None:
    folder = _copy_case(cohort, "SYN0001", tmp_path / "study")
    _rewrite(sorted(folder.rglob("*.dcm")), SOPClassUID="1.2.840.10008.5.1.4.1.1.4.1")
    with pytest.raises(InputError, match=r"No usable image series in .*: series 1 \(`.*`\) is an Enhanced MR "
                                         r"multi-frame object.*\(and \d+ more series\)\."):
        load_study(folder)


def test_a_rescale_slope_of_zero_sets_the_series_aside_and_an_empty_one_means_one(cohort: Path, truths: dict,
                                                                                  tmp_path: Path) -> None:
    truth = truths["SYN0001"]
    folder = _copy_case(cohort, "SYN0001", tmp_path / "study")
    files = _series_files(folder, truth["phases"]["pvp"]["series_description"])
    _rewrite(files[:1], RescaleSlope="0")
    reasons = [reason for _, reason in load_study(folder).rejected_series]
    assert reasons == ["its RescaleSlope is 0, which would make every pixel the same value"]
    _rewrite(files[:1], RescaleSlope="", RescaleIntercept="")
    study = load_study(folder)
    image = stack_to_image(study, _truth_stack(study, truth["phases"]["pvp"]))
    reference = sitk.ReadImage(str(cohort / "cases" / "SYN0001" / "nifti" / "pvp.nii.gz"))
    np.testing.assert_allclose(sitk.GetArrayFromImage(image), sitk.GetArrayFromImage(reference), atol=1e-3)
