"""Inference on co-registered phases: tumor segmentation, lesions, and a P53 probability per lesion.

Used by the bundle's ``inference.yaml`` and by the Deploy app, with the preprocessing of
:mod:`hccp53.transforms` (the training definitions) so that both see what the networks were trained on.

- :func:`segment`: sliding-window tumor segmentation, returned on the phases' own voxel grid;
- :func:`segment_with_probability`: the same, with the network's tumor probability on that grid;
- :func:`tumor_from_softmax` / :class:`TumorFromSoftmaxd`: the network's output turned into a tumor mask and
  probability; a network with a liver output also drops tumor found outside the liver;
- :func:`find_lesions`: connected components of a mask with volume, longest diameter and, given the
  probability map, a confidence (the mean tumor probability over the lesion); the most confident first.
- :class:`LesionClassifier`: the P53 classifier on a tumor-centred crop of each lesion.
"""

from __future__ import annotations

import logging
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
from monai.config import KeysCollection
from monai.data import MetaTensor
from monai.inferers import sliding_window_inference
from monai.transforms import Compose, MapTransform, ResampleToMatch
from scipy import ndimage
from scipy.spatial import ConvexHull, QhullError
from scipy.spatial.distance import pdist
from torch import nn

from hccp53.transforms import (
    CENTRE,
    IMAGE,
    MASK,
    TUMOR_CLASSES,
    connected_components,
    lesion_centroid_mm,
    lesion_crop,
    native_preprocessing,
    segmentation_transforms,
)

logger = logging.getLogger(__name__)

LESIONS = "lesions"


@dataclass(frozen=True)
class Lesion:
    """One connected tumor component (``index`` 1 is the primary lesion: see :func:`find_lesions`).

    ``confidence`` is the network's mean tumor probability over the lesion's voxels (None when the mask came
    without probabilities): a lesion the network is unsure of, such as a blob on an image unlike its training
    data, scores lower than a tumor it recognises.
    """

    index: int
    voxels: int
    volume_ml: float
    longest_diameter_mm: float
    centre_ras_mm: tuple[float, float, float]
    p53_probability: float | None = None
    confidence: float | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _affine(image: torch.Tensor) -> np.ndarray:
    if isinstance(image, MetaTensor):
        return np.asarray(image.affine, dtype=np.float64)
    raise TypeError("Expected a MetaTensor carrying its affine.")


def _longest_diameter(points_mm: np.ndarray) -> float:
    """Largest distance between two voxel centres of a lesion (over its convex hull when it has one)."""
    if len(points_mm) < 2:
        return 0.0
    try:
        points_mm = points_mm[ConvexHull(points_mm).vertices]
    except (QhullError, ValueError):
        pass  # flat or tiny lesion: every point is a candidate, pdist below stays exact
    return float(pdist(points_mm).max())


def find_lesions(mask: MetaTensor, min_volume_ml: float = 0.0, probability: torch.Tensor | np.ndarray | None = None,
                 min_confidence: float = 0.0) -> tuple[list[Lesion], np.ndarray]:  # fmt: skip
    """Connected tumor components of ``mask`` (channel-first, on any grid): the most confident first, then the
    largest (without ``probability``: largest first). The first is the study's primary lesion, whose P53
    probability the app reports: a false lesion larger than the tumor no longer takes the prediction merely by
    its size.

    Parameters
    ----------
    mask
        ``(1, X, Y, Z)`` tumor mask (non-zero = tumor) with its affine.
    min_volume_ml
        Components smaller than this are dropped (not returned, 0 in the label map).
    probability
        ``(1, X, Y, Z)`` tumor probability on the mask's grid (:func:`segment_with_probability`).
    min_confidence
        With ``probability``: lesions after the first whose confidence is below this are dropped too (the
        network's lesion-confidence floor, applied on the study's grid, where the confidence reported is
        measured; :func:`tumor_from_softmax` applies it on the network's grid before).

    Returns
    -------
    lesions, labels
        The lesions, and an ``(X, Y, Z)`` int32 map whose value ``k`` marks ``lesions[k - 1]``.
    """
    affine = _affine(mask)
    voxel_ml = abs(np.linalg.det(affine[:3, :3])) / 1000.0
    components, sizes = connected_components(mask)
    kept = [int(i) + 1 for i in np.argsort(-sizes, kind="stable") if sizes[i] * voxel_ml >= min_volume_ml]
    confidence: dict[int, float | None] = dict.fromkeys(kept)
    if probability is not None:
        values = np.asarray(probability, dtype=np.float64).reshape(components.shape)
        confidence = {old: float(values[components == old].mean()) for old in kept}
        kept.sort(key=lambda old: -round(confidence[old], 2))  # stable: equal to 0.01, the larger first
        kept = kept[:1] + [old for old in kept[1:] if confidence[old] >= min_confidence]  # type: ignore[operator]
    labels = np.zeros(components.shape, dtype=np.int32)
    lesions = []
    for new, old in enumerate(kept, start=1):
        voxels = np.argwhere(components == old)
        labels[tuple(voxels.T)] = new
        points = voxels @ affine[:3, :3].T + affine[:3, 3]
        centre = tuple(float(c) for c in points.mean(axis=0))
        lesions.append(Lesion(new, len(voxels), len(voxels) * voxel_ml, _longest_diameter(points), centre,
                              confidence=confidence[old]))  # type: ignore[arg-type]  # fmt: skip
    return lesions, labels


#: Shell around a lesion, in voxels of the network's grid, whose share of liver decides whether it is in the liver.
LIVER_SHELL_VOXELS = 2
#: A lesion is kept when at least this share of its shell is liver (or other tumor); see :func:`tumor_from_softmax`.
MIN_LIVER_CONTACT = 0.25
#: Less liver than this (mL) in a whole study means the liver output is not usable there (a network fine-tuned
#: on tumor-only masks, a field of view that misses the liver): then no lesion is dropped.
MIN_LIVER_ML = 100.0


def liver_contact(tumor: np.ndarray, liver: np.ndarray, shell_voxels: int = LIVER_SHELL_VOXELS
                  ) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """Connected components of ``tumor`` (``(X, Y, Z)`` booleans) and, for each, the share of the voxels within
    ``shell_voxels`` of it (26-connected dilation, the component itself left out) that are ``liver`` or other
    tumor; a component whose shell leaves the volume counts only the shell inside it.
    """
    components, sizes = connected_components(tumor)
    tissue = liver | tumor
    contact = np.zeros(len(sizes), dtype=np.float64)
    ball = np.ones((3, 3, 3), dtype=bool)
    for index, box in enumerate(ndimage.find_objects(components), start=1):
        if box is None:
            continue
        grown = tuple(slice(max(b.start - shell_voxels, 0), b.stop + shell_voxels) for b in box)
        own = components[grown] == index
        shell = ndimage.binary_dilation(own, ball, iterations=shell_voxels) & ~own
        contact[index - 1] = float(tissue[grown][shell].mean()) if shell.any() else 0.0
    return components, contact


def unsure_components(components: np.ndarray, sizes: np.ndarray, probability: np.ndarray, min_confidence: float
                      ) -> np.ndarray:  # fmt: skip
    """Labels of the components of ``components`` (``(X, Y, Z)``, 0 = none; ``sizes`` their voxel counts, as
    :func:`~hccp53.transforms.connected_components` gives both) whose mean ``probability`` is below
    ``min_confidence``, the most confident component excepted: it is the primary lesion (:func:`find_lesions`),
    kept whatever its confidence, which the SR reports. Empty when ``min_confidence`` is 0 or there is no
    component.
    """
    if min_confidence <= 0 or len(sizes) == 0:
        return np.zeros(0, dtype=np.int64)
    index = np.arange(1, len(sizes) + 1)
    confidence = np.asarray(ndimage.mean(probability, components, index), dtype=np.float64)
    primary = index[np.lexsort((-sizes, -np.round(confidence, 2)))[0]]  # find_lesions' order: confidence, size
    return index[(confidence < min_confidence) & (index != primary)]


def tumor_from_softmax(probabilities: torch.Tensor, classes: Sequence[str] = TUMOR_CLASSES,
                       min_liver_contact: float = MIN_LIVER_CONTACT, min_confidence: float = 0.0
                       ) -> tuple[torch.Tensor, torch.Tensor, int]:  # fmt: skip
    """Tumor mask and tumor probability from the segmentation network's softmax ``(C, X, Y, Z)``.

    The mask is where the tumor class (the last of ``classes``) wins the argmax. When ``classes`` has a liver,
    each connected tumor component is kept only if at least ``min_liver_contact`` of the voxels around it
    (:func:`liver_contact`) are liver or tumor: a blob the network calls tumor in the spleen, kidney or fat is
    dropped, an exophytic tumor that touches the liver over a quarter of its surface is kept.
    Given as a :class:`MetaTensor` (with its affine), a softmax with less than :data:`MIN_LIVER_ML` of liver
    drops nothing there: the liver output is then taken as unusable rather than the lesions as outside it.

    Then a component whose mean tumor probability is below ``min_confidence`` (the model record's
    ``min_lesion_confidence``: the network's own floor, set on studies of its training look by
    ``python -m hccp53.model lesion-floor``) is dropped too, unless it is the most confident one
    (:func:`unsure_components`).

    Returns
    -------
    mask, probability, dropped
        ``(1, X, Y, Z)`` float 0/1 mask and tumor probability on the same grid, and the number of components
        dropped (outside the liver, or below the confidence floor).
    """
    classes = tuple(classes)
    if probabilities.shape[0] != len(classes):
        raise ValueError(f"The segmentation network gives {probabilities.shape[0]} outputs, its record names "
                         f"{len(classes)} classes ({', '.join(classes)}).")  # fmt: skip
    winner = torch.argmax(probabilities, dim=0)
    tumor = (winner == len(classes) - 1).cpu().numpy()
    dropped = 0
    if "liver" in classes and tumor.any():
        liver = (winner == classes.index("liver")).cpu().numpy()
        if isinstance(probabilities, MetaTensor) and \
                liver.sum() * abs(np.linalg.det(_affine(probabilities)[:3, :3])) / 1000.0 < MIN_LIVER_ML:
            logger.warning("The segmentation network finds less than %.0f mL of liver: no lesion is dropped as "
                           "outside the liver.", MIN_LIVER_ML)  # fmt: skip
        else:
            components, contact = liver_contact(tumor, liver)
            outside = np.flatnonzero(contact < min_liver_contact) + 1
            if len(outside):
                tumor &= ~np.isin(components, outside)
                dropped = len(outside)
    if min_confidence > 0 and tumor.any():
        components, sizes = connected_components(tumor)
        unsure = unsure_components(components, sizes, probabilities[-1].float().cpu().numpy(), min_confidence)
        if len(unsure):
            tumor &= ~np.isin(components, unsure)
            dropped += len(unsure)
    mask = torch.as_tensor(tumor[None], dtype=torch.float32)
    return mask, probabilities[-1:].float(), dropped


class TumorFromSoftmaxd(MapTransform):
    """:func:`tumor_from_softmax` as a dictionary transform: the softmax under ``keys`` becomes the tumor mask
    ``(1, X, Y, Z)``, and the tumor probability goes under ``probability_key`` (when given); meta data kept."""

    def __init__(self, keys: KeysCollection, classes: Sequence[str] = TUMOR_CLASSES,
                 probability_key: str | None = None, min_liver_contact: float = MIN_LIVER_CONTACT,
                 min_confidence: float = 0.0) -> None:  # fmt: skip
        super().__init__(keys)
        self.classes, self.probability_key, self.min_liver_contact = tuple(classes), probability_key, min_liver_contact
        self.min_confidence = float(min_confidence)

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        d = dict(data)
        for key in self.key_iterator(d):
            softmax = d[key]
            mask, probability, dropped = tumor_from_softmax(softmax, self.classes, self.min_liver_contact,
                                                            self.min_confidence)  # fmt: skip
            if dropped:
                logger.info("%d tumor component(s) dropped (outside the liver, or below the confidence floor).",
                            dropped)  # fmt: skip
            meta = dict(softmax.meta) if isinstance(softmax, MetaTensor) else {}
            affine = softmax.affine if isinstance(softmax, MetaTensor) else None
            d[key] = MetaTensor(mask, affine=affine, meta=meta)
            if self.probability_key is not None:
                d[self.probability_key] = MetaTensor(probability, affine=affine, meta=dict(meta))
        return d


def segment_with_probability(
    network: nn.Module,
    phases: Mapping[str, MetaTensor],
    phase_keys: Sequence[str],
    spacing: Sequence[float],
    patch_size: Sequence[int],
    device: torch.device,
    sw_batch_size: int = 4,
    overlap: float = 0.25,
    amp: bool = False,
    classes: Sequence[str] = TUMOR_CLASSES,
    min_liver_contact: float = MIN_LIVER_CONTACT,
    min_confidence: float = 0.0,
) -> tuple[MetaTensor, MetaTensor]:
    """Tumor mask ``(1, X, Y, Z)`` (uint8) and tumor probability (float32, softmax) on the grid of
    ``phases[phase_keys[0]]``; the mask is the argmax on the network's grid (lesions outside the liver dropped
    when ``classes``, the record's output classes, has a liver, and lesions below ``min_confidence`` but the
    most confident: :func:`tumor_from_softmax`), resampled (nearest), as :func:`segment` gives it, the
    probability resampled linearly.
    """
    data = segmentation_transforms(phase_keys, spacing, mode="infer")({k: phases[k] for k in phase_keys})
    image = data[IMAGE].unsqueeze(0).to(device)
    network.eval()
    with torch.no_grad(), torch.autocast(device.type, enabled=amp and device.type == "cuda"):
        logits = sliding_window_inference(image, tuple(patch_size), sw_batch_size, network, overlap=overlap)
    softmax = MetaTensor(torch.softmax(torch.as_tensor(logits).float(), dim=1)[0].cpu(), affine=data[IMAGE].affine)
    labels, tumor, dropped = tumor_from_softmax(softmax, classes, min_liver_contact, min_confidence)
    labels, tumor = torch.as_tensor(labels), torch.as_tensor(tumor)
    if dropped:
        logger.info("%d tumor component(s) dropped (outside the liver, or below the confidence floor).", dropped)
    native = phases[phase_keys[0]]

    def on_native(values: torch.Tensor, mode: str) -> torch.Tensor:
        values = MetaTensor(values, affine=data[IMAGE].affine, meta=dict(data[IMAGE].meta))
        return torch.as_tensor(ResampleToMatch(mode=mode)(values, img_dst=native))

    mask = on_native(labels, "nearest").round().to(torch.uint8)
    probability = on_native(tumor, "bilinear").clamp(0, 1).float()
    return (MetaTensor(mask, affine=native.affine, meta=dict(native.meta)),
            MetaTensor(probability, affine=native.affine, meta=dict(native.meta)))  # fmt: skip


def segment(
    network: nn.Module,
    phases: Mapping[str, MetaTensor],
    phase_keys: Sequence[str],
    spacing: Sequence[float],
    patch_size: Sequence[int],
    device: torch.device,
    sw_batch_size: int = 4,
    overlap: float = 0.25,
    amp: bool = False,
    classes: Sequence[str] = TUMOR_CLASSES,
    min_confidence: float = 0.0,
) -> MetaTensor:
    """Tumor mask ``(1, X, Y, Z)`` on the grid of ``phases[phase_keys[0]]``.

    ``phases`` maps phase keys to channel-first MetaTensors on one grid (e.g. from
    :func:`hccp53.transforms.sitk_to_metatensor`); the network sees the training preprocessing.
    """
    return segment_with_probability(network, phases, phase_keys, spacing, patch_size, device, sw_batch_size,
                                    overlap, amp, classes, min_confidence=min_confidence)[0]  # fmt: skip


class LesionClassifier:
    """P53 probability of each lesion: the classifier on its tumor-centred crop (training preprocessing).

    Parameters
    ----------
    network
        The classifier (logits ``(B, 2)``), weights loaded.
    phases, spacing, crop_size
        As trained (``train_classifier.yaml``: ``phases``, ``crop_spacing_mm``, ``crop_size``).
    device
        Where the network runs.
    amp
        Mixed precision (used on a GPU only).
    mask_channel
        As trained (``mask_channel``): the crop's last channel is the segmentation (every lesion found), the
        crop centred on the lesion classified.
    """

    def __init__(
        self,
        network: nn.Module,
        phases: Sequence[str],
        spacing: Sequence[float],
        crop_size: Sequence[int],
        device: torch.device,
        amp: bool = False,
        mask_channel: bool = False,
    ) -> None:
        self.network = network.to(device).eval()
        self.phases = tuple(phases)
        self.mask_channel = bool(mask_channel)
        # classifier_transforms(mode="infer") split in two: the phases are scaled once, each lesion's box resampled
        self.preprocess = Compose(native_preprocessing(self.phases, with_mask=True))
        self.crop = Compose(lesion_crop(crop_size, spacing, mode="infer", mask_channel=self.mask_channel))
        self.device = device
        self.amp = amp and device.type == "cuda"

    def crops(self, phases: Mapping[str, MetaTensor], labels: np.ndarray, count: int) -> torch.Tensor:
        """Batch ``(count, P, *crop_size)``: the crop of lesion ``k`` is centred on the lesion marked ``k``."""
        template = phases[self.phases[0]]
        label_map = MetaTensor(torch.from_numpy(labels.astype(np.float32))[None], affine=template.affine)
        prepared = self.preprocess({**{p: phases[p] for p in self.phases}, MASK: label_map})
        # each crop is centred on its lesion's centroid; the mask channel (when used) shows every lesion in it
        shown = (prepared[MASK] > 0).float() if self.mask_channel else None
        crops = []
        for k in range(1, count + 1):
            lesion = (prepared[MASK] == k).float()
            centre = lesion_centroid_mm(lesion)
            if centre is None:
                raise ValueError(f"Lesion {k} is not in the label map: no lesion to crop around.")
            crops.append(self.crop({IMAGE: prepared[IMAGE], MASK: lesion if shown is None else shown, CENTRE: centre}))
        return torch.stack([torch.as_tensor(x[IMAGE]) for x in crops])

    def __call__(self, phases: Mapping[str, MetaTensor], labels: np.ndarray, count: int) -> list[float]:
        """P53 probabilities of lesions ``1 .. count`` of the label map (all lesions in one batch)."""
        if count == 0:
            return []
        batch = self.crops(phases, labels, count).to(self.device)
        with torch.no_grad(), torch.autocast(self.device.type, enabled=self.amp):
            logits = self.network(batch)
        return [float(p) for p in torch.softmax(logits.float(), dim=1)[:, 1].cpu()]


class ClassifyLesionsd(MapTransform):
    """Post-processing step of ``inference.yaml``: lesions of the predicted mask with their P53 probability.

    Reads the mask under ``mask_key`` (on the phases' grid), the tumor probability under ``probability_key``
    (on the same grid; without it the lesions have no confidence and come largest first) and the phases under
    their own keys; writes a list of :meth:`Lesion.to_json` dicts under ``lesions``.
    """

    def __init__(self, classifier: LesionClassifier, mask_key: str = "pred", min_volume_ml: float = 0.1,
                 probability_key: str | None = None, min_confidence: float = 0.0) -> None:  # fmt: skip
        super().__init__(keys=[mask_key])
        self.classifier = classifier
        self.mask_key = mask_key
        self.probability_key = probability_key
        self.min_volume_ml = float(min_volume_ml)
        self.min_confidence = float(min_confidence)

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        d = dict(data)
        probability = None if self.probability_key is None else d[self.probability_key].clamp(0, 1)
        lesions, labels = find_lesions(d[self.mask_key], self.min_volume_ml, probability, self.min_confidence)
        probabilities = self.classifier(d, labels, len(lesions))
        d[LESIONS] = [
            Lesion(**{**lesion.to_json(), "p53_probability": p}).to_json()
            for lesion, p in zip(lesions, probabilities, strict=True)
        ]
        return d
