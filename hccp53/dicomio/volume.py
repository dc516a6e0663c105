"""Turn an :class:`~hccp53.dicomio.stack.ImageStack` into a SimpleITK volume in LPS patient space.

The volume's origin is (0020,0032) *Image Position (Patient)* of the first slice along the
normal, its direction the (0020,0037) row and column cosines and their cross product, its
spacing (0028,0030) *Pixel Spacing* and the measured distance between slices. Pixel values
are real-world values: stored values times (0028,1053) *Rescale Slope* plus (0028,1052)
*Rescale Intercept*, per instance (Philips writes a slope other than 1).
"""

from __future__ import annotations

import logging

import numpy as np
import SimpleITK as sitk
from pydicom.dataset import Dataset
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian

from hccp53.dicomio.header import integer
from hccp53.dicomio.stack import ImageStack, Study
from hccp53.dicomio.values import positions_along_normal
from hccp53.errors import InputError

logger = logging.getLogger(__name__)

MIN_SLICES = 3
_SPACING_TOLERANCE = 0.05  # fraction of the slice spacing a position may deviate from a regular grid


def slice_layout(stack: ImageStack) -> tuple[np.ndarray, float]:
    """Index of each instance on a regular slice grid, and the spacing.

    A slice lost to a skipped (corrupt) file leaves a gap of a whole number of spacings: the
    gap is kept in the index so that it can be filled. Any other irregularity raises.

    Raises
    ------
    InputError
        Too few slices, or positions that do not lie on a regular grid.
    """
    if stack.slices < MIN_SLICES:
        raise InputError(f"{stack.label} has {stack.slices} slice(s); a volume needs at least {MIN_SLICES}.")
    positions = np.asarray([i.position for i in stack.instances])
    distance = positions_along_normal(positions, np.asarray(stack.orientation))
    steps = np.diff(distance)
    spacing = float(np.min(steps)) if len(steps) else 0.0
    if spacing <= 1e-3:
        raise InputError(f"{stack.label} has two slices at the same position; its slice positions are inconsistent.")
    index = (distance - distance[0]) / spacing
    if np.max(np.abs(index - np.round(index))) > _SPACING_TOLERANCE:
        raise InputError(
            f"{stack.label} has irregular slice positions (steps from {steps.min():.2f} to {steps.max():.2f} mm); "
            "cannot build a volume.")
    # The in-plane offsets of the slices must follow the normal (no sheared stacks).
    expected = positions[0] + np.outer(distance - distance[0], stack.normal)
    if np.max(np.linalg.norm(positions - expected, axis=1)) > 0.1 * spacing + 0.01:
        raise InputError(f"{stack.label} is a sheared stack (slices shift within their plane); cannot build a volume.")
    return np.round(index).astype(int), spacing


_NATIVE = {ExplicitVRLittleEndian, ImplicitVRLittleEndian}


def _pixels(ds: Dataset, stack: ImageStack, name: str) -> np.ndarray:
    """Stored pixel values of one frame: a direct view for native little-endian data, else pydicom's decoders."""
    syntax = ds.file_meta.get("TransferSyntaxUID") if hasattr(ds, "file_meta") else None
    if syntax in _NATIVE and integer(ds.BitsAllocated) == 16 and (integer(ds.get("NumberOfFrames")) or 1) == 1:
        data = ds.PixelData
        count = stack.rows * stack.columns
        if len(data) >= 2 * count:
            dtype = np.int16 if integer(ds.get("PixelRepresentation")) == 1 else np.uint16
            stored = np.frombuffer(data, dtype=dtype, count=count)
            bits = integer(ds.get("BitsStored")) or 16
            if 0 < bits < 16 and dtype is np.uint16:
                stored = stored & np.uint16((1 << bits) - 1)
            return stored.reshape(stack.rows, stack.columns)
    try:
        return ds.pixel_array
    except Exception as error:  # noqa: BLE001 - pydicom's decoders raise many types; name the file instead
        raise InputError(f"Cannot decode the pixels of {name} in {stack.label}: {error}.") from None


def _rescale(ds: Dataset) -> tuple[float, float]:
    """(0028,1053) *Rescale Slope* and (0028,1052) *Rescale Intercept*: 1 and 0 when absent or empty (the loader
    has refused a series with any other value that is not a finite number, and a slope of 0)."""
    slope, intercept = ds.get("RescaleSlope"), ds.get("RescaleIntercept")
    return 1.0 if slope in (None, "") else float(slope), 0.0 if intercept in (None, "") else float(intercept)


def stack_to_image(study: Study, stack: ImageStack) -> sitk.Image:
    """Read the stack's pixels (only now) and return a float32 SimpleITK volume.

    Missing slices (a corrupt file skipped by the loader) are filled by linear interpolation
    between their neighbours, with a warning naming the stack.
    """
    index, spacing = slice_layout(stack)
    depth = int(index[-1]) + 1
    volume = np.zeros((depth, stack.rows, stack.columns), dtype=np.float32)
    for k, instance in zip(index, stack.instances, strict=True):
        ds = study.datasets[instance.path]
        pixels = _pixels(ds, stack, instance.path.name)
        if pixels.shape != (stack.rows, stack.columns):
            raise InputError(f"{instance.path.name} in {stack.label} has a {pixels.shape} image, not "
                             f"{stack.rows}x{stack.columns} like the rest of the series.")
        slope, intercept = _rescale(ds)
        with np.errstate(over="ignore", invalid="ignore"):  # non-finite results are refused below, by name
            volume[k] = pixels.astype(np.float32) * np.float32(slope) + np.float32(intercept)
    missing = sorted(set(range(depth)) - set(index.tolist()))
    if missing:
        logger.warning("%s: %d missing slice(s) filled by interpolation", stack.label, len(missing))
        present = np.asarray(index)
        for k in missing:
            below, above = present[present < k].max(), present[present > k].min()
            weight = np.float32((k - below) / (above - below))
            volume[k] = (1 - weight) * volume[below] + weight * volume[above]
    if not np.isfinite(volume).all():
        raise InputError(f"{stack.label} holds non-finite pixel values after rescaling; check its Rescale Slope.")
    image = sitk.GetImageFromArray(volume)
    row, col = np.asarray(stack.orientation[:3]), np.asarray(stack.orientation[3:])
    direction = np.stack([row, col, stack.normal], axis=1)
    first = np.asarray(stack.instances[0].position)
    image.SetOrigin(tuple(float(v) for v in first))
    image.SetSpacing((stack.pixel_spacing[1], stack.pixel_spacing[0], spacing))
    image.SetDirection(tuple(float(v) for v in direction.flatten()))
    return image
