"""Rigid transforms of the volumes package: the identity, parameters in mm and degrees.

Transforms follow the SimpleITK/ITK convention: they map reference (fixed) physical points to
the moving volume's physical points. ITK's :class:`SimpleITK.Euler3DTransform` rotates about a
centre ``c`` by ``R = Rz @ Rx @ Ry`` and translates by ``t``: ``y = R (x - c) + c + t``.
"""

from __future__ import annotations

import math

import numpy as np
import SimpleITK as sitk

from hccp53.errors import InputError


def image_centre(image: sitk.Image) -> tuple[float, float, float]:
    """LPS position (mm) of the centre of ``image``'s voxel grid."""
    middle = [(n - 1) / 2.0 for n in image.GetSize()]
    return image.TransformContinuousIndexToPhysicalPoint(middle)


def identity_transform(reference: sitk.Image) -> sitk.Euler3DTransform:
    """The identity as a rigid transform centred on ``reference`` (the same form registration returns)."""
    transform = sitk.Euler3DTransform()
    transform.SetCenter(image_centre(reference))
    return transform


def transform_parameters(transform: sitk.Transform) -> dict:
    """Parameters of a linear 3D transform in mm and degrees.

    Parameters
    ----------
    transform:
        A linear transform (identity, translation, Euler, versor, affine, or a composite of these).

    Returns
    -------
    dict
        ``matrix`` (3x3, row-major), ``offset_mm`` (so that ``y = matrix @ x + offset``),
        ``translation_mm`` and ``centre_mm`` (for an Euler transform: its centre and translation;
        otherwise the centre is the origin and the translation the offset), ``rotation_deg``
        (Euler angles about x, y, z) and ``rotation_angle_deg`` (total angle).

    Raises
    ------
    InputError
        The transform is not 3D or not linear.
    """
    if transform.GetDimension() != 3 or not transform.IsLinear():
        raise InputError(f"cannot describe a {transform.GetDimension()}D {transform.GetName()} with a matrix and "
                         "offset; only linear 3D transforms are reported.")
    offset = np.asarray(transform.TransformPoint((0.0, 0.0, 0.0)), dtype=float)
    matrix = np.stack([np.asarray(transform.TransformPoint(tuple(e)), dtype=float) - offset
                       for e in np.eye(3)], axis=1)
    if isinstance(transform, sitk.Euler3DTransform):
        centre = np.asarray(transform.GetCenter(), dtype=float)
        translation = np.asarray(transform.GetTranslation(), dtype=float)
        angles = np.degrees([transform.GetAngleX(), transform.GetAngleY(), transform.GetAngleZ()])
    else:
        centre = np.zeros(3)
        translation = offset
        angles = np.degrees(_euler_zxy(matrix))
    cosine = float(np.clip((np.trace(matrix) - 1.0) / 2.0, -1.0, 1.0))
    return {
        "matrix": [[float(v) for v in row] for row in matrix],
        "offset_mm": [float(v) for v in offset],
        "translation_mm": [float(v) for v in translation],
        "centre_mm": [float(v) for v in centre],
        "rotation_deg": [float(v) for v in angles],
        "rotation_angle_deg": math.degrees(math.acos(cosine)),
    }


def _euler_zxy(matrix: np.ndarray) -> np.ndarray:
    """Angles (x, y, z) of ITK's Euler3D convention R = Rz @ Rx @ Ry, for a rotation matrix."""
    angle_x = math.asin(float(np.clip(matrix[2, 1], -1.0, 1.0)))
    angle_y = math.atan2(-matrix[2, 0], matrix[2, 2])
    angle_z = math.atan2(-matrix[0, 1], matrix[1, 1])
    return np.array([angle_x, angle_y, angle_z])


def rigid_about(transform: sitk.Transform, centre: tuple[float, float, float]) -> sitk.Euler3DTransform:
    """A rigid linear transform rewritten as one Euler3D transform about ``centre``.

    Parameters
    ----------
    transform:
        A linear transform whose matrix is a rotation (e.g. a translation or an Euler transform,
        possibly wrapped in a composite, as registration returns it).
    centre:
        Centre of rotation of the result (LPS mm).

    Returns
    -------
    sitk.Euler3DTransform
        The same mapping, parametrised by angles about ``centre`` and a translation.
    """
    params = transform_parameters(transform)
    euler = sitk.Euler3DTransform()
    euler.SetCenter(centre)
    euler.SetMatrix([v for row in params["matrix"] for v in row])
    offset = np.asarray(params["offset_mm"])
    matrix = np.asarray(params["matrix"])
    centre_arr = np.asarray(centre)
    euler.SetTranslation(tuple(float(v) for v in matrix @ centre_arr + offset - centre_arr))
    return euler
