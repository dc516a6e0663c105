"""Checks of the header values that place an image in space and scale its pixels.

:func:`drop_unreadable` removes the attributes whose stored bytes cannot be converted at all.
The loader then asks :func:`header_problem` about every instance of a series before the series
becomes stacks; a series with one bad value is not used, with a reason naming the attribute
(a broken writer, not a crash). Once checked, the values can be converted without guarding.
:func:`integer` reads an optional integer attribute ((0020,0011) *Series Number*, ...) that
only informs, so a bad one counts as absent.
"""

from __future__ import annotations

import math
from typing import Any

from pydicom.dataset import Dataset

#: Larger values (a coordinate or spacing in mm, a rescale slope) are broken, not a patient's image.
MAX_VALUE = 1e5
_COSINE_TOLERANCE = 0.05


#: The attributes the loader, the splitter and the volume builder read (PixelData is read later, and checked then).
READ_KEYWORDS = (
    "SOPClassUID", "SOPInstanceUID", "SeriesInstanceUID", "StudyInstanceUID", "PatientID", "StudyDate", "StudyTime",
    "Modality", "Manufacturer", "SeriesNumber", "SeriesDescription", "ProtocolName", "SequenceName", "ImageType",
    "ScanningSequence", "SequenceVariant", "ScanOptions", "MRAcquisitionType", "RepetitionTime", "EchoTime",
    "InversionTime", "FlipAngle", "EchoTrainLength", "EchoNumbers", "DiffusionBValue", "SliceThickness",
    "SeriesTime", "AcquisitionTime", "ContentTime", "TriggerTime", "TemporalPositionIdentifier",
    "AcquisitionNumber", "ContrastBolusAgent", "ContrastBolusStartTime", "ImagePositionPatient",
    "ImageOrientationPatient", "PixelSpacing", "Rows", "Columns", "NumberOfFrames", "SamplesPerPixel",
    "BitsAllocated", "BitsStored", "PixelRepresentation", "RescaleSlope", "RescaleIntercept",
)  # fmt: skip


def drop_unreadable(ds: Dataset) -> list[str]:
    """Remove the :data:`READ_KEYWORDS` attributes whose stored bytes pydicom cannot convert; return their names.

    A value of the wrong length for its VR (e.g. 2 bytes for an FD) makes pydicom raise when it is
    first read; without the attribute, the loader treats it as absent (and a missing geometry
    attribute rejects the series with a reason).
    """
    dropped = []
    for keyword in READ_KEYWORDS:
        try:
            ds.get(keyword)
        except Exception:  # noqa: BLE001 - pydicom's converters raise many types, BytesLengthException among them
            delattr(ds, keyword)
            dropped.append(keyword)
    return dropped


def finite(value: Any) -> float | None:
    """A finite number from a DS / FD / IS value, or None (absent, not a number, NaN or infinite)."""
    if value is None or value == "":
        return None
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        return None
    return number if math.isfinite(number) else None


def integer(value: Any) -> int | None:
    """An integer from an IS / US value (``"7"``, ``7``, ``7.0``), or None when absent or not an integer."""
    number = finite(value)
    return int(number) if number is not None and number.is_integer() else None


def _numbers(ds: Dataset, keyword: str, count: int) -> tuple[float, ...] | None:
    """``count`` finite numbers of an attribute, none larger than :data:`MAX_VALUE`, or None."""
    try:
        value = ds.get(keyword)
        values = [value] if isinstance(value, str | bytes | int | float) else list(value)
        numbers = tuple(float(v) for v in values)
    except (TypeError, ValueError, OverflowError, AttributeError, KeyError):
        return None
    if len(numbers) != count or not all(math.isfinite(v) and abs(v) <= MAX_VALUE for v in numbers):
        return None
    return numbers


def _orientation_problem(cosines: tuple[float, ...]) -> str | None:
    row, col = cosines[:3], cosines[3:]
    norms = [math.sqrt(sum(v * v for v in vector)) for vector in (row, col)]
    if any(abs(n - 1.0) > _COSINE_TOLERANCE for n in norms):
        return "are not unit direction cosines"
    if abs(sum(a * b for a, b in zip(row, col, strict=True))) > _COSINE_TOLERANCE:
        return "give row and column directions that are not perpendicular"
    return None


def header_problem(ds: Dataset) -> str | None:
    """Why one instance's geometry or pixel scaling cannot be used, or None.

    Checked: (0020,0032) *Image Position (Patient)* three numbers, (0020,0037) *Image
    Orientation (Patient)* two perpendicular unit vectors, (0028,0030) *Pixel Spacing* two
    positive numbers, (0028,0010) *Rows* and (0028,0011) *Columns* positive integers,
    (0028,0100) *Bits Allocated* a positive integer and, when present, (0028,1053) *Rescale
    Slope* (not 0) and (0028,1052) *Rescale Intercept* numbers; no number larger than :data:`MAX_VALUE`.
    """
    if _numbers(ds, "ImagePositionPatient", 3) is None:
        return "its ImagePositionPatient is not three numbers (mm)"
    cosines = _numbers(ds, "ImageOrientationPatient", 6)
    if cosines is None:
        return "its ImageOrientationPatient is not six numbers"
    problem = _orientation_problem(cosines)
    if problem:
        return f"its ImageOrientationPatient values {problem}"
    spacing = _numbers(ds, "PixelSpacing", 2)
    if spacing is None or min(spacing) <= 0:
        return "its PixelSpacing is not two positive numbers (mm)"
    for keyword in ("Rows", "Columns", "BitsAllocated"):
        value = integer(_get(ds, keyword))
        if value is None or value < 1:
            return f"its {keyword} is not a positive integer"
    for keyword in ("RescaleSlope", "RescaleIntercept"):
        value = _get(ds, keyword)
        if value not in (None, "") and _numbers(ds, keyword, 1) is None:
            return f"its {keyword} {str(value)[:20]!r} is not a number within ±{MAX_VALUE:g}"
    if _numbers(ds, "RescaleSlope", 1) == (0.0,):
        return "its RescaleSlope is 0, which would make every pixel the same value"
    return None


def _get(ds: Dataset, keyword: str) -> Any:
    """The value, or None when pydicom cannot convert the stored bytes."""
    try:
        return ds.get(keyword)
    except (TypeError, ValueError, OverflowError, AttributeError, KeyError):
        return None
