"""Lesions from a mask, segmentation back on the phases' grid, and per-lesion P53 probabilities."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
import torch
from monai.data import MetaTensor
from monai.networks.nets import SegResNet

from hccp53.inference import (
    LESIONS,
    ClassifyLesionsd,
    LesionClassifier,
    find_lesions,
    segment,
    segment_with_probability,
)
from hccp53.nets import build_classifier
from hccp53.transforms import CENTRE, IMAGE, MASK, classifier_transforms, sitk_to_metatensor

PHASES = ("t2", "ap", "pvp")


def _mask(shape: tuple[int, int, int], spacing: tuple[float, float, float]) -> MetaTensor:
    return MetaTensor(torch.zeros((1, *shape)), affine=torch.diag(torch.tensor([*spacing, 1.0], dtype=torch.float64)))


def test_find_lesions_sorts_by_size_and_measures_in_mm() -> None:
    mask = _mask((40, 40, 20), (1.0, 1.0, 2.0))
    mask[0, 5:15, 5:9, 5:7] = 1  # 10 x 4 x 2 voxels = 160 mm3, longest diameter sqrt(9^2 + 3^2 + 2^2)
    mask[0, 25:28, 25:28, 10:11] = 1  # 9 voxels = 18 mm3
    lesions, labels = find_lesions(mask)
    assert [lesion.voxels for lesion in lesions] == [80, 9]
    assert lesions[0].volume_ml == pytest.approx(0.160)
    assert lesions[0].longest_diameter_mm == pytest.approx(np.sqrt(81 + 9 + 4))
    assert lesions[0].centre_ras_mm == pytest.approx((9.5, 6.5, 11.0))
    assert (labels == 1).sum() == 80 and (labels == 2).sum() == 9
    kept, kept_labels = find_lesions(mask, min_volume_ml=0.1)
    assert len(kept) == 1 and (kept_labels == 2).sum() == 0


def test_with_probabilities_the_most_confident_lesion_comes_first() -> None:
    """A large blob the network is unsure of no longer outranks a smaller tumor it is sure of."""
    mask = _mask((40, 40, 20), (1.0, 1.0, 2.0))
    mask[0, 5:15, 5:9, 5:7] = 1  # 80 voxels
    mask[0, 25:28, 25:28, 10:11] = 1  # 9 voxels
    probability = torch.zeros_like(mask)
    probability[0, 5:15, 5:9, 5:7] = 0.6
    probability[0, 25:28, 25:28, 10:11] = 0.95
    lesions, labels = find_lesions(mask, probability=probability)
    assert [(lesion.index, lesion.voxels) for lesion in lesions] == [(1, 9), (2, 80)]
    assert [lesion.confidence for lesion in lesions] == pytest.approx([0.95, 0.6])
    assert (labels == 1).sum() == 9 and (labels == 2).sum() == 80
    probability[0, 25:28, 25:28, 10:11] = 0.604  # equal to 0.01: the larger first
    assert [lesion.voxels for lesion in find_lesions(mask, probability=probability)[0]] == [80, 9]
    assert find_lesions(mask)[0][0].confidence is None
    # the confidence floor drops the lesions after the first below it, on this grid, and renumbers the rest
    probability[0, 25:28, 25:28, 10:11] = 0.95
    lesions, labels = find_lesions(mask, probability=probability, min_confidence=0.7)
    assert [(lesion.index, lesion.voxels) for lesion in lesions] == [(1, 9)] and labels.max() == 1
    lesions, _ = find_lesions(mask, probability=probability, min_confidence=0.99)
    assert [lesion.voxels for lesion in lesions] == [9]  # the most confident stays, whatever the floor


def test_no_lesion_is_an_empty_list() -> None:
    lesions, labels = find_lesions(_mask((8, 8, 8), (1.0, 1.0, 1.0)))
    assert lesions == [] and not labels.any()


@pytest.fixture(scope="module")
def phases(cohort: Path) -> tuple[dict, dict]:
    entry = json.loads((cohort / "datalist.json").read_text())["training"][0]
    images = {p: sitk_to_metatensor(sitk.ReadImage(str(cohort / entry[p]))) for p in PHASES}
    return images, {MASK: sitk_to_metatensor(sitk.ReadImage(str(cohort / entry["mask"])))}


def test_segment_returns_a_mask_on_the_phases_grid(phases: tuple[dict, dict]) -> None:
    images, _ = phases
    torch.manual_seed(0)
    net = SegResNet(spatial_dims=3, in_channels=3, out_channels=2, init_filters=8)
    mask = segment(net, images, PHASES, (4.0, 4.0, 4.0), (32, 32, 32), torch.device("cpu"))
    assert mask.shape == images["pvp"].shape
    np.testing.assert_allclose(mask.affine.numpy(), images["pvp"].affine.numpy())
    assert set(torch.unique(mask).tolist()) <= {0, 1}


def test_the_probability_map_agrees_with_the_mask(phases: tuple[dict, dict]) -> None:
    images, _ = phases
    torch.manual_seed(0)
    net = SegResNet(spatial_dims=3, in_channels=3, out_channels=2, init_filters=8)
    args = (net, images, PHASES, (4.0, 4.0, 4.0), (32, 32, 32), torch.device("cpu"))
    mask, probability = segment_with_probability(*args)
    assert torch.equal(mask, segment(*args)) and probability.shape == mask.shape
    assert float(probability.min()) >= 0 and float(probability.max()) <= 1
    inside, outside = probability[mask > 0], probability[mask == 0]
    assert inside.numel() and outside.numel()  # this seeded random network marks some voxels, not all
    assert float(inside.mean()) > 0.5 > float(outside.mean())


def test_lesion_probabilities_equal_the_network_on_the_training_crop(phases: tuple[dict, dict]) -> None:
    images, truth = phases
    torch.manual_seed(0)
    net = build_classifier("efficientnetv2_tiny", PHASES).eval()
    classifier = LesionClassifier(net, PHASES, (2.0, 2.0, 2.0), (32, 32, 32), torch.device("cpu"))
    out = ClassifyLesionsd(classifier, mask_key=MASK, min_volume_ml=0.0)({**images, **truth})
    lesions = out[LESIONS]
    assert len(lesions) >= 1 and lesions[0]["index"] == 1
    crop = classifier_transforms(PHASES, (2.0, 2.0, 2.0), (32, 32, 32), mode="infer")({**images, **truth})[IMAGE]
    with torch.no_grad():
        direct = torch.softmax(net(torch.as_tensor(crop)[None]), dim=1)[0, 1].item()
    assert lesions[0]["p53_probability"] == pytest.approx(direct, abs=1e-5)
    assert all(0.0 <= lesion["p53_probability"] <= 1.0 for lesion in lesions)


def test_each_lesion_crop_is_the_classifier_transforms_crop(phases: tuple[dict, dict]) -> None:
    """Preprocessing once and cropping per lesion gives what classifier_transforms gives for each lesion alone."""
    images, truth = phases
    mask = truth[MASK].clone()
    mask[0, :4, :4, :4] = 1  # a second, separate lesion in a corner
    lesions, labels = find_lesions(mask)
    assert len(lesions) >= 2
    classifier = LesionClassifier(torch.nn.Identity(), PHASES, (2.0, 2.0, 2.0), (16, 16, 16), torch.device("cpu"))
    crops = classifier.crops(images, labels, len(lesions))
    for k in range(1, len(lesions) + 1):
        alone = MetaTensor(torch.from_numpy((labels == k).astype(np.float32))[None], affine=images["pvp"].affine)
        direct = classifier_transforms(PHASES, (2.0, 2.0, 2.0), (16, 16, 16), mode="infer")({**images, MASK: alone})
        torch.testing.assert_close(crops[k - 1], torch.as_tensor(direct[IMAGE]), rtol=0, atol=1e-6)


def test_with_the_mask_channel_each_crop_shows_every_lesion_centred_on_its_own(phases: tuple[dict, dict]) -> None:
    """The app's mask channel: the whole segmentation in the crop, as the training masks show every lesion."""
    images, truth = phases
    mask = truth[MASK].clone()
    mask[0, :4, :4, :4] = 1  # a second, separate lesion in a corner
    lesions, labels = find_lesions(mask)
    assert len(lesions) >= 2
    classifier = LesionClassifier(torch.nn.Identity(), PHASES, (2.0, 2.0, 2.0), (16, 16, 16), torch.device("cpu"),
                                  mask_channel=True)  # fmt: skip
    crops = classifier.crops(images, labels, len(lesions))
    assert crops.shape == (len(lesions), 4, 16, 16, 16)
    every = MetaTensor(torch.from_numpy((labels > 0).astype(np.float32))[None], affine=images["pvp"].affine)
    plain = LesionClassifier(torch.nn.Identity(), PHASES, (2.0, 2.0, 2.0), (16, 16, 16), torch.device("cpu"))
    torch.testing.assert_close(crops[:, :3], plain.crops(images, labels, len(lesions)), rtol=0, atol=0)
    for k in range(1, len(lesions) + 1):
        alone = MetaTensor(torch.from_numpy((labels == k).astype(np.float32))[None], affine=images["pvp"].affine)
        centre = classifier_transforms(PHASES, (2.0, 2.0, 2.0), (16, 16, 16), mode="infer")(
            {**images, MASK: alone})[CENTRE]  # fmt: skip
        direct = classifier_transforms(PHASES, (2.0, 2.0, 2.0), (16, 16, 16), mode="infer", mask_channel=True)(
            {**images, MASK: every, CENTRE: centre})  # fmt: skip
        torch.testing.assert_close(crops[k - 1], torch.as_tensor(direct[IMAGE]), rtol=0, atol=1e-6)
        assert crops[k - 1, 3, 8, 8, 8] == 1.0  # centred on a lesion voxel


def _softmax(liver: np.ndarray, tumor: np.ndarray, spacing: float = 3.0) -> MetaTensor:
    """A three-class softmax whose argmax is ``tumor`` over ``liver`` over background."""
    probabilities = np.zeros((3, *liver.shape), dtype=np.float32)
    probabilities[0] = 0.8
    probabilities[1][liver] = 0.9
    probabilities[2][tumor] = 0.95
    probabilities /= probabilities.sum(axis=0, keepdims=True)
    return MetaTensor(torch.from_numpy(probabilities), affine=torch.diag(torch.tensor([spacing] * 3 + [1.0])))


def test_a_liver_output_drops_tumor_found_outside_the_liver() -> None:
    """A tumor inside the liver and one bulging out of its edge are kept; a blob far from the liver is dropped."""
    from hccp53.inference import tumor_from_softmax

    shape = (60, 60, 30)
    liver = np.zeros(shape, dtype=bool)
    liver[5:35, 5:45, 5:25] = True  # 90 x 120 x 60 mm at 3 mm: 648 mL
    tumor = np.zeros(shape, dtype=bool)
    tumor[15:20, 15:20, 10:15] = True  # inside
    tumor[32:38, 25:31, 10:16] = True  # half in, half out of the liver's edge
    tumor[48:54, 48:54, 10:16] = True  # away from the liver
    mask, probability, dropped = tumor_from_softmax(_softmax(liver, tumor), ("background", "liver", "tumor"))
    assert dropped == 1
    expected = tumor.copy()
    expected[48:54, 48:54, 10:16] = False
    np.testing.assert_array_equal(mask[0].numpy() > 0.5, expected)
    torch.testing.assert_close(torch.as_tensor(probability), torch.as_tensor(_softmax(liver, tumor)[2:3]))
    # a network without a liver output keeps everything; a liver output that found no liver drops nothing
    two = torch.stack([1 - torch.as_tensor(tumor, dtype=torch.float32), torch.as_tensor(tumor, dtype=torch.float32)])
    assert tumor_from_softmax(two)[2] == 0 and int(tumor_from_softmax(two)[0].sum()) == int(tumor.sum())
    assert tumor_from_softmax(_softmax(np.zeros(shape, dtype=bool), tumor), ("background", "liver", "tumor"))[2] == 0
    with pytest.raises(ValueError, match="gives 3 outputs, its record names 2 classes"):
        tumor_from_softmax(_softmax(liver, tumor), ("background", "tumor"))


def test_the_liver_contact_of_a_lesion_is_the_share_of_liver_around_it() -> None:
    from hccp53.inference import liver_contact

    liver = np.zeros((20, 20, 20), dtype=bool)
    liver[:10] = True
    tumor = np.zeros_like(liver)
    tumor[8:12, 8:12, 8:12] = True  # straddles the liver's face at x = 10
    components, contact = liver_contact(tumor, liver, shell_voxels=1)
    shell = np.zeros_like(liver)
    shell[7:13, 7:13, 7:13] = True
    shell &= ~tumor
    assert components.max() == 1
    assert contact[0] == pytest.approx((shell & liver).sum() / shell.sum())


def test_lesions_below_the_confidence_floor_are_dropped_but_the_most_confident_is_kept() -> None:
    from hccp53.inference import tumor_from_softmax

    shape = (40, 40, 20)
    liver = np.zeros(shape, dtype=bool)
    liver[2:38, 2:38, 2:18] = True
    tumors = [(slice(5, 10), 0.90), (slice(15, 18), 0.55), (slice(25, 28), 0.45)]  # (rows, tumor probability)
    probabilities = np.zeros((3, *shape), dtype=np.float32)
    probabilities[0], probabilities[1][liver] = 0.8, 0.9
    probabilities /= probabilities.sum(axis=0, keepdims=True)
    for rows, p in tumors:  # tumor wins the argmax at p, liver and background share the rest
        probabilities[:, rows, 10:14, 8:12] = np.array([0.4 * (1 - p), 0.6 * (1 - p), p])[:, None, None, None]
    softmax = MetaTensor(torch.from_numpy(probabilities), affine=torch.diag(torch.tensor([3.0, 3.0, 3.0, 1.0])))
    classes = ("background", "liver", "tumor")

    def kept(floor: float) -> list[float]:
        mask, _, _ = tumor_from_softmax(softmax, classes, min_confidence=floor)
        return [p for rows, p in tumors if mask[0, rows, 10:14, 8:12].all()]

    assert kept(0.0) == [0.90, 0.55, 0.45]
    assert kept(0.5) == [0.90, 0.55] and tumor_from_softmax(softmax, classes, min_confidence=0.5)[2] == 1
    assert kept(0.99) == [0.90]  # the most confident stays, whatever the floor
