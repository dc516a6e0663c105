"""The tumor segmentation network of a trained-model folder and the bundle's settings around it (never copied here).

The MONAI Label app proposes masks with the very network and preprocessing that the bundle trains and the
Deploy app runs: the network, its phases, spacing and patch size come from the trained-model folder's
``segmentation.json`` (:mod:`hccp53.model`); the sliding-window settings from ``configs/inference.yaml``;
fine-tuning takes its loss, post-processing and optimiser settings from ``configs/train_segmentation.yaml``.
The preprocessing itself is :mod:`hccp53.transforms`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from monai.bundle import ConfigParser
from torch import nn

from hccp53.model import SEGMENTATION_WEIGHTS, ModelRecord, read_model
from hccp53.nets.factory import segmentation_from_description

logger = logging.getLogger(__name__)

INFERENCE_CONFIG = "configs/inference.yaml"
TRAIN_CONFIG = "configs/train_segmentation.yaml"
WEIGHTS = SEGMENTATION_WEIGHTS


def _parser(root: Path, config: str) -> ConfigParser:
    parser = ConfigParser()
    parser.read_config(str(root / config))
    parser["bundle_root"] = str(root)
    return parser


@dataclass(frozen=True)
class SegmentationBundle:
    """Settings of the segmentation network, as the bundle's configs give them.

    Attributes
    ----------
    root
        The repository root (the bundle).
    record
        The trained-model folder's records (:func:`hccp53.model.read_model`).
    phases
        Input channels in order (the segmentation record's ``phases``).
    spacing
        Voxel size the network works at, mm (``spacing_mm``).
    patch_size
        Training patch and sliding-window size, voxels (``patch_size``).
    sw_batch_size, sw_overlap
        Sliding-window settings of ``inference.yaml``.
    samples_per_case, learning_rate, weight_decay
        Fine-tuning settings of ``train_segmentation.yaml``.
    """

    root: Path
    record: ModelRecord
    phases: tuple[str, ...]
    spacing: tuple[float, ...]
    patch_size: tuple[int, ...]
    sw_batch_size: int
    sw_overlap: float
    samples_per_case: int
    learning_rate: float
    weight_decay: float

    def network(self) -> nn.Module:
        """A new, untrained instance of the folder's segmentation network (its dropout acts in train mode only)."""
        return segmentation_from_description(self.record.segmentation)

    def loss(self) -> Any:
        """The training loss (``train_segmentation.yaml: loss``)."""
        return _parser(self.root, TRAIN_CONFIG).get_parsed_content("loss", lazy=False)

    def postprocessing(self) -> Any:
        """Logits -> one-hot prediction, mask -> one-hot (``train_segmentation.yaml: postprocessing``), with as
        many classes as the folder's network has."""
        parser = _parser(self.root, TRAIN_CONFIG)
        parser["liver"] = self.liver
        return parser.get_parsed_content("postprocessing", lazy=False)

    @property
    def liver(self) -> bool:
        """Whether the network also outputs the liver (then the saved tumor masks are its last class)."""
        return "liver" in self.record.segmentation_classes

    @property
    def tumor_class(self) -> int:
        """The network's output index of the tumor: what a saved tumor mask's 1 becomes for fine-tuning."""
        return len(self.record.segmentation_classes) - 1

    @property
    def weights(self) -> Path:
        """The trained-model folder's weights, checked against its ``checksums.json`` when loaded."""
        return self.record.folder / WEIGHTS


def load_bundle(root: str | Path, models: str | Path) -> SegmentationBundle:
    """Read the segmentation network of the trained-model folder ``models`` and the settings of the bundle at
    ``root`` (the repository root)."""
    root = Path(root).resolve()
    record = read_model(Path(models).resolve())
    infer = _parser(root, INFERENCE_CONFIG)
    train = _parser(root, TRAIN_CONFIG)
    bundle = SegmentationBundle(
        root=root,
        record=record,
        phases=record.segmentation_phases,
        spacing=tuple(float(s) for s in record.segmentation["spacing_mm"]),
        patch_size=tuple(int(s) for s in record.segmentation["patch_size"]),
        sw_batch_size=int(infer["sw_batch_size"]),
        sw_overlap=float(infer["sw_overlap"]),
        samples_per_case=int(train["samples_per_case"]),
        learning_rate=float(train["learning_rate"]),
        weight_decay=float(train["weight_decay"]),
    )
    logger.info("Segmentation bundle: phases %s at %s mm, patch %s.", bundle.phases, bundle.spacing, bundle.patch_size)
    return bundle
