"""Resample a volume onto another volume's voxel grid through LPS patient space.

Volumes are SimpleITK images whose origin, spacing and direction cosines place every voxel
in DICOM patient coordinates (LPS, millimetres). Resampling maps each reference voxel centre
to a physical point, optionally through a transform (reference space → moving space, the
SimpleITK and ITK convention), and interpolates the moving volume there. Nothing relies on
the two volumes sharing an orientation or array order: an oblique, coronal or axis-permuted
volume lands in the right place.
"""

from __future__ import annotations

import logging

import numpy as np
import SimpleITK as sitk

from hccp53.errors import ConfigError, InputError

logger = logging.getLogger(__name__)

INTERPOLATORS: dict[str, int] = {
    "linear": sitk.sitkLinear,
    "nearest": sitk.sitkNearestNeighbor,
    "bspline": sitk.sitkBSpline,
    "lanczos": sitk.sitkLanczosWindowedSinc,
}

_DIRECTION_TOLERANCE = 1e-3  # largest deviation of D^T D from the identity accepted as orthonormal


def constant_value(image: sitk.Image) -> float | None:
    """The value of every voxel when they are all the same (a blank image), else None."""
    statistics = sitk.MinimumMaximumImageFilter()
    statistics.Execute(image)
    return statistics.GetMinimum() if statistics.GetMinimum() == statistics.GetMaximum() else None


def check_image_geometry(image: sitk.Image, label: str = "the volume") -> None:
    """Refuse a volume whose geometry cannot place its voxels in patient space.

    Parameters
    ----------
    image:
        The volume to check.
    label:
        How to name the volume in the error message (e.g. ``"phase 'ap'"``).

    Raises
    ------
    InputError
        The image is not a scalar 3D volume, a spacing is zero, negative or not finite, the
        origin is not finite, or the direction cosines are not orthonormal (degenerate).
    """
    if not isinstance(image, sitk.Image):
        raise InputError(f"{label} is a {type(image).__name__}, not a SimpleITK image; load it as a volume first.")
    if image.GetDimension() != 3:
        raise InputError(f"{label} is a {image.GetDimension()}D image of size {image.GetSize()}; "
                         "resampling needs a 3D volume.")
    if image.GetNumberOfComponentsPerPixel() != 1:
        raise InputError(f"{label} has {image.GetNumberOfComponentsPerPixel()} components per voxel; "
                         "resampling needs a scalar volume.")
    if min(image.GetSize()) < 1:
        raise InputError(f"{label} is empty (size {image.GetSize()}).")
    spacing = np.asarray(image.GetSpacing(), dtype=float)
    if not np.all(np.isfinite(spacing)) or np.any(spacing <= 0.0):
        raise InputError(f"{label} has voxel spacing {tuple(float(s) for s in spacing)} mm; every spacing must be "
                         "positive: check the Pixel Spacing and slice positions of its series.")
    if not np.all(np.isfinite(image.GetOrigin())):
        raise InputError(f"{label} has origin {image.GetOrigin()}; the origin must be finite.")
    direction = np.asarray(image.GetDirection(), dtype=float).reshape(3, 3)
    deviation = float(np.max(np.abs(direction.T @ direction - np.eye(3)))) if np.all(np.isfinite(direction)) \
        else float("inf")
    if deviation > _DIRECTION_TOLERANCE:
        raise InputError(
            f"{label} has degenerate direction cosines {tuple(round(float(v), 4) for v in direction.flatten())} "
            f"(not orthonormal, deviation {deviation:.3g}); check its Image Orientation (Patient).")


def _check_transform(transform: sitk.Transform | None) -> sitk.Transform:
    if transform is None:
        return sitk.Transform(3, sitk.sitkIdentity)
    if not isinstance(transform, sitk.Transform):
        raise InputError(f"the transform is a {type(transform).__name__}, not a SimpleITK transform.")
    if transform.GetDimension() != 3:
        raise InputError(f"the transform is {transform.GetDimension()}D; a 3D volume needs a 3D transform.")
    return transform


def check_overlap(moving: sitk.Image, reference: sitk.Image, transform: sitk.Transform, label: str) -> None:
    """Refuse a pair of volumes that cannot overlap.

    Only linear transforms are checked (others pass): the reference grid's corners, mapped into
    the moving volume, then bound the whole mapped grid, so a box disjoint from the moving
    volume proves that no reference voxel can receive a value.

    Parameters
    ----------
    moving:
        The volume to be resampled.
    reference:
        The volume whose grid is resampled onto.
    transform:
        Reference-to-moving physical transform.
    label:
        How to name ``moving`` in the message.

    Raises
    ------
    InputError
        The mapped reference grid misses the moving volume entirely.
    """
    if not transform.IsLinear():
        return
    size = np.asarray(reference.GetSize(), dtype=float)
    corners = [np.asarray(c, dtype=float) * (size - 1) for c in np.ndindex(2, 2, 2)]
    mapped = np.array([
        moving.TransformPhysicalPointToContinuousIndex(
            transform.TransformPoint(reference.TransformContinuousIndexToPhysicalPoint(tuple(c))))
        for c in corners
    ])
    low, high = mapped.min(axis=0), mapped.max(axis=0)
    extent = np.asarray(moving.GetSize(), dtype=float)
    if np.any(high < -0.5) or np.any(low > extent - 0.5):
        raise InputError(f"{label} does not overlap the reference grid anywhere (reference origin "
                         f"{tuple(round(v, 1) for v in reference.GetOrigin())} mm, moving origin "
                         f"{tuple(round(v, 1) for v in moving.GetOrigin())} mm); the volumes are not from the same "
                         "patient position or frame of reference.")


def resample_to_reference(
    moving: sitk.Image,
    reference: sitk.Image,
    transform: sitk.Transform | None = None,
    interpolator: str = "linear",
    default_value: float = 0.0,
    label: str = "the moving volume",
) -> sitk.Image:
    """Resample ``moving`` onto the voxel grid of ``reference`` using physical geometry.

    Parameters
    ----------
    moving:
        The volume to resample (any orientation, spacing and array order).
    reference:
        The volume whose grid (size, origin, spacing, direction) the result takes; its
        pixel values are not used.
    transform:
        Maps reference physical points to moving physical points (the SimpleITK convention,
        as returned by :func:`hccp53.volumes.register.register_rigid`). None: identity.
    interpolator:
        ``"linear"`` (default), ``"nearest"``, ``"bspline"`` (cubic) or ``"lanczos"``.
    default_value:
        Value of reference voxels that fall outside the moving volume.
    label:
        How to name ``moving`` in error messages.

    Returns
    -------
    sitk.Image
        A float32 volume on the reference grid.

    Raises
    ------
    InputError
        Either volume has unusable geometry (see :func:`check_image_geometry`), the transform is
        not 3D, or (for a linear transform) the moving volume does not overlap the reference grid.
    ConfigError
        ``interpolator`` is not one of the names above.
    """
    if interpolator not in INTERPOLATORS:
        raise ConfigError(f"unknown interpolator {interpolator!r}; use one of {', '.join(INTERPOLATORS)}.")
    check_image_geometry(moving, label)
    check_image_geometry(reference, "the reference volume")
    transform = _check_transform(transform)
    check_overlap(moving, reference, transform, label)
    moving = sitk.Cast(moving, sitk.sitkFloat32) if moving.GetPixelID() != sitk.sitkFloat32 else moving
    return sitk.Resample(moving, reference, transform, INTERPOLATORS[interpolator], float(default_value),
                         sitk.sitkFloat32)


def resample_mask(
    mask: sitk.Image,
    reference: sitk.Image,
    transform: sitk.Transform | None = None,
    label: str = "the mask",
) -> sitk.Image:
    """Resample a label mask onto the grid of ``reference`` with nearest-neighbour interpolation.

    Parameters
    ----------
    mask:
        Integer label image (e.g. 1 = tumor); its pixel type is kept.
    reference:
        The volume whose grid the result takes.
    transform:
        Reference-to-mask physical transform, as in :func:`resample_to_reference`. None: identity.
    label:
        How to name ``mask`` in error messages.

    Returns
    -------
    sitk.Image
        The mask on the reference grid, same pixel type, 0 outside the mask's extent.

    Raises
    ------
    InputError
        As :func:`resample_to_reference`, and when the mask has a floating-point pixel type
        (resample a probability map with :func:`resample_to_reference` instead).
    """
    check_image_geometry(mask, label)
    check_image_geometry(reference, "the reference volume")
    if mask.GetPixelID() in (sitk.sitkFloat32, sitk.sitkFloat64):
        raise InputError(f"{label} has floating-point voxels ({mask.GetPixelIDTypeAsString()}); a label mask must "
                         "be an integer image (cast it, or resample a probability map with resample_to_reference).")
    transform = _check_transform(transform)
    check_overlap(mask, reference, transform, label)
    return sitk.Resample(mask, reference, transform, sitk.sitkNearestNeighbor, 0, mask.GetPixelID())
