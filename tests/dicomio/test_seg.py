"""The tumor DICOM SEG: valid for dciodvfy and DCMTK, and highdicom reads back the segments we wrote."""

from __future__ import annotations

import subprocess
from pathlib import Path

import highdicom as hd
import numpy as np
import pydicom
import pytest
import SimpleITK as sitk
from dicom_outputs import ALGORITHM, Example, check_algorithm_equipment, dciodvfy_messages, example

from hccp53.dicomio.seg import build_seg, label_frames, load_standard_tables
from hccp53.errors import InputError


@pytest.fixture(scope="module")
def written(cohort: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Example, Path]:
    case = example(cohort / "cases" / "SYN0001" / "dicom")
    path = tmp_path_factory.mktemp("seg") / "seg.dcm"
    build_seg(case.study, case.stack, case.labels, 2, ALGORITHM).save_as(path)
    return case, path


def test_dciodvfy_finds_no_error_or_warning(written: tuple[Example, Path]) -> None:
    _, path = written
    result = subprocess.run(["dciodvfy", str(path)], capture_output=True, text=True, check=False)
    messages = dciodvfy_messages(result.stderr)  # all but the Device UID of the Contributing Equipment
    assert messages == [], messages


def test_dcmdump_reads_it(written: tuple[Example, Path]) -> None:
    _, path = written
    result = subprocess.run(["dcmdump", str(path)], capture_output=True, text=True, check=False)
    assert result.returncode == 0 and "HCC lesion 2" in result.stdout


def test_highdicom_reads_back_the_lesions_on_their_source_slices(written: tuple[Example, Path]) -> None:
    case, path = written
    seg = hd.seg.segread(path)
    assert seg.number_of_segments == 2
    assert [seg.get_segment_description(k).segment_label for k in (1, 2)] == ["HCC lesion 1", "HCC lesion 2"]
    description = seg.get_segment_description(1)
    assert (description.segmented_property_category.value, description.segmented_property_type.value) == (
        "49755003", "372087000")  # CID 7150 Morphologically Abnormal Structure / CID 7194 Neoplasm, Primary
    assert [region.value for region in description.anatomic_regions] == ["10200004"]  # CID 4 Liver
    assert description.algorithm_identification[0].AlgorithmFamilyCodeSequence[0].CodeValue == "123110"  # CID 7162
    sources = [i.sop_instance_uid for i in case.stack.instances]
    masks = seg.get_pixels_by_source_instance(source_sop_instance_uids=sources, segment_numbers=[1, 2],
                                              combine_segments=True, relabel=False)  # fmt: skip
    np.testing.assert_array_equal(masks, label_frames(case.stack, case.labels))
    source = pydicom.dcmread(case.stack.instances[0].path, stop_before_pixels=True)
    assert seg.StudyInstanceUID == source.StudyInstanceUID and seg.PatientID == source.PatientID
    assert seg.SeriesInstanceUID != source.SeriesInstanceUID and "research use" in seg.SeriesDescription
    assert seg.ReferencedSeriesSequence[0].SeriesInstanceUID == case.stack.series_uid


def test_the_algorithm_is_contributing_equipment(written: tuple[Example, Path]) -> None:
    check_algorithm_equipment(pydicom.dcmread(written[1], stop_before_pixels=True))


def test_no_lesion_means_no_seg(written: tuple[Example, Path]) -> None:
    case, _ = written
    assert build_seg(case.study, case.stack, case.labels * 0, 0, ALGORITHM) is None


def test_a_label_map_on_another_grid_is_refused(written: tuple[Example, Path]) -> None:
    case, _ = written
    shifted = sitk.Image(case.labels)
    shifted.SetOrigin(tuple(v + 5.0 for v in case.labels.GetOrigin()))
    with pytest.raises(InputError, match="is not on the grid of series"):
        build_seg(case.study, case.stack, shifted, 2, ALGORITHM)


def test_the_standard_tables_can_be_loaded_ahead_of_the_first_seg() -> None:
    """The pinned highdicom still keeps its module-attribute table where the preloading reaches it."""
    from highdicom import _standard_utils

    assert load_standard_tables() is True
    assert _standard_utils.get_module_attribute_map.cache_info().currsize == 1
