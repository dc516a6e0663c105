"""Physical-space resampling: exact for aligned grids, orientation-aware, refuses unusable geometry."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk

from hccp53.errors import ConfigError, InputError
from hccp53.synth import render
from hccp53.synth.geometry import CORONAL, Grid
from hccp53.volumes.resample import check_image_geometry, resample_mask, resample_to_reference

OBLIQUE = np.array([[0.8, -0.6, 0.0], [0.6, 0.8, 0.0], [0.0, 0.0, 1.0]]) @ np.array(
    [[1.0, 0.0, 0.0], [0.0, np.cos(0.3), -np.sin(0.3)], [0.0, np.sin(0.3), np.cos(0.3)]])


def _volume(shape=(20, 30, 40), spacing=(0.8, 1.1, 3.2), origin=(-31.7, 12.9, -88.4), direction=OBLIQUE,
            seed=0) -> sitk.Image:
    """Random float32 values on an oblique grid (``shape`` is numpy order: slices, rows, columns)."""
    values = np.random.default_rng(seed).uniform(0.0, 1000.0, shape).astype(np.float32)
    image = sitk.GetImageFromArray(values)
    image.SetSpacing(spacing)
    image.SetOrigin(origin)
    image.SetDirection(tuple(np.asarray(direction, dtype=float).flatten()))
    return image


def _array(image: sitk.Image) -> np.ndarray:
    return sitk.GetArrayFromImage(image)


def _physical_points(image: sitk.Image) -> np.ndarray:
    """LPS coordinates of every voxel centre, shape (slices, rows, columns, 3)."""
    size = image.GetSize()
    k, j, i = np.meshgrid(*(np.arange(n, dtype=float) for n in size[::-1]), indexing="ij")
    index = np.stack([i, j, k], axis=-1) * np.asarray(image.GetSpacing())
    return np.asarray(image.GetOrigin()) + index @ np.asarray(image.GetDirection()).reshape(3, 3).T


def _sampled(image: sitk.Image, gradient: np.ndarray, constant: float) -> sitk.Image:
    """``image``'s grid holding the affine function gradient . p + constant of the voxel position p."""
    values = (_physical_points(image) @ gradient + constant).astype(np.float32)
    result = sitk.GetImageFromArray(values)
    result.CopyInformation(image)
    return result


# -- exact for aligned inputs ------------------------------------------------------------------------------

def test_same_grid_gives_the_identical_array() -> None:
    moving = _volume()
    result = resample_to_reference(moving, moving)
    assert result.GetPixelID() == sitk.sitkFloat32
    np.testing.assert_array_equal(_array(result), _array(moving))
    assert result.GetOrigin() == moving.GetOrigin() and result.GetDirection() == moving.GetDirection()


def test_integer_offset_subset_and_superset_keep_the_values() -> None:
    moving = _volume()
    subset = moving[5:33, 3:25, 2:17]  # SimpleITK slicing is (i, j, k): a sub-grid with the same geometry
    np.testing.assert_array_equal(_array(resample_to_reference(moving, subset)), _array(moving)[2:17, 3:25, 5:33])

    superset = sitk.ConstantPad(moving, (4, 3, 2), (5, 1, 3), 0.0)
    result = _array(resample_to_reference(moving, superset, default_value=-7.0))
    inner = result[2:-3, 3:-1, 4:-5]
    np.testing.assert_array_equal(inner, _array(moving))
    outside = np.ones(result.shape, dtype=bool)
    outside[2:-3, 3:-1, 4:-5] = False
    assert np.all(result[outside] == -7.0)


def test_a_permuted_and_flipped_copy_resampled_back_is_identical() -> None:
    moving = _volume()
    copy = sitk.Flip(sitk.PermuteAxes(moving, (2, 0, 1)), (True, False, True))  # same voxels, other array order
    assert not np.allclose(copy.GetDirection(), moving.GetDirection())
    np.testing.assert_allclose(_array(resample_to_reference(copy, moving)), _array(moving), rtol=1e-6, atol=1e-4)
    mask = sitk.Cast(moving > 500.0, sitk.sitkUInt8)
    mask_copy = sitk.Flip(sitk.PermuteAxes(mask, (2, 0, 1)), (True, False, True))
    np.testing.assert_array_equal(_array(resample_mask(mask_copy, mask)), _array(mask))


def test_a_coronal_rendering_lands_on_the_axial_rendering(phantom) -> None:
    """The phantom rendered on a coronal grid and resampled = the phantom rendered on the axial grid."""
    anatomy = phantom.anatomy
    centre = np.asarray(anatomy.lesions[0].centre)
    axial = Grid.centred(centre, (20, 24, 28), (2.0, 2.0, 2.0))
    coronal = Grid.centred(centre, (24, 20, 28), (2.0, 2.0, 2.0), CORONAL)  # same voxel centres, other axes

    def image(grid: Grid) -> sitk.Image:
        water, fat = render.t1_components(grid, render.memberships(anatomy, grid, np.zeros(3), 0.0),
                                          anatomy.tissues, "pvp")
        return grid.to_sitk(render.combine(water, fat, "fs"))

    expected = _array(image(axial))
    result = _array(resample_to_reference(image(coronal), image(axial)))
    assert expected.std() > 50.0  # the patch holds structure (tumor edge), not a constant
    np.testing.assert_allclose(result, expected, rtol=1e-4, atol=1e-2)


@pytest.mark.parametrize("direction", [OBLIQUE, np.array([[1.0, 0, 0], [0, 0, 1.0], [0, -1.0, 0]])],
                         ids=["oblique", "coronal"])
def test_direction_cosines_are_honoured(direction: np.ndarray) -> None:
    """Linear interpolation reproduces an affine function of position exactly, wherever the grids lie."""
    gradient, constant = np.array([0.7, -1.3, 2.1]), 500.0
    size, spacing = np.array([40, 40, 24]), np.array([1.5, 1.5, 2.5])  # (i, j, k)
    origin = -direction @ ((size - 1) * spacing / 2.0)  # centred on (0, 0, 0) whatever the orientation
    moving = _sampled(_volume(shape=tuple(size[::-1]), spacing=tuple(spacing), origin=tuple(origin),
                              direction=direction), gradient, constant)
    reference = _volume(shape=(10, 16, 12), spacing=(1.3, 1.7, 2.9), origin=(-12.0, -9.0, -11.0),
                        direction=np.eye(3))
    result = _array(resample_to_reference(moving, reference, default_value=np.nan))
    expected = _physical_points(reference) @ gradient + constant
    inside = ~np.isnan(result)
    assert inside.mean() > 0.9
    np.testing.assert_allclose(result[inside], expected[inside], rtol=1e-5, atol=1e-3)
    # Ignoring the direction (identity cosines) would put the values elsewhere.
    wrong = sitk.Image(moving)
    wrong.SetDirection(tuple(np.eye(3).flatten()))
    wrong.SetOrigin(tuple(-(size - 1) * spacing / 2.0))  # still centred on (0, 0, 0)
    misplaced = _array(resample_to_reference(wrong, reference, default_value=np.nan))
    assert np.nanmax(np.abs(misplaced - expected)) > 10.0


def test_a_transform_moves_the_sampling_points() -> None:
    gradient, constant = np.array([0.0, 0.0, 2.0]), 100.0
    moving = _sampled(_volume(shape=(30, 30, 30), spacing=(2.0, 2.0, 2.0), origin=(-30.0, -30.0, -30.0),
                              direction=np.eye(3)), gradient, constant)
    reference = moving[5:25, 5:25, 5:20]
    shift = sitk.TranslationTransform(3, (0.0, 0.0, 5.0))  # reference point p samples moving at p + 5 mm in z
    result = _array(resample_to_reference(moving, reference, shift))
    expected = _physical_points(reference) @ gradient + constant + 2.0 * 5.0
    np.testing.assert_allclose(result, expected, rtol=1e-6, atol=1e-3)


def test_masks_keep_their_labels_and_type() -> None:
    moving = _volume(shape=(12, 14, 16), direction=np.eye(3))
    labels = sitk.Cast(sitk.GetImageFromArray((_array(moving) // 250).astype(np.uint8)), sitk.sitkUInt8)
    labels.CopyInformation(moving)
    reference = _volume(shape=(10, 10, 10), spacing=(0.5, 0.7, 1.9), origin=(-30.0, 14.0, -85.0),
                        direction=OBLIQUE)
    result = resample_mask(labels, reference)
    assert result.GetPixelID() == sitk.sitkUInt8
    assert set(np.unique(_array(result))) <= set(np.unique(_array(labels)))


# -- unusable geometry -------------------------------------------------------------------------------------

class _ZeroSpacing(sitk.Image):
    """An image whose spacing reads as zero (SimpleITK refuses to set one; a foreign loader might not)."""

    def GetSpacing(self) -> tuple[float, float, float]:  # noqa: N802 - SimpleITK's method name
        return (0.7, 0.0, 0.7)


def _with_direction(direction: tuple[float, ...]) -> sitk.Image:
    image = _volume(shape=(4, 4, 4), direction=np.eye(3))
    image.SetDirection(direction)
    return image


@pytest.mark.parametrize(("image", "message"), [
    (sitk.Image(8, 8, sitk.sitkFloat32), r"2D image .* needs a 3D volume"),
    (sitk.Image([4, 4, 4], sitk.sitkVectorFloat32, 3), r"3 components per voxel"),
    (_ZeroSpacing(sitk.Image(4, 4, 4, sitk.sitkFloat32)), r"voxel spacing \(0.7, 0.0, 0.7\) mm"),
    (_with_direction((1.0, 0.1, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0)), r"degenerate direction cosines"),
    (_with_direction((1.0, 0.0, 0.0, 0.999, 0.0447, 0.0, 0.0, 0.0, 1.0)), r"degenerate direction cosines"),
    (_with_direction((2.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0)), r"not orthonormal"),
    (np.zeros((4, 4, 4)), r"not a SimpleITK image"),
], ids=["2d", "vector", "zero-spacing", "sheared", "near-singular", "scaled", "numpy"])
def test_unusable_geometry_is_refused_with_a_sentence(image, message: str) -> None:
    reference = _volume(shape=(4, 4, 4), direction=np.eye(3))
    with pytest.raises(InputError, match=message):
        resample_to_reference(image, reference, label="phase 'ap'")
    with pytest.raises(InputError, match=message.replace("phase 'ap'", "the reference volume")):
        resample_to_reference(reference, image)


def test_nan_spacing_is_refused() -> None:
    image = _volume(shape=(4, 4, 4))
    image.SetSpacing((1.0, float("nan"), 1.0))  # SimpleITK accepts NaN, though not zero
    with pytest.raises(InputError, match=r"spacing \(1.0, nan, 1.0\) mm; every spacing must be positive"):
        check_image_geometry(image, "phase 'dp'")


def test_volumes_that_do_not_overlap_are_refused() -> None:
    moving = _volume(direction=np.eye(3))
    far = _volume(origin=(500.0, 0.0, 0.0), direction=np.eye(3))
    with pytest.raises(InputError, match=r"phase 't2' does not overlap the reference grid"):
        resample_to_reference(moving, far, label="phase 't2'")
    with pytest.raises(InputError, match=r"does not overlap"):
        resample_mask(sitk.Cast(moving > 0, sitk.sitkUInt8), far)


def test_bad_arguments_are_refused() -> None:
    image = _volume(shape=(4, 4, 4))
    with pytest.raises(ConfigError, match=r"unknown interpolator 'cubic'; use one of linear, nearest"):
        resample_to_reference(image, image, interpolator="cubic")
    with pytest.raises(InputError, match=r"2D; a 3D volume needs a 3D transform"):
        resample_to_reference(image, image, sitk.TranslationTransform(2))
    with pytest.raises(InputError, match=r"floating-point voxels"):
        resample_mask(image, image)
