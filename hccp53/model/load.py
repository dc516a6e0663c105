"""``load_model``: the ready-to-run networks of a trained-model folder, built from its records alone.

The app's :class:`~hccp53.predictor.Predictor`, ``hccp53 evaluate``, the bundle's ``inference.yaml`` and
``evaluate.yaml`` and MONAI Label's infer task all build their networks here, so that a folder trained with
other phases, another crop or another network runs everywhere without another edit.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from monai.data import MetaTensor
from torch import nn

from hccp53.inference import LesionClassifier, segment_with_probability
from hccp53.model.record import (
    CLASSIFIER_WEIGHTS,
    SEGMENTATION_WEIGHTS,
    ModelRecord,
    read_classifier_record,
    read_model,
)
from hccp53.nets.factory import classifier_from_description, segmentation_from_description
from hccp53.nets.weights import load_weights

logger = logging.getLogger(__name__)


def torch_device(device: str | torch.device | None = None) -> torch.device:
    """``device``, or CUDA when torch sees a GPU and the CPU otherwise."""
    return torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))


def load_classifier_network(folder: str | Path, device: str | torch.device | None = None,
                            record: Mapping[str, Any] | None = None) -> nn.Module:  # fmt: skip
    """The P53 classifier of a trained-model folder (its ``network.json``, or ``record`` when already read),
    weights loaded, in eval mode."""
    folder = Path(folder)
    network = classifier_from_description(record if record is not None else read_classifier_record(folder))
    return load_weights(network, folder / CLASSIFIER_WEIGHTS).to(torch_device(device)).eval()


def load_segmentation_network(record: ModelRecord, weights: str | Path | None = None,
                              device: str | torch.device | None = None) -> nn.Module:  # fmt: skip
    """The segmentation network a record describes, with ``weights`` (default: the folder's), in eval mode.

    MONAI Label passes the weights of a fine-tuning run here: the same network, other weights.
    """
    network = segmentation_from_description(record.segmentation)
    path = Path(weights) if weights is not None else record.folder / SEGMENTATION_WEIGHTS
    return load_weights(network, path).to(torch_device(device)).eval()


@dataclass
class TrainedModel:
    """Both networks of a trained-model folder on one device, with the preprocessing their records name.

    Attributes
    ----------
    record
        :class:`~hccp53.model.record.ModelRecord` (phases, spacing, crop, threshold, UID ...).
    segmentation
        The tumor segmentation network (eval mode).
    classifier
        :class:`~hccp53.inference.LesionClassifier`: the P53 classifier on a tumor-centred crop of each lesion.
    device, amp
        Where the networks run; mixed precision (on a GPU only).
    """

    record: ModelRecord
    segmentation: nn.Module
    classifier: LesionClassifier
    device: torch.device
    amp: bool

    @property
    def phases(self) -> tuple[str, ...]:
        """Every phase a case must have (:attr:`ModelRecord.phases`)."""
        return self.record.phases

    def segment(self, phases: Mapping[str, MetaTensor], sw_batch_size: int, overlap: float
                ) -> tuple[MetaTensor, MetaTensor]:  # fmt: skip
        """The tumor mask and tumor probability, each ``(1, X, Y, Z)`` on the phases' own grid
        (:func:`hccp53.inference.segment_with_probability`)."""
        description = self.record.segmentation
        return segment_with_probability(self.segmentation, phases, self.record.segmentation_phases,
                                        description["spacing_mm"], description["patch_size"], self.device,
                                        sw_batch_size=sw_batch_size, overlap=overlap, amp=self.amp,
                                        classes=self.record.segmentation_classes,
                                        min_confidence=self.record.min_lesion_confidence)  # fmt: skip


def load_model(folder: str | Path, device: str | torch.device | None = None) -> TrainedModel:
    """The networks of a trained-model folder, ready to run (weights checked against ``checksums.json``).

    Parameters
    ----------
    folder
        ``p53_classifier.pt``, ``tumor_segmentation.pt``, their records and ``checksums.json``.
    device
        ``"cuda"``, ``"cpu"`` ...; default: CUDA when torch sees a GPU.

    Raises
    ------
    InputError, ConfigError
        A file is missing, a record unreadable or stale, or the weights do not fit the network.
    """
    record = read_model(folder)
    where = torch_device(device)
    amp = where.type == "cuda"
    classifier = record.classifier
    network = load_classifier_network(record.folder, where, classifier)
    lesion_classifier = LesionClassifier(network, record.classifier_phases, classifier["crop_spacing_mm"],
                                         classifier["crop_size"], where, amp=amp,
                                         mask_channel=record.mask_channel)  # fmt: skip
    model = TrainedModel(record, load_segmentation_network(record, device=where), lesion_classifier, where, amp)
    logger.info("Model %s loaded on %s: phases %s.", record.uid, where, ", ".join(record.phases))
    return model
