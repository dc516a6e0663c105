"""Hand-built image stacks for phase identification tests: header facts only, no DICOM files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hccp53.dicomio.stack import ImageStack, Instance, Study

#: The injection used by the tests: 10:00:00 (seconds since midnight).
T0 = 36000.0
ORIENTATIONS = {"AX": (1.0, 0.0, 0.0, 0.0, 1.0, 0.0), "COR": (1.0, 0.0, 0.0, 0.0, 0.0, -1.0),
                "SAG": (0.0, 1.0, 0.0, 0.0, 0.0, -1.0)}

#: Sequence parameters and grids of the kinds of series a liver protocol holds.
SEQUENCES: dict[str, dict[str, Any]] = {
    "t1": dict(scanning_sequence=("GR",), mr_acquisition_type="3D", repetition_time=4.0, echo_time=1.8,
               scan_options=("FS",), rows=256, columns=256, slices=60, spacing=3.0),
    "t1cs": dict(scanning_sequence=("GR",), mr_acquisition_type="3D", repetition_time=6.5, echo_time=1.3,
                 scan_options=(), rows=192, columns=256, slices=36, spacing=5.0),
    "t2": dict(scanning_sequence=("SE",), mr_acquisition_type="2D", repetition_time=1800.0, echo_time=90.0,
               scan_options=(), rows=224, columns=288, slices=30, spacing=7.0),
    "t2fs": dict(scanning_sequence=("SE",), mr_acquisition_type="2D", repetition_time=4500.0, echo_time=85.0,
                 scan_options=("FS",), rows=224, columns=288, slices=30, spacing=7.0),
    "dwi": dict(scanning_sequence=("EP",), mr_acquisition_type="2D", repetition_time=4000.0, echo_time=70.0,
                scan_options=("FS",), rows=128, columns=128, slices=30, spacing=7.0),
    "gre2d": dict(scanning_sequence=("GR",), mr_acquisition_type="2D", repetition_time=150.0, echo_time=2.3,
                  scan_options=(), rows=192, columns=256, slices=30, spacing=7.0),
    "mrcp": dict(scanning_sequence=("SE",), mr_acquisition_type="3D", repetition_time=4000.0, echo_time=700.0,
                 scan_options=(), rows=320, columns=320, slices=60, spacing=1.5),
    "loc": dict(scanning_sequence=("GR",), mr_acquisition_type="2D", repetition_time=5.2, echo_time=1.6,
                scan_options=(), rows=64, columns=64, slices=15, spacing=20.0),
}
IMAGE_TYPES = {
    "water": ("DERIVED", "PRIMARY", "DIXON", "WATER"),
    "waterP": ("DERIVED", "PRIMARY", "W", "W"),
    "fatP": ("DERIVED", "PRIMARY", "F", "F"),
    "inP": ("ORIGINAL", "PRIMARY", "IP", "IP"),
    "sub": ("DERIVED", "PRIMARY", "SUBTRACTION"),
    "loc": ("ORIGINAL", "PRIMARY", "LOCALIZER"),
    "adc": ("DERIVED", "PRIMARY", "DIFFUSION", "ADC"),
}


def make_stack(description: str, seq: str = "t1", seconds: float | None = None, *, number: int = 1,
               agent: str | None = None, bolus: float | None = None, injection: float = T0,
               temporal_position: int | None = None, temporal_positions: int = 1, series_uid: str | None = None,
               split: dict | None = None, **overrides: Any) -> ImageStack:
    """One stack; ``seq`` is a key of :data:`SEQUENCES`, optionally ``/COR`` ``/water`` ``/sub`` ... variants.

    ``seconds`` (after ``injection``) becomes the AcquisitionTime; ``agent`` the Contrast/Bolus
    Agent (None: no Contrast/Bolus module); ``bolus`` the ContrastBolusStartTime.
    """
    base, *variants = seq.split("/")
    params = dict(SEQUENCES[base])
    plane = "AX"
    image_type = ("ORIGINAL", "PRIMARY", "OTHER")
    for variant in variants:
        if variant in ORIENTATIONS:
            plane = variant
        else:
            image_type = IMAGE_TYPES[variant]
    slices = params.pop("slices")
    spacing = params.pop("spacing")
    rows, columns = params.pop("rows"), params.pop("columns")
    params.update(overrides)
    slices = params.pop("n_slices", slices)
    uid = series_uid or f"1.2.826.0.1.3680043.10.1.{number}"
    orientation = ORIENTATIONS[plane]
    normal = {"AX": 2, "COR": 1, "SAG": 0}[plane]
    instances = []
    for k in range(slices):
        position = [0.0, 0.0, 0.0]
        position[normal] = k * spacing
        tag = f"{uid}.{temporal_position or 0}.{k + 1}"
        instances.append(Instance(Path(f"/synthetic/{tag}.dcm"), tag, tuple(position)))
    fields: dict[str, Any] = dict(image_type=image_type, manufacturer="TEST")
    fields.update(params)
    return ImageStack(
        series_uid=uid, series_number=number, description=description, instances=instances,
        orientation=orientation, pixel_spacing=(400.0 / rows, 400.0 / columns), rows=rows, columns=columns,
        slice_spacing=spacing if slices > 1 else 0.0, split=split or {}, temporal_position=temporal_position,
        temporal_positions=temporal_positions,
        acquisition_time=None if seconds is None else injection + seconds,
        contrast_agent=agent, contrast_start_time=bolus, **fields)


def make_study(stacks: list[ImageStack], rejected: list[tuple[str, str]] | None = None) -> Study:
    return Study(study_uid="1.2.826.0.1.3680043.10.0", stacks=stacks, rejected_series=rejected or [])


def dynamic_study(rows: list[tuple[str, float | None]], agent: str | None = "Primovist", bolus: bool = True,
                  seq: str = "t1", t2: bool = True) -> Study:
    """A study of an axial T2 plus dynamic T1 series ``(description, seconds after injection)``."""
    stacks = [make_stack("Ax SSFSE T2", "t2", -900, number=1)] if t2 else []
    for i, (description, seconds) in enumerate(rows, start=2):
        post = seconds is None or seconds >= 0
        stacks.append(make_stack(description, seq, seconds, number=i, agent=agent if post else None,
                                 bolus=T0 if bolus and post else None))
    return make_study(stacks)


def by_description(result: Any, description: str) -> list[dict]:
    return [c for c in result.considered if c.get("series_description") == description]
