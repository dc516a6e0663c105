"""The one preprocessing definition: same tensor from NIfTI files (training) and from memory (the app)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
import torch
from monai.data import MetaTensor
from monai.transforms import Compose, ScaleIntensityRangePercentilesd

from hccp53.transforms import (
    CENTRE,
    IMAGE,
    LABEL,
    MASK,
    PERCENTILES,
    LesionResampled,
    ScalePercentilesd,
    classifier_transforms,
    lesion_centroid_mm,
    lesion_crop,
    load_phases,
    native_preprocessing,
    segmentation_transforms,
    sitk_to_metatensor,
)

PHASES = ("t2", "ap", "pvp")
SPACING = (2.0, 2.0, 2.0)
CROP = (24, 24, 16)


def _case(cohort: Path, index: int = 0) -> dict:
    datalist = json.loads((cohort / "datalist.json").read_text())
    entry = datalist["training"][index]
    return {k: str(cohort / v) if isinstance(v, str) and v.endswith(".nii.gz") else v for k, v in entry.items()}


def test_sitk_to_metatensor_matches_the_nifti_reader(cohort: Path) -> None:
    case = _case(cohort)
    from_file = load_phases(["pvp"])({"pvp": case["pvp"]})["pvp"]
    in_memory = sitk_to_metatensor(sitk.ReadImage(case["pvp"]))
    assert in_memory.shape == from_file.shape
    np.testing.assert_allclose(in_memory.affine.numpy(), from_file.affine.numpy(), atol=1e-4)
    np.testing.assert_array_equal(in_memory.numpy(), from_file.numpy())


def test_classifier_crop_is_the_same_tensor_from_files_and_from_memory(cohort: Path) -> None:
    """The training (validate) path and the app path (sitk volumes in memory) give the same crop."""
    case = _case(cohort)
    training = classifier_transforms(PHASES, SPACING, CROP, mode="validate")(case)[IMAGE]
    memory = {p: sitk_to_metatensor(sitk.ReadImage(case[p])) for p in PHASES}
    memory[MASK] = sitk_to_metatensor(sitk.ReadImage(case["mask"]))
    app = classifier_transforms(PHASES, SPACING, CROP, mode="infer")(memory)[IMAGE]
    assert training.shape == (3, *CROP)
    torch.testing.assert_close(torch.as_tensor(app), torch.as_tensor(training), rtol=0, atol=1e-6)


def test_segmentation_input_is_the_same_tensor_from_files_and_from_memory(cohort: Path) -> None:
    case = _case(cohort, 1)
    training = segmentation_transforms(PHASES, (3.0, 3.0, 3.0), mode="validate")({**case, LABEL: case["mask"]})
    memory = {p: sitk_to_metatensor(sitk.ReadImage(case[p])) for p in PHASES}
    app = segmentation_transforms(PHASES, (3.0, 3.0, 3.0), mode="infer")(memory)
    torch.testing.assert_close(torch.as_tensor(app[IMAGE]), torch.as_tensor(training[IMAGE]), rtol=0, atol=1e-6)
    assert training[LABEL].shape[1:] == training[IMAGE].shape[1:]


def test_each_phase_is_scaled_to_its_own_percentiles(cohort: Path) -> None:
    case = _case(cohort)
    image = segmentation_transforms(PHASES, (3.0, 3.0, 3.0), mode="validate")({**case, LABEL: case["mask"]})[IMAGE]
    for channel in torch.as_tensor(image):
        low, high = np.percentile(channel.numpy(), [0.5, 99.5])
        assert low == pytest.approx(0.0, abs=1e-4)
        assert high == pytest.approx(1.0, abs=1e-4)


@pytest.mark.parametrize("shape", [(3, 40, 30, 20), (2, 120, 100, 90)])  # below and above MONAI's torch limit
def test_numpy_percentiles_scale_as_monai_does(shape) -> None:
    """The percentile scaling the pipelines use gives MONAI's own values, whichever library MONAI picks."""
    generator = torch.Generator().manual_seed(3)
    values = torch.rand(shape, generator=generator) ** 3 * 900 + 40
    image = MetaTensor(values, affine=torch.diag(torch.tensor([2.0, 2.0, 3.0, 1.0])))
    options = dict(keys=IMAGE, lower=PERCENTILES[0], upper=PERCENTILES[1], b_min=0.0, b_max=1.0, channel_wise=True)
    ours = ScalePercentilesd(**options)({IMAGE: image})[IMAGE]
    monai = ScaleIntensityRangePercentilesd(**options)({IMAGE: image})[IMAGE]
    assert isinstance(ours, MetaTensor) and ours.dtype == monai.dtype and torch.equal(ours.affine, image.affine)
    assert torch.allclose(ours, monai, atol=1e-6)
    assert not torch.allclose(ours, image)


def test_the_crop_is_centred_on_the_tumor(cohort: Path) -> None:
    case = _case(cohort)
    native = Compose(native_preprocessing(PHASES, with_mask=True))(load_phases(PHASES, with_mask=True)(case))
    centroid = lesion_centroid_mm(native[MASK])
    affine = np.asarray(native[IMAGE].affine, dtype=np.float64)
    voxel = np.round(np.linalg.solve(affine[:3, :3], centroid - affine[:3, 3]))  # the nearest voxel centre
    out = classifier_transforms(PHASES, SPACING, CROP, mode="validate", mask_channel=True)(case)
    np.testing.assert_allclose(out[CENTRE], affine[:3, :3] @ voxel + affine[:3, 3], atol=1e-6)
    centre = tuple(s // 2 for s in CROP)
    assert out[IMAGE][3][centre] == 1.0  # the centroid of a lobulated tumor lies inside it


def test_only_the_crop_is_resampled_and_it_matches_resampling_the_whole_volume(cohort: Path) -> None:
    """The box resampled alone holds the values the whole volume resampled onto the same grid would."""
    from monai.transforms import SpatialResample

    case = _case(cohort)
    native = Compose(native_preprocessing(PHASES, with_mask=True))(load_phases(PHASES, with_mask=True)(case))
    box = LesionResampled(keys=IMAGE, spacing=SPACING, size=CROP)
    out = box(dict(native))
    affine = box.box_affine(np.asarray(out[CENTRE]), native[IMAGE].affine)
    assert np.allclose(np.asarray(out[IMAGE].affine), affine.numpy())
    # the whole image resampled onto a 2 mm grid that contains the box, then the box cut out of it
    big = 3 * np.asarray(CROP)
    whole_affine = affine.clone()
    whole_affine[:3, 3] -= torch.from_numpy(np.asarray(CROP) * np.asarray(SPACING))
    whole = SpatialResample(mode="bilinear", padding_mode="zeros", dtype=torch.float32)(
        native[IMAGE], dst_affine=whole_affine, spatial_size=tuple(int(b) for b in big))  # fmt: skip
    cut = torch.as_tensor(whole)[:, CROP[0] : 2 * CROP[0], CROP[1] : 2 * CROP[1], CROP[2] : 2 * CROP[2]]
    torch.testing.assert_close(torch.as_tensor(out[IMAGE]), cut, rtol=0, atol=1e-5)


def test_training_crops_jitter_but_keep_their_size(cohort: Path) -> None:
    case = _case(cohort)
    pipeline = classifier_transforms(PHASES, SPACING, CROP, mode="train", jitter=3)
    pipeline.set_random_state(seed=0)
    crops = [torch.as_tensor(pipeline(case)[IMAGE]) for _ in range(4)]
    assert all(c.shape == (3, *CROP) for c in crops)
    assert any(not torch.equal(crops[0], c) for c in crops[1:])


def test_lesion_centroid_is_that_of_the_largest_component_in_world_coordinates() -> None:
    mask = torch.zeros((1, 20, 20, 20))
    mask[0, 2:4, 2:4, 2:4] = 1  # 8 voxels
    mask[0, 10:15, 10:15, 10:13] = 1  # 75 voxels, centre (12, 12, 11)
    affine = torch.tensor([[2.0, 0, 0, 10.0], [0, 2.0, 0, 0], [0, 0, 3.0, -5.0], [0, 0, 0, 1]])
    np.testing.assert_allclose(lesion_centroid_mm(MetaTensor(mask, affine=affine)), [34.0, 24.0, 28.0])
    assert lesion_centroid_mm(MetaTensor(torch.zeros((1, 4, 4, 4)))) is None


def test_lesion_box_pads_at_the_edge_and_refuses_an_empty_mask() -> None:
    image = MetaTensor(torch.arange(10 * 10 * 10, dtype=torch.float32).reshape(1, 10, 10, 10), affine=torch.eye(4))
    mask = MetaTensor(torch.zeros_like(image), affine=torch.eye(4))
    mask[0, 0, 0, 0] = 1
    out = LesionResampled(keys=IMAGE, spacing=(1.0, 1.0, 1.0), size=(5, 5, 5))({IMAGE: image, MASK: mask})
    assert out[IMAGE].shape == (1, 5, 5, 5)
    # the lesion's centre lands in the crop's centre (linear interpolation at a voxel centre: rounding only)
    assert float(out[IMAGE][0, 2, 2, 2]) == pytest.approx(float(image[0, 0, 0, 0]), abs=1e-3)
    assert out[IMAGE][0, 0, 0, 0] == 0  # outside the volume: zeros
    with pytest.raises(ValueError, match="empty"):
        LesionResampled(keys=IMAGE, spacing=(1.0, 1.0, 1.0), size=(5, 5, 5))(
            {IMAGE: image, MASK: MetaTensor(torch.zeros_like(image), affine=torch.eye(4))})  # fmt: skip
    given = LesionResampled(keys=IMAGE, spacing=(1.0, 1.0, 1.0), size=(3, 3, 3))({IMAGE: image, CENTRE: (5, 5, 5)})
    assert float(given[IMAGE][0, 1, 1, 1]) == pytest.approx(float(image[0, 5, 5, 5]), abs=1e-3)


def test_the_mask_channel_follows_the_image_through_crop_flips_and_rotations() -> None:
    """With mask_channel the last channel is the tumor mask, still on the tumor's voxels after augmentation."""
    torch.manual_seed(0)
    image = torch.rand(3, 60, 60, 60)
    mask = torch.zeros(1, 60, 60, 60)
    mask[:, 20:40, 25:35, 22:30] = 1  # an asymmetric box, so that a flip or rotation of one but not the other shows
    image[:, mask[0] > 0] += 5.0
    steps = Compose(lesion_crop((48, 48, 48), (1.0, 1.0, 1.0), "train", 4, mask_channel=True))
    steps.set_random_state(1)
    for _ in range(6):
        out = steps({IMAGE: MetaTensor(image.clone(), affine=torch.eye(4)),
                     MASK: MetaTensor(mask.clone(), affine=torch.eye(4))})
        assert MASK not in out and out[IMAGE].shape == (4, 48, 48, 48)
        crop = torch.as_tensor(out[IMAGE])
        assert set(torch.unique(crop[3]).tolist()) == {0.0, 1.0}
        assert int(crop[3].sum()) == int(mask.sum())  # the whole box lies inside the crop
        assert float(crop[:3][:, crop[3] > 0.5].min()) > 4.0 and float(crop[:3][:, crop[3] < 0.5].max()) < 4.0


def test_strong_augmentation_leaves_the_mask_channel_alone() -> None:
    """``augmentation: strong`` (noise, bias field, gamma, blur) leaves the mask channel exact and the tumor visible."""
    torch.manual_seed(0)
    image = torch.rand(3, 60, 60, 60)
    mask = torch.zeros(1, 60, 60, 60)
    mask[:, 20:40, 25:35, 22:30] = 1
    image[:, mask[0] > 0] += 5.0
    steps = Compose(lesion_crop((48, 48, 48), (1.0, 1.0, 1.0), "train", 0, mask_channel=True, augmentation="strong"))
    steps.set_random_state(3)
    for _ in range(8):
        out = torch.as_tensor(steps({IMAGE: MetaTensor(image.clone(), affine=torch.eye(4)),
                                     MASK: MetaTensor(mask.clone(), affine=torch.eye(4))})[IMAGE])  # fmt: skip
        assert out.shape == (4, 48, 48, 48) and bool(torch.isfinite(out).all())
        assert set(torch.unique(out[3]).tolist()) == {0.0, 1.0} and int(out[3].sum()) == int(mask.sum())
        inside, outside = out[:3][:, out[3] > 0.5], out[:3][:, out[3] < 0.5]
        assert float(inside.mean()) > float(outside.mean()) + 2.0  # the tumor still stands out
    with pytest.raises(ValueError, match="augmentation must be one of standard, strong"):
        lesion_crop((48, 48, 48), (1.0, 1.0, 1.0), "train", augmentation="heavy")


def test_the_mask_channel_adds_a_channel_and_leaves_the_phases_alone(cohort: Path) -> None:
    case = _case(cohort)
    plain = classifier_transforms(PHASES, SPACING, CROP, mode="validate")(case)[IMAGE]
    masked = classifier_transforms(PHASES, SPACING, CROP, mode="validate", mask_channel=True)(case)[IMAGE]
    assert masked.shape == (4, *CROP)
    torch.testing.assert_close(torch.as_tensor(masked[:3]), torch.as_tensor(plain), rtol=0, atol=0)
    centre = tuple(s // 2 for s in CROP)
    assert masked[3][centre] == 1.0 and 0 < float(masked[3].mean()) < 1  # centred on the tumor, not all tumor


def test_a_study_tilted_as_a_whole_gives_the_same_box() -> None:
    """The box follows the image's own axes: a rigid tilt of the whole study changes nothing the classifier sees."""
    torch.manual_seed(0)
    data = torch.rand(1, 30, 30, 20)
    mask = torch.zeros(1, 30, 30, 20)
    mask[0, 12:18, 10:16, 8:12] = 1
    straight = torch.diag(torch.tensor([1.5, 1.5, 3.0, 1.0], dtype=torch.float64))
    angle = np.deg2rad(20.0)
    rotation = torch.eye(4, dtype=torch.float64)
    rotation[1:3, 1:3] = torch.tensor([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    tilted = rotation @ straight
    box = LesionResampled(keys=[IMAGE, MASK], spacing=(2.0, 2.0, 2.0), size=(12, 12, 12))
    outs = [box({IMAGE: MetaTensor(data.clone(), affine=a), MASK: MetaTensor(mask.clone(), affine=a)})
            for a in (straight, tilted)]  # fmt: skip
    torch.testing.assert_close(torch.as_tensor(outs[1][IMAGE]), torch.as_tensor(outs[0][IMAGE]), rtol=0, atol=1e-5)
    torch.testing.assert_close(torch.as_tensor(outs[1][MASK]), torch.as_tensor(outs[0][MASK]), rtol=0, atol=0)


@pytest.mark.parametrize("augmentation", ["standard", "strong"])
def test_segmentation_training_augmentation_keeps_the_label_binary(cohort: Path, augmentation: str) -> None:
    """``augmentation`` of train_segmentation.yaml: ``standard`` (the default) or ``strong`` (noise, bias field,
    gamma, blur on the image); either way the label stays a 0/1 mask of the patch and the image finite."""
    case = _case(cohort)
    steps = segmentation_transforms(PHASES, (3.0, 3.0, 3.0), mode="train", patch_size=(32, 32, 16),
                                    samples_per_case=2, augmentation=augmentation)
    steps.set_random_state(1)
    for sample in steps({**case, LABEL: case["mask"]}):
        image, label = torch.as_tensor(sample[IMAGE]), torch.as_tensor(sample[LABEL])
        assert image.shape == (len(PHASES), 32, 32, 16) and bool(torch.isfinite(image).all())
        assert set(torch.unique(label).tolist()) <= {0.0, 1.0}
    with pytest.raises(ValueError, match="augmentation must be one of standard, strong"):
        segmentation_transforms(PHASES, (3.0, 3.0, 3.0), mode="train", augmentation="heavy")


def test_the_liver_output_folds_the_liver_mask_into_the_label(cohort: Path) -> None:
    """With ``liver``, the label is 0 background, 1 liver, 2 tumor on the network's grid; tumor voxels stay tumor,
    liver voxels outside the tumor are liver, and training patches keep the three values."""
    case = _case(cohort)
    validate = segmentation_transforms(PHASES, (3.0, 3.0, 3.0), mode="validate", liver=True)
    plain = segmentation_transforms(PHASES, (3.0, 3.0, 3.0), mode="validate")
    data = {**case, LABEL: case["mask"], "liver": case["liver_mask"]}
    label = torch.as_tensor(validate(data)[LABEL])
    tumor_only = torch.as_tensor(plain({**case, LABEL: case["mask"]})[LABEL])
    assert set(torch.unique(label).tolist()) == {0.0, 1.0, 2.0}
    torch.testing.assert_close((label == 2).float(), tumor_only, rtol=0, atol=0)
    assert int((label == 1).sum()) > 10 * int((label == 2).sum())  # a liver is far larger than its tumor
    train = segmentation_transforms(PHASES, (3.0, 3.0, 3.0), mode="train", patch_size=(32, 32, 16),
                                    samples_per_case=4, liver=True)
    train.set_random_state(2)
    for sample in train(data):
        assert set(torch.unique(torch.as_tensor(sample[LABEL])).tolist()) <= {0.0, 1.0, 2.0}


def test_tumor_only_masks_can_fine_tune_a_network_with_a_liver_output(cohort: Path) -> None:
    """MONAI Label's saved masks are tumor-only: ``tumor_class`` makes their ones the network's tumor class."""
    case = _case(cohort)
    label = segmentation_transforms(PHASES, (3.0, 3.0, 3.0), mode="validate", tumor_class=2)(
        {**case, LABEL: case["mask"]})[LABEL]
    assert set(torch.unique(torch.as_tensor(label)).tolist()) == {0.0, 2.0}


def test_merging_masks_of_different_grids_is_refused() -> None:
    from hccp53.transforms import MergeLiverd

    with pytest.raises(ValueError, match="not on one voxel grid"):
        MergeLiverd()({LABEL: torch.zeros((1, 4, 4, 4)), "liver": torch.zeros((1, 4, 4, 5))})
