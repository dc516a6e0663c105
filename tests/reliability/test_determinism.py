"""The same study twice gives the same answer: result.json probabilities byte for byte, and SR and SEG content
equal apart from the UIDs, dates and times each run makes anew (issue: reliability harness)."""

from __future__ import annotations

import json
from pathlib import Path

import pydicom
import pytest

from hccp53.deploy import RESULT_FILE, SEG_FILE, SR_FILE, run_study
from hccp53.predictor import Predictor
from hccp53.settings import read_settings

ROOT = Path(__file__).resolve().parents[2]
FRESH_EACH_RUN = {"UI", "DA", "TM", "DT"}  # UIDs, dates and times: new by design in every run
PARAMETERS_WITH_TIMES = ("timings_s",)


def _content(ds: pydicom.Dataset) -> list:
    """Every element but UIDs, dates and times, recursively, as (tag, VR, value) tuples."""
    out = []
    for element in ds:
        if element.VR in FRESH_EACH_RUN:
            continue
        if element.VR == "SQ":
            out.append((element.tag, "SQ", [_content(item) for item in element.value]))
        else:
            out.append((element.tag, element.VR, element.value if element.tag != 0x7FE00010 else bytes(element.value)))
    return out


@pytest.fixture(scope="module")
def twice(cohort: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    predictor = Predictor(ROOT / "models", read_settings(), device="cpu")
    study = cohort / "cases" / "SYN0001" / "dicom"
    runs = tmp_path_factory.mktemp("twice")
    for name in ("a", "b"):
        run_study(study, runs / name, predictor)
    return runs / "a", runs / "b"


def test_result_json_probabilities_are_byte_identical(twice: tuple[Path, Path]) -> None:
    first, second = (json.loads((run / RESULT_FILE).read_text()) for run in twice)
    assert first["p53_probability"] is not None
    assert json.dumps(first["p53_probability"]) == json.dumps(second["p53_probability"])
    assert [json.dumps(lesion) for lesion in first["lesions"]] == [json.dumps(lesion) for lesion in second["lesions"]]
    for key in PARAMETERS_WITH_TIMES:
        first.pop(key), second.pop(key)
    assert first == second


@pytest.mark.parametrize("name", [SR_FILE, SEG_FILE])
def test_sr_and_seg_content_is_identical_apart_from_uids_and_times(twice: tuple[Path, Path], name: str) -> None:
    first, second = (pydicom.dcmread(run / name) for run in twice)
    assert first.SOPInstanceUID != second.SOPInstanceUID  # new objects each time...
    assert _content(first) == _content(second)  # ...with the same content
