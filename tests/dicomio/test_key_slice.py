"""The key-slice SR (TID 1410 on the primary lesion's key slice): valid for dciodvfy and PixelMed's template
validator, outlining the lesion where the SEG has most of it, with the prediction and the lesion's tracking UID."""

from __future__ import annotations

import subprocess
from pathlib import Path

import highdicom as hd
import numpy as np
import pydicom
import pytest
from dicom_outputs import ALGORITHM, Example, check_algorithm_equipment, dciodvfy_messages, example

from hccp53.dicomio.codes import AREA, P53_PROBABILITY, P53_STATUS, STATUS_CODES, THRESHOLD
from hccp53.dicomio.key_slice import build_key_slice_sr, lesion_tracking
from hccp53.dicomio.seg import build_seg, label_frames
from hccp53.dicomio.sr import build_sr


@pytest.fixture(scope="module")
def written(cohort: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Example, Path, Path]:
    case = example(cohort / "cases" / "SYN0002" / "dicom")
    folder = tmp_path_factory.mktemp("key_slice")
    seg = build_seg(case.study, case.stack, case.labels, 2, ALGORITHM)
    sr = build_sr(case.study, case.stack, case.phases, seg, case.lesions, 0.734512, "mutated", 0.5, ALGORITHM)
    sr.save_as(folder / "sr.dcm")
    key = build_key_slice_sr(case.study, case.stack, seg, case.lesions[0], "mutated", 0.5, ALGORITHM,
                             tracking=lesion_tracking(sr, 1))  # fmt: skip
    key.save_as(folder / "key.dcm")
    return case, folder / "sr.dcm", folder / "key.dcm"


def test_dciodvfy_finds_no_error(written: tuple) -> None:
    result = subprocess.run(["dciodvfy", str(written[2])], capture_output=True, text=True, check=False)
    messages = dciodvfy_messages(result.stderr)
    assert [line for line in messages if line.startswith("Error")] == [], messages
    assert all("99HCCP53" in line for line in messages if line.startswith("Warning")), messages


def test_pixelmed_finds_no_template_error_or_warning(written: tuple, validate_sr) -> None:
    """TID 1500 with one TID 1410 group: no error, no warning but the private status "not in template"."""
    report = validate_sr(written[2])
    assert report.root_template_checked, report.output
    assert report.errors == [] and report.other_warnings == [] and len(report.warnings) <= 1, report.output


def test_the_outline_is_the_primary_lesion_on_its_largest_slice(written: tuple) -> None:
    case, _, key_path = written
    sr = hd.sr.ComprehensiveSR.from_dataset(pydicom.dcmread(key_path))
    assert sr.SOPClassUID == "1.2.840.10008.5.1.4.1.1.88.33"  # Comprehensive SR: OHIF draws its SCOORDs
    (group,) = sr.content.get_planar_roi_measurement_groups()
    region = group.roi
    assert region.graphic_type == hd.sr.GraphicTypeValues.POLYLINE
    points = region.value
    np.testing.assert_array_equal(points[0], points[-1])
    frames = label_frames(case.stack, case.labels)
    key = int(np.argmax((frames == 1).reshape(len(frames), -1).sum(axis=1)))
    source = region.ContentSequence[0].ReferencedSOPSequence[0]
    assert source.ReferencedSOPInstanceUID == case.stack.instances[key].sop_instance_uid
    rows, columns = np.nonzero(frames[key] == 1)  # the example's lesion 1: a 16 x 16 square
    assert (points[:, 0].min(), points[:, 0].max()) == pytest.approx((columns.min(), columns.max() + 1))
    assert (points[:, 1].min(), points[:, 1].max()) == pytest.approx((rows.min(), rows.max() + 1))
    spacing = np.prod([float(v) for v in case.study.datasets[case.stack.instances[key].path].PixelSpacing])
    (area,) = group.get_measurements(name=AREA)
    assert float(area.value) == pytest.approx((256 - 0.5) * spacing, rel=1e-3)


def test_it_carries_the_prediction_and_the_lesions_tracking_uid(written: tuple) -> None:
    case, sr_path, key_path = written
    key = pydicom.dcmread(key_path)
    check_algorithm_equipment(key)
    (group,) = hd.sr.ComprehensiveSR.from_dataset(key).content.get_planar_roi_measurement_groups()
    assert float(group.get_measurements(name=P53_PROBABILITY)[0].value) == pytest.approx(0.734512)
    assert float(group.get_measurements(name=THRESHOLD)[0].value) == pytest.approx(0.5)
    assert group.get_qualitative_evaluations(name=P53_STATUS)[0].value == STATUS_CODES["mutated"]
    (volumetric, _) = hd.sr.Comprehensive3DSR.from_dataset(pydicom.dcmread(sr_path)).content \
        .get_volumetric_roi_measurement_groups()  # fmt: skip
    assert (group.tracking_uid, group.tracking_identifier) == (volumetric.tracking_uid, "HCC lesion 1")
    assert key.StudyInstanceUID == pydicom.dcmread(sr_path).StudyInstanceUID
    assert key.SeriesNumber == 9904 and "research use" in key.SeriesDescription
