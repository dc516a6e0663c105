"""The bundle's tumor segmentation network and its settings, read from ``configs/`` (never copied here).

The MONAI Label app proposes masks with the very network and preprocessing that the bundle trains
and the Deploy app runs: the phases, spacing, patch size, sliding-window settings and the network
definition come from ``configs/inference.yaml``; fine-tuning takes its network (with dropout), loss,
post-processing and optimiser settings from ``configs/train_segmentation.yaml``. The preprocessing
itself is :mod:`hccp53.transforms`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from monai.bundle import ConfigParser
from torch import nn

logger = logging.getLogger(__name__)

INFERENCE_CONFIG = "configs/inference.yaml"
TRAIN_CONFIG = "configs/train_segmentation.yaml"
WEIGHTS = "tumor_segmentation.pt"


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
    phases
        Input channels in order (``inference.yaml: phases``).
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
    phases: tuple[str, ...]
    spacing: tuple[float, ...]
    patch_size: tuple[int, ...]
    sw_batch_size: int
    sw_overlap: float
    samples_per_case: int
    learning_rate: float
    weight_decay: float

    def network(self) -> nn.Module:
        """A new, untrained instance of the inference network (``inference.yaml: network_def``)."""
        return _parser(self.root, INFERENCE_CONFIG).get_parsed_content("network_def", lazy=False)

    def train_network(self) -> nn.Module:
        """A new, untrained instance of the training network (``train_segmentation.yaml: network_def``, dropout on)."""
        return _parser(self.root, TRAIN_CONFIG).get_parsed_content("network_def", lazy=False)

    def loss(self) -> Any:
        """The training loss (``train_segmentation.yaml: loss``)."""
        return _parser(self.root, TRAIN_CONFIG).get_parsed_content("loss", lazy=False)

    def postprocessing(self) -> Any:
        """Logits -> one-hot prediction, mask -> one-hot (``train_segmentation.yaml: postprocessing``)."""
        return _parser(self.root, TRAIN_CONFIG).get_parsed_content("postprocessing", lazy=False)

    @property
    def weights(self) -> Path:
        """The shipped (demo) weights, checked against ``models/checksums.json`` when loaded."""
        return self.root / "models" / WEIGHTS


def load_bundle(root: str | Path) -> SegmentationBundle:
    """Read the segmentation settings of the bundle at ``root`` (the repository root)."""
    root = Path(root).resolve()
    infer = _parser(root, INFERENCE_CONFIG)
    train = _parser(root, TRAIN_CONFIG)
    bundle = SegmentationBundle(
        root=root,
        phases=tuple(infer["phases"]),
        spacing=tuple(float(s) for s in infer["spacing_mm"]),
        patch_size=tuple(int(s) for s in infer["patch_size"]),
        sw_batch_size=int(infer["sw_batch_size"]),
        sw_overlap=float(infer["sw_overlap"]),
        samples_per_case=int(train["samples_per_case"]),
        learning_rate=float(train["learning_rate"]),
        weight_decay=float(train["weight_decay"]),
    )
    logger.info("Segmentation bundle: phases %s at %s mm, patch %s.", bundle.phases, bundle.spacing, bundle.patch_size)
    return bundle
