"""Inference on co-registered phases: tumor segmentation, lesions, and a P53 probability per lesion.

Used by the bundle's ``inference.yaml`` and by the Deploy app, with the preprocessing of
:mod:`hccp53.transforms` (the training definitions) so that both see what the networks were trained on.

- :func:`segment`: sliding-window tumor segmentation, returned on the phases' own voxel grid.
- :func:`find_lesions`: connected components of a mask, largest first, with volume and longest diameter.
- :class:`LesionClassifier`: the P53 classifier on a tumor-centred crop of each lesion.
"""

from __future__ import annotations

import logging
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
from monai.data import MetaTensor
from monai.inferers import sliding_window_inference
from monai.transforms import Compose, MapTransform, ResampleToMatch
from scipy.spatial import ConvexHull, QhullError
from scipy.spatial.distance import pdist
from torch import nn

from hccp53.transforms import (
    CENTRE,
    IMAGE,
    MASK,
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
    """One connected tumor component (``index`` 1 is the largest)."""

    index: int
    voxels: int
    volume_ml: float
    longest_diameter_mm: float
    centre_ras_mm: tuple[float, float, float]
    p53_probability: float | None = None

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


def find_lesions(mask: MetaTensor, min_volume_ml: float = 0.0) -> tuple[list[Lesion], np.ndarray]:
    """Connected tumor components of ``mask`` (channel-first, on any grid), largest first.

    Parameters
    ----------
    mask
        ``(1, X, Y, Z)`` tumor mask (non-zero = tumor) with its affine.
    min_volume_ml
        Components smaller than this are dropped (not returned, 0 in the label map).

    Returns
    -------
    lesions, labels
        The lesions, and an ``(X, Y, Z)`` int32 map whose value ``k`` marks ``lesions[k - 1]``.
    """
    affine = _affine(mask)
    voxel_ml = abs(np.linalg.det(affine[:3, :3])) / 1000.0
    components, sizes = connected_components(mask)
    order = [int(i) + 1 for i in np.argsort(-sizes, kind="stable") if sizes[i] * voxel_ml >= min_volume_ml]
    labels = np.zeros(components.shape, dtype=np.int32)
    lesions = []
    for new, old in enumerate(order, start=1):
        voxels = np.argwhere(components == old)
        labels[tuple(voxels.T)] = new
        points = voxels @ affine[:3, :3].T + affine[:3, 3]
        centre = tuple(float(c) for c in points.mean(axis=0))
        lesions.append(
            Lesion(new, len(voxels), len(voxels) * voxel_ml, _longest_diameter(points), centre)  # type: ignore[arg-type]
        )
    return lesions, labels


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
) -> MetaTensor:
    """Tumor mask ``(1, X, Y, Z)`` on the grid of ``phases[phase_keys[0]]``.

    ``phases`` maps phase keys to channel-first MetaTensors on one grid (e.g. from
    :func:`hccp53.transforms.sitk_to_metatensor`); the network sees the training preprocessing.
    """
    data = segmentation_transforms(phase_keys, spacing, mode="infer")({k: phases[k] for k in phase_keys})
    image = data[IMAGE].unsqueeze(0).to(device)
    network.eval()
    with torch.no_grad(), torch.autocast(device.type, enabled=amp and device.type == "cuda"):
        logits = sliding_window_inference(image, tuple(patch_size), sw_batch_size, network, overlap=overlap)
    labels = torch.argmax(logits, dim=1, keepdim=True)[0].float().cpu()
    labels = MetaTensor(labels, affine=data[IMAGE].affine, meta=dict(data[IMAGE].meta))
    native = phases[phase_keys[0]]
    resampled = ResampleToMatch(mode="nearest")(labels, img_dst=native)
    return MetaTensor(torch.as_tensor(resampled).round().to(torch.uint8), affine=native.affine, meta=dict(native.meta))


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

    Reads the mask under ``mask_key`` (on the phases' grid) and the phases under their own keys; writes
    a list of :meth:`Lesion.to_json` dicts under ``lesions``.
    """

    def __init__(self, classifier: LesionClassifier, mask_key: str = "pred", min_volume_ml: float = 0.1) -> None:
        super().__init__(keys=[mask_key])
        self.classifier = classifier
        self.mask_key = mask_key
        self.min_volume_ml = float(min_volume_ml)

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        d = dict(data)
        lesions, labels = find_lesions(d[self.mask_key], self.min_volume_ml)
        probabilities = self.classifier(d, labels, len(lesions))
        d[LESIONS] = [
            Lesion(**{**lesion.to_json(), "p53_probability": p}).to_json()
            for lesion, p in zip(lesions, probabilities, strict=True)
        ]
        return d
