"""What the loader hands to phase identification and volume building.

An :class:`ImageStack` is one candidate volume: a whole series, or the part of a series
that one time point / echo / Dixon component / b-value occupies (a GE dynamic acquisition
stored as one series becomes one stack per (0020,0100) *Temporal Position Identifier*).
Every slice position appears once in a stack; instances are sorted along the slice normal.
It carries the header facts that phase identification needs, so that the rules never touch
pydicom datasets, and no patient identifiers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Instance:
    """One single-frame image (or one frame of an Enhanced MR object)."""

    path: Path
    sop_instance_uid: str
    position: tuple[float, float, float]         # (0020,0032) Image Position (Patient)
    frame: int | None = None                     # frame index inside a multi-frame object, else None


@dataclass
class ImageStack:
    """One candidate volume and the header facts of its images.

    Times are seconds since midnight of the study date (None when absent); ``split`` names
    the attribute values that separate this stack from the rest of its series (empty when
    the stack is the whole series).
    """

    series_uid: str
    series_number: int | None
    description: str
    instances: list[Instance]
    orientation: tuple[float, ...]               # (0020,0037), 6 values
    pixel_spacing: tuple[float, float]           # (0028,0030): row spacing, column spacing
    rows: int
    columns: int
    slice_spacing: float                         # measured from positions (0 for one slice)
    split: dict[str, Any] = field(default_factory=dict)
    temporal_position: int | None = None         # 1-based rank in time among the series' stacks
    temporal_positions: int = 1                  # how many time points the series holds
    modality: str = "MR"
    manufacturer: str = ""
    image_type: tuple[str, ...] = ()
    scanning_sequence: tuple[str, ...] = ()      # (0018,0020), e.g. ("SE",) or ("GR",)
    sequence_variant: tuple[str, ...] = ()
    scan_options: tuple[str, ...] = ()
    mr_acquisition_type: str = ""                # 2D / 3D
    repetition_time: float | None = None         # ms
    echo_time: float | None = None               # ms
    inversion_time: float | None = None          # ms
    flip_angle: float | None = None              # degrees
    echo_train_length: int | None = None
    echo_number: int | None = None
    diffusion_b_value: float | None = None
    slice_thickness: float | None = None
    sequence_name: str = ""
    protocol_name: str = ""
    series_time: float | None = None
    acquisition_time: float | None = None        # earliest (0008,0032) of the stack
    content_time: float | None = None            # earliest (0008,0033)
    trigger_time: float | None = None            # (0018,1060), ms
    contrast_agent: str | None = None            # (0018,0010); None when the module is absent
    contrast_start_time: float | None = None     # (0018,1042)
    rescale_slope: float = 1.0
    rescale_intercept: float = 0.0
    multiframe: bool = False

    @property
    def normal(self) -> np.ndarray:
        """Unit slice normal: cross product of the row and column direction cosines."""
        row, col = np.asarray(self.orientation[:3]), np.asarray(self.orientation[3:])
        n = np.cross(row, col)
        return n / np.linalg.norm(n)

    @property
    def plane(self) -> str:
        """``AX``, ``COR``, ``SAG`` or ``OBL`` (normal more than 30 degrees off every axis)."""
        n = np.abs(self.normal)
        axis = int(np.argmax(n))
        if n[axis] < np.cos(np.radians(30)):
            return "OBL"
        return ("SAG", "COR", "AX")[axis]

    @property
    def slices(self) -> int:
        return len(self.instances)

    @property
    def label(self) -> str:
        """``series 7 (`Ax LAVA post`)``, with the temporal position when split: for messages."""
        number = "?" if self.series_number is None else str(self.series_number)
        text = f"series {number} (`{self.description}`)"
        if self.temporal_position is not None and self.temporal_positions > 1:
            text += f" time point {self.temporal_position}/{self.temporal_positions}"
        elif self.split:
            text += " " + ", ".join(_split_text(k, v) for k, v in self.split.items())
        return text

    def summary(self) -> dict[str, Any]:
        """JSON-ready description (no patient identifiers)."""
        return {
            "series_instance_uid": self.series_uid,
            "series_number": self.series_number,
            "series_description": self.description,
            "split": {k: list(v) if isinstance(v, tuple) else v for k, v in self.split.items()},
            "temporal_position": self.temporal_position,
            "plane": self.plane,
            "slices": self.slices,
            "image_type": list(self.image_type),
            "repetition_time": self.repetition_time,
            "echo_time": self.echo_time,
            "acquisition_time": self.acquisition_time,
        }


@dataclass
class Study:
    """All stacks of one study, with study-level facts and what the loader had to skip."""

    study_uid: str
    stacks: list[ImageStack]
    study_date: str = ""
    study_time: float | None = None
    skipped: list[tuple[str, str]] = field(default_factory=list)   # (file name, reason)
    rejected_series: list[tuple[str, str]] = field(default_factory=list)  # (series label, reason)
    datasets: dict[Path, Any] = field(default_factory=dict, repr=False)  # headers, pixel data deferred


def _split_text(keyword: str, value: Any) -> str:
    if keyword == "ImageOrientationPatient":
        row, col = np.asarray(value[:3], dtype=float), np.asarray(value[3:], dtype=float)
        return ("sagittal", "coronal", "axial")[int(np.argmax(np.abs(np.cross(row, col))))] + " plane"
    if keyword == "ImageType":
        return "ImageType " + "\\".join(value)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return f"{keyword} {value}"
