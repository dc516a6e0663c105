"""Fuzzing of the functions that turn header values into decisions (issue 9): value parsers, stack
classification and phase identification, over values no scanner should write. Nothing may escape but the
project's own one-sentence errors (:class:`~hccp53.errors.HccP53Error`)."""

from __future__ import annotations

import dataclasses
import json
import math
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import assume, example, given
from hypothesis import strategies as st
from phases.phase_factory import SEQUENCES, T0, make_stack, make_study
from pydicom.dataset import Dataset

from hccp53 import PHASES, parse_phases
from hccp53.dicomio.header import finite
from hccp53.dicomio.split import MAX_TRIGGER_MS, _strings, split_series
from hccp53.dicomio.values import parse_time
from hccp53.errors import ConfigError
from hccp53.phases import identify_phases, load_rules
from hccp53.phases.classify import EXCLUDED, OTHER, T1, T2, agent_class, classify_stack, text_phase
from hccp53.phases.identify import _parse_reference
from hccp53.phases.rules import normalise

from .fuzzing import PROJECT_ERRORS, fuzz, odd_floats, odd_text, odd_values

#: pydicom warns (UserWarning) about each invalid value it reads or holds: here they are the point.
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

RULES = load_rules()


@fuzz(3)
@given(odd_values)
@example("235959.999999")
@example("24")
@example("1260")
@example("12:3")
def test_parse_time_gives_a_time_of_day_or_none(value: Any) -> None:
    seconds = parse_time(value)
    assert seconds is None or (math.isfinite(seconds) and 0 <= seconds < 86461)


@fuzz(3)
@given(odd_values)
def test_number_and_text_parsers_never_raise(value: Any) -> None:
    number = finite(value)
    assert number is None or isinstance(number, float)
    assert all(isinstance(v, str) for v in _strings(value))


@fuzz(2)
@given(st.one_of(odd_values, st.booleans()))
def test_reference_time_is_a_time_of_day_or_a_config_error(value: Any) -> None:
    try:
        seconds = _parse_reference(value)
    except ConfigError as error:
        assert "is not a time of day" in str(error)
        return
    assert seconds is None or 0 <= seconds < 86400


@fuzz(2)
@given(st.one_of(odd_text, st.lists(odd_text, max_size=4)))
def test_phase_lists_are_known_keys_or_a_config_error(value: Any) -> None:
    try:
        phases = parse_phases(value, "the required phases", allow_empty=True)
    except ConfigError as error:
        assert f"use some of {', '.join(PHASES)}" in str(error)
        return
    assert set(phases) <= set(PHASES) and len(set(phases)) == len(phases)


@fuzz(3)
@given(st.lists(odd_text, max_size=3))
@example(["ART" * 2000, "PV 90 sec 4 MIN 20min"])
def test_description_words_give_a_known_phase_or_none(texts: list[str]) -> None:
    normalised = [normalise(t) for t in texts]
    phase = text_phase(normalised, RULES)
    assert phase.phase in (None, "pre", "eap", "ap", "pvp", "dp", "hbp", "post")
    agent, _ = agent_class(normalised, RULES)
    assert agent in ("gadoxetic", "extracellular", "unknown")


def _orientations() -> st.SearchStrategy[tuple[float, ...]]:
    """Valid cosines, degenerate ones (zero, parallel rows and columns) and non-finite ones."""
    valid = st.sampled_from(
        [
            (1.0, 0.0, 0.0, 0.0, 1.0, 0.0),
            (1.0, 0.0, 0.0, 0.0, 0.0, -1.0),
            (0.0, 1.0, 0.0, 0.0, 0.0, -1.0),
            (0.7071, 0.7071, 0.0, 0.0, 0.0, -1.0),
        ]
    )
    degenerate = st.sampled_from(
        [(0.0,) * 6, (1.0, 0.0, 0.0, 1.0, 0.0, 0.0), (math.nan,) * 6, (math.inf, 0.0, 0.0, 0.0, 1.0, 0.0)]
    )
    return st.one_of(valid, degenerate, st.tuples(*[odd_floats] * 6))


@st.composite
def odd_stacks(draw: st.DrawFn, number: int = 1) -> Any:
    """A stack of the phase factory with some header facts replaced by odd values.

    Times keep the stack's contract (seconds since midnight, a trigger time within a day: the loader
    ensures it, see the split test below); the other facts may be anything."""
    seq = draw(st.sampled_from(sorted(SEQUENCES)))
    seconds = draw(st.one_of(st.none(), st.floats(-3000, 3000)))
    stack = make_stack(draw(odd_text), seq, None, number=number, n_slices=draw(st.integers(0, 8)))
    optional_float = st.one_of(st.none(), odd_floats)
    time_of_day = st.one_of(st.none(), st.floats(0, 86460.999))  # what parse_time gives: the stack's contract
    strings = st.lists(odd_text, max_size=4).map(tuple)
    changes = draw(
        st.fixed_dictionaries(
            {},
            optional={
                "protocol_name": odd_text,
                "modality": odd_text,
                "manufacturer": odd_text,
                "image_type": strings,
                "scanning_sequence": strings,
                "sequence_variant": strings,
                "scan_options": strings,
                "mr_acquisition_type": odd_text,
                "repetition_time": optional_float,
                "echo_time": optional_float,
                "flip_angle": optional_float,
                "diffusion_b_value": optional_float,
                "series_time": time_of_day,
                "content_time": time_of_day,
                "trigger_time": st.one_of(st.none(), st.floats(0, MAX_TRIGGER_MS)),
                "contrast_agent": st.one_of(st.none(), odd_text),
                "contrast_start_time": time_of_day,
                "orientation": _orientations(),
                "pixel_spacing": st.tuples(odd_floats, odd_floats),
                "slice_spacing": odd_floats,
                "temporal_position": st.one_of(st.none(), st.integers(-2, 5)),
                "temporal_positions": st.integers(0, 5),
                "series_number": st.one_of(st.none(), st.integers()),
            },
        )
    )
    acquisition = None if seconds is None else T0 + seconds
    return dataclasses.replace(stack, acquisition_time=acquisition, **changes)


@fuzz(2)
@given(odd_stacks())
def test_classification_of_an_odd_stack_is_a_kind_with_a_reason(stack: Any) -> None:
    with np.errstate(all="ignore"):
        try:
            cls = classify_stack(stack, RULES)
        except PROJECT_ERRORS:
            return
    assert cls.kind in (EXCLUDED, T2, T1, OTHER) and cls.reason


@fuzz(1)
@given(st.lists(odd_stacks(), min_size=1, max_size=6), st.one_of(st.none(), st.floats(0, 86399)))
def test_identification_of_odd_stacks_is_a_result_or_a_project_error(stacks: list, reference: float | None) -> None:
    stacks = [dataclasses.replace(s, series_uid=f"1.2.3.{i}", series_number=i) for i, s in enumerate(stacks, 1)]
    with np.errstate(all="ignore"):
        try:
            result = identify_phases(make_study(stacks), require=(), reference_time=reference)
        except PROJECT_ERRORS:
            return
    document = json.loads(json.dumps(result.to_json()))
    assert set(document["phases"]) <= set(PHASES)


@fuzz(2)
@given(st.lists(odd_values, min_size=2, max_size=2), st.sampled_from(["TriggerTime", "EchoTime", "ImageType"]))
@example([0.0, 1e300], "TriggerTime")
@example(["0", "nan"], "TriggerTime")
@example(["ORIGINAL", "DERIVED"], "ImageType")
def test_a_series_split_by_odd_values_gives_stacks_within_contract(values: list, keyword: str) -> None:
    """Two time points at the same positions, told apart by odd values: stacks keep a day's trigger times."""
    items = []
    for point, value in enumerate(values):
        for k in range(3):
            ds = Dataset()
            ds.SOPInstanceUID = f"1.2.3.{point}.{k}"
            ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
            ds.ImagePositionPatient = [0, 0, 3.0 * k]
            ds.PixelSpacing, ds.Rows, ds.Columns = [1, 1], 4, 4
            ds.AcquisitionTime = "100000"
            try:
                setattr(ds, keyword, value)
            except (TypeError, ValueError, OverflowError):  # pydicom refuses to hold it: the file test writes bytes
                assume(False)
            items.append((Path(f"/fuzz/{point}.{k}.dcm"), ds))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        stacks, problem = split_series("1.2.3", items)
    assert stacks or problem
    for stack in stacks:
        assert stack.trigger_time is None or 0 <= stack.trigger_time <= MAX_TRIGGER_MS
        assert stack.echo_time is None or math.isfinite(stack.echo_time)
