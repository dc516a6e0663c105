"""Rigid registration: recovers known motions, is deterministic, refuses absurd results out loud."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import SimpleITK as sitk

from hccp53.errors import ConfigError, InputError
from hccp53.volumes.register import RegistrationSettings, dilate_mask, register_rigid
from hccp53.volumes.transforms import identity_transform, image_centre, rigid_about, transform_parameters


def _moved(image: sitk.Image, transform: sitk.Euler3DTransform) -> sitk.Image:
    """``image`` with its geometry carried by ``transform``: the result at T(p) holds the value ``image`` has at p.

    No voxel is interpolated, so the registration must find exactly ``transform``.
    """
    moved = sitk.Image(image)
    matrix = np.asarray(transform.GetMatrix()).reshape(3, 3)
    moved.SetOrigin(transform.TransformPoint(image.GetOrigin()))
    moved.SetDirection(tuple((matrix @ np.asarray(image.GetDirection()).reshape(3, 3)).flatten()))
    return moved


def _rigid(centre, angles_deg, translation) -> sitk.Euler3DTransform:
    transform = sitk.Euler3DTransform()
    transform.SetCenter(tuple(centre))
    transform.SetRotation(*np.radians(angles_deg))
    transform.SetTranslation(tuple(float(v) for v in translation))
    return transform


def _point_errors(found: sitk.Transform, truth: sitk.Transform, points) -> np.ndarray:
    return np.array([np.linalg.norm(np.subtract(found.TransformPoint(tuple(p)), truth.TransformPoint(tuple(p))))
                     for p in points])


@pytest.mark.parametrize(("angles_deg", "translation"), [
    ((0.0, 0.0, 3.0), (2.0, -1.0, 4.0)),
    ((2.0, -3.0, 1.0), (0.0, 0.0, -12.0)),
    ((0.0, 0.0, 0.0), (3.0, 3.0, 25.0)),
])
def test_a_known_rigid_motion_is_recovered(phantom, angles_deg, translation) -> None:
    """The arterial phase, carried by a known rotation and translation, registered onto the portal venous phase."""
    fixed = phantom.images["pvp"]
    ap = sitk.Image(phantom.images["ap"])  # undo the phantom's own breath-hold shift first: only `truth` remains
    ap.SetOrigin(tuple(np.asarray(ap.GetOrigin()) - phantom.relative_shift("ap")))
    centre = phantom.tumor_centre("pvp")
    truth = _rigid(centre, angles_deg, translation)
    transform, report = register_rigid(fixed, _moved(ap, truth), label="phase 'ap'")
    assert not report.fallback_to_identity
    corners = [centre + np.array(d) for d in [(40, 40, 30), (-40, -40, -30), (40, -40, 30), (-40, 40, -30)]]
    assert _point_errors(transform, truth, [centre, *corners]).max() < 0.75
    assert np.allclose(report.rotation_deg, angles_deg, atol=0.5)
    assert report.metric_after < report.metric_before < 0  # Mattes MI is negative; lower is better
    assert report.iterations > 0 and report.seconds > 0


def test_registration_is_deterministic(phantom) -> None:
    fixed, moving = phantom.images["pvp"], phantom.images["dp"]
    first, report = register_rigid(fixed, moving)
    second, _ = register_rigid(fixed, moving)  # threads add up in varying order: agree to ~1e-6 mm
    np.testing.assert_allclose(second.GetParameters(), first.GetParameters(), rtol=0, atol=1e-5)
    np.testing.assert_allclose(report.translation_mm, phantom.relative_shift("dp"), atol=0.5)
    threads = sitk.ProcessObject.GetGlobalDefaultNumberOfThreads()
    sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(1)
    try:
        single = [register_rigid(fixed, moving)[0].GetParameters() for _ in range(2)]
    finally:
        sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(threads)
    assert single[0] == single[1]  # one thread: bit-identical


def test_a_liver_mask_restricts_the_metric(phantom) -> None:
    liver = sitk.Cast(phantom.tumors["pvp"], sitk.sitkUInt8)  # the tumor, grown: a region around it
    region = dilate_mask(liver, 30.0)
    assert sitk.GetArrayViewFromImage(region).sum() > 5 * sitk.GetArrayViewFromImage(liver).sum()
    transform, report = register_rigid(phantom.images["pvp"], phantom.images["ap"], fixed_mask=region)
    centre = phantom.tumor_centre("pvp")
    error = np.asarray(transform.TransformPoint(tuple(centre))) - phantom.tumor_centre("ap")
    assert np.linalg.norm(error) < 1.0, error
    assert not report.fallback_to_identity


def test_a_result_beyond_the_limits_falls_back_to_the_identity_out_loud(phantom, caplog) -> None:
    settings = RegistrationSettings(max_translation_mm=2.0)  # the arterial phase lies ~5 mm away
    with caplog.at_level(logging.WARNING, logger="hccp53.volumes.register"):
        transform, report = register_rigid(phantom.images["pvp"], phantom.images["ap"], settings=settings,
                                           label="phase 'ap'")
    assert report.fallback_to_identity
    assert report.fallback_reason.startswith("the translation found (5.")
    assert np.linalg.norm(report.translation_mm) > 4.0  # what was found is still reported
    assert transform_parameters(transform)["translation_mm"] == [0.0, 0.0, 0.0]
    assert transform.GetCenter() == pytest.approx(image_centre(phantom.images["pvp"]))
    assert "Registration of phase 'ap' refused, using the identity instead" in caplog.text

    settings = RegistrationSettings(max_rotation_deg=0.5)
    truth = _rigid(phantom.tumor_centre("pvp"), (0.0, 0.0, 3.0), (0.0, 0.0, 0.0))
    _, report = register_rigid(phantom.images["pvp"], _moved(phantom.images["pvp"], truth), settings=settings)
    assert report.fallback_to_identity and "rotation found (3." in report.fallback_reason


def test_unrelated_volumes_are_not_aligned(phantom, caplog) -> None:
    fixed = phantom.images["pvp"]
    noise = sitk.GetImageFromArray(np.random.default_rng(0).uniform(0, 1, fixed.GetSize()[::-1]).astype(np.float32))
    noise.CopyInformation(fixed)
    with caplog.at_level(logging.WARNING, logger="hccp53.volumes.register"):
        transform, report = register_rigid(fixed, noise)
    assert report.fallback_to_identity
    assert "share too little information" in report.fallback_reason
    assert transform.GetParameters() == identity_transform(fixed).GetParameters()
    assert "refused" in caplog.text


def test_transform_parameters_of_other_linear_transforms() -> None:
    truth = _rigid((10.0, -20.0, 30.0), (4.0, -2.0, 7.0), (1.0, 2.0, 3.0))
    affine = sitk.AffineTransform(3)
    affine.SetMatrix(truth.GetMatrix())
    affine.SetTranslation(tuple(np.asarray(truth.TransformPoint((0.0, 0.0, 0.0)))))
    params = transform_parameters(affine)
    assert params["rotation_deg"] == pytest.approx([4.0, -2.0, 7.0])
    assert params["offset_mm"] == pytest.approx(list(truth.TransformPoint((0.0, 0.0, 0.0))))
    assert params["rotation_angle_deg"] == pytest.approx(transform_parameters(truth)["rotation_angle_deg"])
    back = rigid_about(affine, (10.0, -20.0, 30.0))
    assert back.GetParameters() == pytest.approx(truth.GetParameters())
    with pytest.raises(InputError, match=r"only linear 3D transforms"):
        transform_parameters(sitk.DisplacementFieldTransform(3))


def test_inputs_that_cannot_be_registered_are_refused(phantom) -> None:
    fixed = phantom.images["pvp"]
    blank = sitk.Image(fixed.GetSize(), sitk.sitkFloat32)
    blank.CopyInformation(fixed)
    with pytest.raises(InputError, match=r"phase 'ap' has the same value \(0\) in every voxel"):
        register_rigid(fixed, blank, label="phase 'ap'")
    with pytest.raises(InputError, match=r"registration mask is empty"):
        register_rigid(fixed, phantom.images["ap"], fixed_mask=sitk.Cast(blank, sitk.sitkUInt8))
    with pytest.raises(ConfigError, match=r"one smoothing sigma per shrink factor"):
        RegistrationSettings(shrink_factors=(4, 2, 1), smoothing_sigmas_mm=(2.0, 0.0))
    with pytest.raises(ConfigError, match=r"rigid_levels 4 must lie between 0 and the number of levels \(3\)"):
        RegistrationSettings(rigid_levels=4)


def test_a_dilated_liver_mask_follows_the_liver_when_the_body_wall_stays(sliding_phantom) -> None:
    """Breathing moves the liver, not the spine: registering the liver region finds the liver's shift.

    (Without the mask, the still body wall pulls the in-plane shift towards zero: up to ~2.5 mm of
    error at the tumor on this phantom.)
    """
    phantom = sliding_phantom
    region = dilate_mask(phantom.livers["pvp"], 10.0)
    for phase in ("ap", "dp", "t2"):
        transform, report = register_rigid(phantom.images["pvp"], phantom.images[phase], fixed_mask=region)
        error = np.asarray(transform.TransformPoint(tuple(phantom.tumor_centre("pvp")))) \
            - phantom.tumor_centre(phase)
        assert np.linalg.norm(error) < 1.0, (phase, error)
        assert not report.fallback_to_identity
