"""Acceptance: phases with known breath-hold shifts end on one grid with their tumors in one place."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from hccp53.errors import ConfigError, InputError
from hccp53.volumes.multiphase import MultiphaseVolumes, build_multiphase
from hccp53.volumes.register import RegistrationSettings, register_rigid
from hccp53.volumes.resample import resample_to_reference

OTHER_PHASES = ("ap", "dp", "t2")


def centre_of_mass(image: sitk.Image) -> np.ndarray:
    """Mean LPS position (mm) of the voxels of ``image``, weighted by their values."""
    weights = sitk.GetArrayFromImage(image).astype(float)  # [k, j, i]
    k, j, i = np.nonzero(weights > 0)
    w = weights[k, j, i]
    index = np.stack([i, j, k], axis=1).astype(float) * np.asarray(image.GetSpacing())
    points = np.asarray(image.GetOrigin()) + index @ np.asarray(image.GetDirection()).reshape(3, 3).T
    return (points * w[:, None]).sum(axis=0) / w.sum()


def _tumor_offsets(phantom, volumes: MultiphaseVolumes) -> dict[str, np.ndarray]:
    """Per phase: its tumor's centre on the reference grid (through the transform applied) minus the reference's."""
    reference = volumes.images["pvp"]
    centre = centre_of_mass(resample_to_reference(phantom.tumors["pvp"], reference))
    return {phase: centre_of_mass(resample_to_reference(phantom.tumors[phase], reference, volumes.transforms[phase]))
            - centre for phase in OTHER_PHASES}


@pytest.fixture(scope="module")
def registered(phantom) -> MultiphaseVolumes:
    return build_multiphase(phantom.images, reference_phase="pvp", register=True)


def test_after_registration_the_tumor_centres_agree_within_one_voxel(phantom, registered) -> None:
    voxel = np.asarray(registered.images["pvp"].GetSpacing())  # 2 x 2 x 3 mm
    for phase, offset in _tumor_offsets(phantom, registered).items():
        assert np.all(np.abs(offset) < voxel), (phase, offset)
        assert np.linalg.norm(offset) < 1.0, (phase, offset)  # in practice a few tenths of a millimetre
        # The transform itself, at the tumor: it must carry the reference tumor centre onto the phase's.
        error = np.asarray(registered.transforms[phase].TransformPoint(tuple(phantom.tumor_centre("pvp")))) \
            - phantom.tumor_centre(phase)
        assert np.linalg.norm(error) < 1.0, (phase, error)
        report = registered.reports[phase]
        assert not report.fallback_to_identity
        np.testing.assert_allclose(report.translation_mm, phantom.relative_shift(phase), atol=1.0)
        assert report.rotation_angle_deg < 1.0


def test_without_registration_the_centres_disagree_by_the_breath_hold_shift(phantom) -> None:
    """The check above can fail: geometry alone leaves each tumor where its breath-hold put it."""
    unregistered = build_multiphase(phantom.images, reference_phase="pvp")
    assert unregistered.reports == {}
    voxel = np.asarray(unregistered.images["pvp"].GetSpacing())
    for phase, offset in _tumor_offsets(phantom, unregistered).items():
        np.testing.assert_allclose(offset, phantom.relative_shift(phase), atol=1.0, err_msg=phase)
        assert abs(offset[2]) > voxel[2], (phase, offset)  # more than a voxel apart along z


def test_every_phase_is_on_the_reference_grid(phantom, registered) -> None:
    reference = phantom.images["pvp"]
    for phase, image in registered.images.items():
        assert image.GetPixelID() == sitk.sitkFloat32, phase
        assert image.GetSize() == reference.GetSize(), phase
        assert image.GetOrigin() == reference.GetOrigin() and image.GetSpacing() == reference.GetSpacing(), phase
        assert image.GetDirection() == reference.GetDirection(), phase
    np.testing.assert_array_equal(sitk.GetArrayFromImage(registered.images["pvp"]),
                                  sitk.GetArrayFromImage(reference))


def test_save_writes_volumes_transforms_and_a_readable_summary(phantom, registered, tmp_path: Path) -> None:
    written = registered.save(tmp_path / "volumes")
    names = {f"{p}.nii.gz" for p in phantom.images} | {f"{p}.tfm" for p in phantom.images} | {"transforms.json"}
    assert set(written) == names
    assert {p.name for p in (tmp_path / "volumes").iterdir()} == names  # no temporary files left
    summary = json.loads((tmp_path / "volumes" / "transforms.json").read_text())
    assert summary["reference_phase"] == "pvp"
    assert summary["reference_grid"]["size"] == list(phantom.images["pvp"].GetSize())
    assert summary["phases"]["pvp"]["registered"] is False and summary["phases"]["pvp"]["registration"] is None
    for phase in OTHER_PHASES:
        entry = summary["phases"][phase]
        assert entry["registered"] is True
        assert entry["translation_mm"] == pytest.approx(list(registered.reports[phase].translation_mm))
        assert entry["registration"]["metric"] == "mattes_mutual_information"
        transform = sitk.ReadTransform(str(tmp_path / "volumes" / entry["transform"]))
        point = tuple(phantom.tumor_centre("pvp"))
        assert transform.TransformPoint(point) == pytest.approx(registered.transforms[phase].TransformPoint(point))
        image = sitk.ReadImage(str(tmp_path / "volumes" / entry["image"]))
        np.testing.assert_array_equal(sitk.GetArrayFromImage(image), sitk.GetArrayFromImage(registered.images[phase]))
        assert image.GetOrigin() == pytest.approx(phantom.images["pvp"].GetOrigin())


def test_another_reference_phase_can_be_chosen(phantom) -> None:
    volumes = build_multiphase({p: phantom.images[p] for p in ("t2", "pvp")}, reference_phase="t2")
    assert volumes.images["pvp"].GetSize() == phantom.images["t2"].GetSize()
    assert volumes.transforms["pvp"].GetParameters() == (0.0,) * 6


def test_a_missing_reference_phase_is_a_clear_error(phantom) -> None:
    images = {p: phantom.images[p] for p in ("t2", "ap")}
    with pytest.raises(InputError, match=r"the reference phase 'pvp' is missing \(phases given: t2, ap\)"):
        build_multiphase(images)
    with pytest.raises(InputError, match=r"no phase volumes were given"):
        build_multiphase({})
    with pytest.raises(InputError, match=r"phase name '\.\./pvp' is not usable"):
        build_multiphase({"../pvp": phantom.images["pvp"]}, reference_phase="../pvp")
    with pytest.raises(ConfigError, match=r"given with register=False"):
        build_multiphase({"pvp": phantom.images["pvp"]}, settings=RegistrationSettings())
    flat = sitk.Image(phantom.images["ap"])
    flat.SetDirection((1.0, 0.2, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0))
    with pytest.raises(InputError, match=r"phase 'ap' has degenerate direction cosines"):
        build_multiphase({"pvp": phantom.images["pvp"], "ap": flat})


@pytest.mark.slow
def test_full_size_volumes_register_within_a_voxel(make_phantom) -> None:
    """Scanner-sized 256 x 256 x 67 dynamic volumes (1.5 x 1.5 x 3 mm) and a 288 x 224 x 30 T2."""
    phantom = make_phantom(full_size=True)
    volumes = build_multiphase(phantom.images, reference_phase="pvp", register=True)
    for phase in OTHER_PHASES:
        error = np.asarray(volumes.transforms[phase].TransformPoint(tuple(phantom.tumor_centre("pvp")))) \
            - phantom.tumor_centre(phase)
        assert np.linalg.norm(error) < 1.0, (phase, error)
    for phase, offset in _tumor_offsets(phantom, volumes).items():
        assert np.all(np.abs(offset) < np.asarray(phantom.images["pvp"].GetSpacing())), (phase, offset)


def test_phases_registered_side_by_side_equal_one_after_another(phantom, registered) -> None:
    """build_multiphase registers the phases in threads; each result is what register_rigid gives alone."""
    for phase in OTHER_PHASES:
        alone, _ = register_rigid(phantom.images["pvp"], phantom.images[phase], label=phase)
        assert registered.transforms[phase].GetParameters() == alone.GetParameters(), phase
        assert registered.transforms[phase].GetFixedParameters() == alone.GetFixedParameters(), phase
