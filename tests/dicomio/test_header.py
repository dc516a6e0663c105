"""Header checks: a series with a broken geometry or rescale value is not used, with a reason naming it."""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import pydicom
import pytest
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset
from pydicom.tag import Tag

from hccp53.dicomio import load_study
from hccp53.dicomio.header import header_problem, integer
from hccp53.errors import InputError

SLOPE = 0x00281053  # (0028,1053) Rescale Slope


@pytest.mark.parametrize(
    ("value", "expected"),
    [("7", 7), (7, 7), ("7.0", 7), (" 12 ", 12), ("7.5", None), ("abc", None), ("", None), (None, None),
     (math.nan, None), (math.inf, None), ("1e400", None)],
)  # fmt: skip
def test_integer(value: object, expected: int | None) -> None:
    assert integer(value) == expected


def _instance(**values: object) -> Dataset:
    ds = Dataset()
    ds.ImagePositionPatient = [-100.0, -100.0, 20.0]
    ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
    ds.PixelSpacing = [0.8, 0.8]
    ds.Rows, ds.Columns, ds.BitsAllocated = 64, 64, 16
    ds.RescaleSlope, ds.RescaleIntercept = "1.5", "0"
    for keyword, value in values.items():
        setattr(ds, keyword, value)
    return ds


@pytest.mark.parametrize(
    ("values", "problem"),
    [
        ({}, None),
        ({"ImageOrientationPatient": [0, 0, 0, 0, 0, 0]}, "ImageOrientationPatient values are not unit direction"),
        ({"ImageOrientationPatient": [1, 0, 0, 1, 0, 0]}, "not perpendicular"),
        ({"ImageOrientationPatient": [1, 0, 0, 0, 1]}, "ImageOrientationPatient is not six numbers"),
        ({"ImagePositionPatient": [0, 0, 1e300]}, "ImagePositionPatient is not three numbers"),
        ({"PixelSpacing": [0, 0.8]}, "PixelSpacing is not two positive numbers"),
        ({"Rows": 0}, "Rows is not a positive integer"),
        ({"RescaleSlope": "nan"}, "RescaleSlope 'nan' is not a number"),
        ({"RescaleIntercept": "1e9"}, "RescaleIntercept '1e9' is not a number within"),
    ],
)
def test_header_problem_names_the_attribute(values: dict, problem: str | None) -> None:
    with pydicom.config.disable_value_validation():  # hold values pydicom would refuse, as a broken writer's
        found = header_problem(_instance(**values))
    assert found == problem if problem is None else problem in found


def test_a_study_whose_only_series_has_a_broken_slope_is_one_sentence(cohort: Path, tmp_path: Path) -> None:
    source = sorted((cohort / "cases" / "SYN0001" / "dicom").iterdir())[1]
    folder = shutil.copytree(source, tmp_path / "study")
    for path in sorted(folder.iterdir()):
        ds = pydicom.dcmread(path)
        ds[SLOPE] = RawDataElement(Tag(SLOPE), "DS", 4, b"abc ", 0, False, True)  # as a broken writer stores it
        ds.save_as(path)
    pattern = r"^No usable image series in .*: series \d+ \(`.*`\): its RescaleSlope 'abc' is not a number"
    with pytest.raises(InputError, match=pattern):
        load_study(folder)
