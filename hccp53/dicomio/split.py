"""Split a series into stacks in which every slice position appears once.

A series whose (0020,0032) *Image Position (Patient)* values repeat holds several volumes:
time points of a dynamic acquisition (GE stores them in one series and tells them apart by
(0020,0100) *Temporal Position Identifier*; Canon by (0020,0012) *Acquisition Number*),
echoes of a dual-echo acquisition, Dixon components (Philips: (0008,0008) *Image Type*) or
diffusion b-values. The attributes are tried in :data:`SPLIT_KEYS` order, then in pairs; a
split is accepted only when every group holds each slice position exactly once. Series
with several orientations (three-plane localizers) are first split by orientation.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from itertools import combinations
from pathlib import Path
from typing import Any

import numpy as np
from pydicom.dataset import Dataset

from hccp53.dicomio.header import finite, integer
from hccp53.dicomio.stack import ImageStack, Instance
from hccp53.dicomio.values import parse_time, positions_along_normal

#: Attributes that may tell repeated slice positions apart, in the order they are tried.
SPLIT_KEYS = ("TemporalPositionIdentifier", "AcquisitionNumber", "TriggerTime", "AcquisitionTime", "ContentTime",
              "EchoNumbers", "EchoTime", "DiffusionBValue", "ImageType")
#: Trigger times beyond a day (ms) are broken values; the timing model would search days of injection times.
MAX_TRIGGER_MS = 86_400_000.0
TEMPORAL_KEYS = {"TemporalPositionIdentifier", "AcquisitionNumber", "TriggerTime", "AcquisitionTime", "ContentTime"}

Item = tuple[Path, Dataset]


def _value(ds: Dataset, keyword: str) -> Any:
    value = ds.get(keyword)
    if value is None or value == "":
        return None
    if keyword == "ImageType":
        return tuple(v.upper() for v in _strings(value))
    if keyword in ("AcquisitionTime", "ContentTime"):
        return parse_time(value)
    try:
        return round(float(value), 3)
    except (TypeError, ValueError):
        return str(value)


def _position(ds: Dataset) -> tuple[float, float, float]:
    """(0020,0032) rounded to 0.01 mm, converted once per dataset (the split search asks many times)."""
    cached = getattr(ds, "_hccp53_position", None)
    if cached is None:
        cached = tuple(round(float(v), 2) for v in ds.ImagePositionPatient)
        object.__setattr__(ds, "_hccp53_position", cached)
    return cached  # type: ignore[return-value]


def _groups_by(items: list[Item], keys: tuple[str, ...]) -> dict[tuple, list[Item]] | None:
    groups: dict[tuple, list[Item]] = defaultdict(list)
    for item in items:
        groups[tuple(_value(item[1], k) for k in keys)].append(item)
    return groups if len(groups) > 1 else None


def _valid_split(groups: dict[tuple, list[Item]], positions: Counter) -> bool:
    expected = sorted(positions)
    return all(sorted(_position(ds) for _, ds in members) == expected for members in groups.values())


def find_split(items: list[Item]) -> tuple[tuple[str, ...], dict[tuple, list[Item]]] | None:
    """The first attribute (or pair) whose groups each hold every slice position exactly once."""
    positions = Counter(_position(ds) for _, ds in items)
    candidates: list[tuple[str, ...]] = [(k,) for k in SPLIT_KEYS] + list(combinations(SPLIT_KEYS, 2))
    for keys in candidates:
        groups = _groups_by(items, keys)
        if groups and _valid_split(groups, positions):
            return keys, groups
    return None


def split_series(series_uid: str, items: list[Item]) -> tuple[list[ImageStack], str | None]:
    """Stacks of one series, and a sentence when (part of) it could not be split.

    Parameters
    ----------
    items:
        ``(path, dataset)`` of every instance of the series (pixel data may be deferred).
    """
    by_orientation: dict[tuple, list[Item]] = defaultdict(list)
    for item in items:
        by_orientation[tuple(round(float(v), 3) for v in item[1].ImageOrientationPatient)].append(item)
    several_planes = len(by_orientation) > 1
    stacks: list[ImageStack] = []
    problems: list[str] = []
    for orientation, members in by_orientation.items():
        base_split = {"ImageOrientationPatient": orientation} if several_planes else {}
        positions = Counter(_position(ds) for _, ds in members)
        repeats = set(positions.values())
        if repeats == {1}:
            stacks.append(_stack(series_uid, members, base_split))
            continue
        found = find_split(members)
        if found is None:
            if len(repeats) > 1:
                problems.append(f"its slice positions repeat unevenly ({min(repeats)} to {max(repeats)} times): "
                                "duplicated or inconsistent slice positions")
            else:
                problems.append(
                    f"it has {len(positions)} slice positions repeated {repeats.pop()} times but no attribute "
                    f"({', '.join(SPLIT_KEYS[:3])}, ...) tells the repeats apart; cannot split phases")
            continue
        keys, groups = found
        group_stacks = [_stack(series_uid, g, {**base_split, **dict(zip(keys, value, strict=True))})
                        for value, g in groups.items()]
        if TEMPORAL_KEYS & set(keys):
            ordered = sorted(group_stacks, key=lambda s: (_time_key(s), [_sortable(v) for v in s.split.values()]))
            for rank, stack in enumerate(ordered, start=1):
                stack.temporal_position = rank
                stack.temporal_positions = len(ordered)
            group_stacks = ordered
        stacks.extend(group_stacks)
    return stacks, ("; ".join(problems) if problems else None)


def _sortable(value: Any) -> tuple[int, float, str]:
    """Numbers before text, numbers compared as numbers (10 after 2)."""
    if isinstance(value, (int, float)):
        return (0, float(value), "")
    return (1, 0.0, str(value))


def _time_key(stack: ImageStack) -> tuple[float, float]:
    first = stack.acquisition_time if stack.acquisition_time is not None else np.inf
    trigger = stack.trigger_time if stack.trigger_time is not None else 0.0
    return first, trigger


def _trigger_time(value: Any) -> float | None:
    """(0018,1060) *Trigger Time* in ms, or None when absent or not within a day (a broken value)."""
    number = finite(value)
    return number if number is not None and 0 <= number <= MAX_TRIGGER_MS else None


def _strings(value: Any) -> tuple[str, ...]:
    if value is None or value == "":
        return ()
    if isinstance(value, str):
        return tuple(v for v in value.split("\\") if v)
    if isinstance(value, bytes | int | float):  # one value of another VR (a broken writer's): not a list
        return (str(value),)
    return tuple(str(v) for v in value)


def _stack(series_uid: str, members: list[Item], split: dict[str, Any]) -> ImageStack:
    """An ImageStack from instances that hold each position once, sorted along the slice normal."""
    first = members[0][1]
    orientation = np.asarray([float(v) for v in first.ImageOrientationPatient])
    positions = np.asarray([[float(v) for v in ds.ImagePositionPatient] for _, ds in members])
    along = positions_along_normal(positions, orientation)
    order = np.argsort(along, kind="stable")
    members = [members[i] for i in order]
    distances = along[order]
    spacing = float(np.median(np.diff(distances))) if len(members) > 1 else 0.0
    ds = members[0][1]
    times = [parse_time(d.get("AcquisitionTime")) for _, d in members]
    content = [parse_time(d.get("ContentTime")) for _, d in members]
    agent = ds.get("ContrastBolusAgent")
    return ImageStack(
        series_uid=series_uid,
        series_number=integer(ds.get("SeriesNumber")),
        description=str(ds.get("SeriesDescription", "")),
        instances=[Instance(path, str(d.SOPInstanceUID), tuple(float(v) for v in d.ImagePositionPatient))
                   for path, d in members],
        orientation=tuple(float(v) for v in orientation),
        pixel_spacing=(float(ds.PixelSpacing[0]), float(ds.PixelSpacing[1])),
        rows=int(ds.Rows),
        columns=int(ds.Columns),
        slice_spacing=spacing,
        split=split,
        modality=str(ds.get("Modality", "")),
        manufacturer=str(ds.get("Manufacturer", "")),
        image_type=tuple(str(v).upper() for v in _strings(ds.get("ImageType"))),
        scanning_sequence=_strings(ds.get("ScanningSequence")),
        sequence_variant=_strings(ds.get("SequenceVariant")),
        scan_options=_strings(ds.get("ScanOptions")),
        mr_acquisition_type=str(ds.get("MRAcquisitionType", "")),
        repetition_time=finite(ds.get("RepetitionTime")),
        echo_time=finite(ds.get("EchoTime")),
        inversion_time=finite(ds.get("InversionTime")),
        flip_angle=finite(ds.get("FlipAngle")),
        echo_train_length=integer(ds.get("EchoTrainLength")),
        echo_number=int(finite(ds.get("EchoNumbers")) or 0) or None,
        diffusion_b_value=finite(ds.get("DiffusionBValue")),
        slice_thickness=finite(ds.get("SliceThickness")),
        sequence_name=str(ds.get("SequenceName", "")),
        protocol_name=str(ds.get("ProtocolName", "")),
        series_time=parse_time(ds.get("SeriesTime")),
        acquisition_time=min((t for t in times if t is not None), default=None),
        content_time=min((t for t in content if t is not None), default=None),
        trigger_time=_trigger_time(ds.get("TriggerTime")),
        contrast_agent=None if agent is None else str(agent),
        contrast_start_time=parse_time(ds.get("ContrastBolusStartTime")),
        rescale_slope=finite(ds.get("RescaleSlope")) or 1.0,
        rescale_intercept=finite(ds.get("RescaleIntercept")) or 0.0,
    )
