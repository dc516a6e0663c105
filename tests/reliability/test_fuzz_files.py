"""Fuzzing of real DICOM files (issue 9): a small synthetic study whose header tags are deleted, emptied or
given odd bytes, written to a folder and run through the loader, phase identification and volume building.
Each must end in a result or one of the project's one-sentence errors, never in another exception."""

from __future__ import annotations

import json
import shutil
import struct
import warnings
from collections import defaultdict
from pathlib import Path

import numpy as np
import pydicom
import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from pydicom.datadict import tag_for_keyword
from pydicom.dataelem import RawDataElement
from pydicom.tag import Tag

from hccp53.dicomio import load_study
from hccp53.dicomio.volume import stack_to_image
from hccp53.phases import identify_phases

from .fuzzing import PROJECT_ERRORS, fuzz, odd_text

#: pydicom warns (UserWarning) about each invalid value it reads or holds: here they are the point.
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

#: Slice positions kept per series: enough for the phase rules (min_slices: 5) and a volume.
KEEP_POSITIONS = 6
#: The header tags that decide how instances become stacks, phases and volumes.
TAGS = (
    "SeriesDescription",
    "ProtocolName",
    "ImagePositionPatient",
    "ImageOrientationPatient",
    "PixelSpacing",
    "Rows",
    "Columns",
    "BitsAllocated",
    "BitsStored",
    "PixelRepresentation",
    "SamplesPerPixel",
    "RescaleSlope",
    "RescaleIntercept",
    "SeriesTime",
    "AcquisitionTime",
    "ContentTime",
    "StudyTime",
    "TriggerTime",
    "EchoTime",
    "RepetitionTime",
    "EchoNumbers",
    "EchoTrainLength",
    "FlipAngle",
    "TemporalPositionIdentifier",
    "AcquisitionNumber",
    "Modality",
    "SOPClassUID",
    "SOPInstanceUID",
    "SeriesInstanceUID",
    "StudyInstanceUID",
    "SeriesNumber",
    "ImageType",
    "ScanningSequence",
    "ScanOptions",
    "MRAcquisitionType",
    "ContrastBolusAgent",
    "ContrastBolusStartTime",
    "DiffusionBValue",
    "NumberOfFrames",
    "SliceThickness",
    "PatientID",
    "SpecificCharacterSet",
    "PhotometricInterpretation",
    "PixelData",
)


@pytest.fixture(scope="module", params=["separate_series", "ge_single_series"])
def small_study(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[Path]]:
    """The phase series of one synthetic case, cut to their first slice positions: series UID -> files.

    ``separate_series``: a series per phase; ``ge_single_series``: the dynamic phases in one GE series told
    apart by TemporalPositionIdentifier (the splitting attributes are fuzzed too)."""
    if request.param == "separate_series":
        case = request.getfixturevalue("cohort") / "cases" / "SYN0001"
    else:
        case = sorted((request.getfixturevalue("vendor_cohorts")["ge_single"] / "cases").iterdir())[0]
    wanted = {p["series_instance_uid"] for p in json.loads((case / "truth.json").read_text())["phases"].values()}
    by_series: dict[str, list[tuple[float, Path]]] = defaultdict(list)
    for path in sorted((case / "dicom").rglob("*.dcm")):
        ds = pydicom.dcmread(path, stop_before_pixels=True)
        if ds.SeriesInstanceUID in wanted:
            by_series[ds.SeriesInstanceUID].append((round(float(ds.ImagePositionPatient[2]), 2), path))
    out = tmp_path_factory.mktemp("fuzz_base")
    series: dict[str, list[Path]] = {}
    for number, (uid, items) in enumerate(sorted(by_series.items())):
        kept = sorted({z for z, _ in items})[:KEEP_POSITIONS]
        folder = out / f"S{number}"
        folder.mkdir()
        series[uid] = [Path(shutil.copy(path, folder)) for z, path in items if z in kept]
    return series


def _raw(value: bytes) -> bytes:
    return value + b"\x00" if len(value) % 2 else value


#: What a mutation writes into a tag: odd text (numbers, times, separators, long), binary noise, packed numbers.
tag_bytes = st.one_of(
    odd_text.map(lambda t: t.encode("latin-1", "replace")),
    st.binary(max_size=24),
    st.lists(st.floats(allow_nan=True, allow_infinity=True), min_size=1, max_size=7).map(
        lambda vs: "\\".join(repr(v) for v in vs).encode()
    ),
    st.integers(0, 2**16 - 1).map(lambda v: struct.pack("<H", v)),
    st.integers(-(2**31), 2**31 - 1).map(lambda v: struct.pack("<i", v)),
)

mutations = st.lists(
    st.tuples(
        st.integers(0, 10),  # which series (modulo their count)
        st.one_of(st.none(), st.integers(0, 100)),  # every instance of it, or one (modulo)
        st.sampled_from(TAGS),
        st.one_of(st.just(None), st.just(b""), tag_bytes),  # None deletes the tag
    ),
    min_size=1,
    max_size=3,
)


def _mutate(series: dict[str, list[Path]], changes: list, to: Path) -> None:
    """Copy the study to ``to`` with the changes applied; a bytes value is written raw as UN, which pydicom
    reads back with the tag's dictionary VR (as a reader meets a broken writer's values)."""
    planned: dict[Path, list] = defaultdict(list)
    groups = list(series.values())
    for which, instance, keyword, value in changes:
        files = groups[which % len(groups)]
        for path in files if instance is None else [files[instance % len(files)]]:
            planned[path].append((keyword, value))
    for files in groups:
        folder = to / files[0].parent.name
        folder.mkdir(parents=True, exist_ok=True)
        for path in files:
            if path not in planned:
                shutil.copy(path, folder)
                continue
            ds = pydicom.dcmread(path)
            for keyword, value in planned[path]:
                tag = tag_for_keyword(keyword)
                if value is None:
                    ds.pop(tag, None)
                else:
                    raw = _raw(value)
                    ds[tag] = RawDataElement(Tag(tag), "UN", len(raw), raw, 0, False, True)
            ds.save_as(folder / path.name, enforce_file_format=False)


def _run(folder: Path) -> str:
    """Load, identify, build the chosen volumes; what happened, for the statistics hypothesis prints."""
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        try:
            study = load_study(folder)
            result = identify_phases(study, require=())
            json.dumps(result.to_json())
            for choice in result.phases.values():
                image = stack_to_image(study, choice.stack)
                assert image.GetSize()[2] >= 1
        except PROJECT_ERRORS as error:
            message = str(error)
            assert message.strip() and "Traceback" not in message
            return type(error).__name__
    return "result"


@fuzz(1)
@given(changes=mutations)
@example(changes=[(0, None, "RescaleSlope", b"abc ")])
@example(changes=[(0, None, "ImageOrientationPatient", b"0\\0\\0\\0\\0\\0 ")])
@example(changes=[(0, 0, "Rows", struct.pack("<H", 0))])
@example(changes=[(0, None, "PixelData", b"")])
@example(changes=[(0, None, "DiffusionBValue", b"0\x00")])  # 2 bytes for an FD: pydicom raises on reading
def test_mutated_headers_give_a_result_or_a_project_error(small_study: dict[str, list[Path]], tmp_path_factory,
                                                          changes: list) -> None:  # fmt: skip
    folder = tmp_path_factory.mktemp("fuzz")
    try:
        _mutate(small_study, changes, folder)
        _run(folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def test_the_unmutated_study_gives_every_phase(small_study: dict[str, list[Path]], tmp_path: Path) -> None:
    """The base the fuzzing mutates is good: without changes, every phase series is found and built."""
    _mutate(small_study, [], tmp_path)
    assert _run(tmp_path) == "result"
    study = load_study(tmp_path)
    result = identify_phases(study, require=("t2", "ap", "pvp"))
    assert {c.stack.series_uid for c in result.phases.values()} <= set(small_study)
