"""The TID 1500 SR: valid for dciodvfy, PixelMed's template validator and DCMTK's dsrdump, and our reader gets back
what was written."""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pydicom
import pytest
from dicom_outputs import ALGORITHM, Example, check_algorithm_equipment, dciodvfy_messages, example

from hccp53.dicomio.seg import build_seg
from hccp53.dicomio.sr import build_sr, read_result


@pytest.fixture(scope="module")
def written(cohort: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Example, Path, Path, Path]:
    case = example(cohort / "cases" / "SYN0002" / "dicom")
    folder = tmp_path_factory.mktemp("sr")
    seg = build_seg(case.study, case.stack, case.labels, 2, ALGORITHM)
    seg.save_as(folder / "seg.dcm")
    build_sr(case.study, case.stack, case.phases, seg, case.lesions, 0.734512, "mutated", 0.5,
             ALGORITHM).save_as(folder / "sr.dcm")  # fmt: skip
    build_sr(case.study, case.stack, case.phases, None, [], None, None, 0.5, ALGORITHM).save_as(folder / "none.dcm")
    return case, folder / "sr.dcm", folder / "seg.dcm", folder / "none.dcm"


@pytest.mark.parametrize("which", [1, 3])
def test_dciodvfy_finds_no_error(written: tuple, which: int) -> None:
    result = subprocess.run(["dciodvfy", str(written[which])], capture_output=True, text=True, check=False)
    messages = dciodvfy_messages(result.stderr)  # all but the Device UID of the Contributing Equipment
    errors = [line for line in messages if line.startswith("Error")]
    warnings = [line for line in messages if line.startswith("Warning")]
    assert errors == [], errors
    assert all("99HCCP53" in line or "Coding Scheme" in line for line in warnings), warnings


def test_dsrdump_shows_the_prediction(written: tuple) -> None:
    result = subprocess.run(["dsrdump", str(written[1])], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    text = result.stdout
    assert '"Probability of TP53 mutation")="0.734512"' in text
    assert '(P53MUT,99HCCP53,"TP53 mutated")' in text
    assert '(372087000,SCT,"Neoplasm, Primary")' in text and '(10200004,SCT,"Liver")' in text
    assert '(126020,DCM,"Multiparametric MRI")' in text and '(cm3,UCUM,"cubic centimeter")' in text
    assert 'Algorithm Parameters")="phases=t2,ap,pvp"' in text


@pytest.mark.parametrize("which", [1, 3])
def test_pixelmed_finds_no_template_error_or_warning(written: tuple, which: int, validate_sr) -> None:
    """TID 1500 and its context groups (PixelMed's DicomSRValidator, template checking on): no error, and no
    warning apart from "not in template" on our private-coded qualitative evaluation (PixelMed's encoding of TID
    1411 / 1501 has no row for qualitative evaluations, and no template names a private concept)."""
    report = validate_sr(written[which])
    assert report.root_template_checked, report.output
    assert report.errors == [], report.output
    assert report.other_warnings == [], report.output
    assert len(report.warnings) <= 1, report.output


def test_the_algorithm_is_contributing_equipment_and_the_device_observer(written: tuple) -> None:
    sr = pydicom.dcmread(written[1])
    check_algorithm_equipment(sr)
    observer = [item for item in sr.ContentSequence if item.ConceptNameCodeSequence[0].CodeValue == "121012"]
    assert [item.UID for item in observer] == [ALGORITHM.device_uid]  # TID 1004 Device Observer UID


def test_the_measurement_groups_carry_only_rows_of_tid_1411(written: tuple) -> None:
    """The algorithm identification sits on each measurement (TID 1419 / 300), not on the TID 1411 group."""
    (measurements,) = _named(pydicom.dcmread(written[1]).ContentSequence, "126010")
    for group in measurements.ContentSequence:
        assert not _named(group.ContentSequence, "111001")  # Algorithm Name
        (volume,) = _named(group.ContentSequence, "118565006")
        assert [item.TextValue for item in _named(volume.ContentSequence, "111001")] == [ALGORITHM.name]
        (source_series,) = _named(group.ContentSequence, "121232")
        assert source_series.ConceptNameCodeSequence[0].CodeMeaning == "Source series for segmentation"


def test_read_result_recovers_what_was_written(written: tuple) -> None:
    case, sr_path, seg_path, _ = written
    result = read_result(pydicom.dcmread(sr_path))
    seg = pydicom.dcmread(seg_path, stop_before_pixels=True)
    assert result["p53_probability"] == pytest.approx(0.734512)
    assert result["p53_status"] == "mutated" and result["threshold"] == pytest.approx(0.5)
    assert [lesion["segment_number"] for lesion in result["lesions"]] == [1, 2]
    assert [lesion["volume_ml"] for lesion in result["lesions"]] == [12.5, 1.5]
    assert [lesion["longest_diameter_mm"] for lesion in result["lesions"]] == [33.21, 8.05]
    assert result["lesions"][1]["p53_probability"] == pytest.approx(0.412)
    assert {lesion["referenced_seg_uid"] for lesion in result["lesions"]} == {seg.SOPInstanceUID}
    assert {lesion["source_series_uid"] for lesion in result["lesions"]} == {case.stack.series_uid}
    assert not result["no_lesion_found"]


def test_it_joins_the_source_study_as_a_new_series(written: tuple) -> None:
    case, sr_path, _, _ = written
    sr = pydicom.dcmread(sr_path)
    source = pydicom.dcmread(case.stack.instances[0].path, stop_before_pixels=True)
    assert sr.StudyInstanceUID == source.StudyInstanceUID
    assert (sr.PatientID, sr.PatientName, sr.PatientBirthDate) == (source.PatientID, source.PatientName,
                                                                   source.PatientBirthDate)  # fmt: skip
    assert sr.SeriesInstanceUID != source.SeriesInstanceUID and "research use" in sr.SeriesDescription
    assert sr.CodingSchemeIdentificationSequence[0].CodingSchemeDesignator == "99HCCP53"
    evidence = {item.SeriesInstanceUID for item in sr.CurrentRequestedProcedureEvidenceSequence[0]
                .ReferencedSeriesSequence}  # fmt: skip
    assert {s.series_uid for s in case.phases.values()} <= evidence


def test_no_lesion_is_a_reported_result(written: tuple) -> None:
    result = read_result(pydicom.dcmread(written[3]))
    assert result["lesions"] == [] and result["no_lesion_found"] and result["p53_probability"] is None


def _named(items: Sequence, code: str) -> list:
    return [item for item in items if item.ConceptNameCodeSequence[0].CodeValue == code]


def test_the_image_library_lists_every_source_image_once_per_series_group(written: tuple) -> None:
    case, sr_path, _, _ = written
    sources = {i.sop_instance_uid: (stack.series_uid, i.position) for stack in case.phases.values()
               for i in stack.instances}  # fmt: skip
    (library,) = _named(pydicom.dcmread(sr_path).ContentSequence, "111028")  # Image Library (TID 1600)
    groups = _named(library.ContentSequence, "126200")  # Image Library Group
    assert len(groups) == len({series for series, _ in sources.values()})
    listed = []
    for group in groups:
        shared = {item.ConceptNameCodeSequence[0].CodeMeaning for item in group.ContentSequence
                  if item.ValueType != "IMAGE"}  # fmt: skip
        assert {"Modality", "Frame of Reference UID", "Pixel Data Rows", "Slice Thickness",
                "Image Orientation (Patient) Row X"} <= shared  # fmt: skip
        descriptors = [item.ConceptNameCodeSequence[0].CodeMeaning for item in group.ContentSequence
                       if item.ValueType != "IMAGE"]  # fmt: skip
        if "Spacing between slices" in descriptors:  # TID 1604 row 3, before Slice Thickness (row 4)
            assert descriptors.index("Spacing between slices") < descriptors.index("Slice Thickness")
        assert not any("Image Position" in meaning for meaning in shared)
        entries = [item for item in group.ContentSequence if item.ValueType == "IMAGE"]
        uids = [entry.ReferencedSOPSequence[0].ReferencedSOPInstanceUID for entry in entries]
        assert len({sources[uid][0] for uid in uids}) == 1  # one series per group
        for uid, entry in zip(uids, entries, strict=True):
            position = [float(item.MeasuredValueSequence[0].NumericValue) for item in entry.ContentSequence]
            np.testing.assert_allclose(position, sources[uid][1], atol=1e-3)
        listed += uids
    assert sorted(listed) == sorted(sources)  # every source image, once
