"""The last step of a training run: complete the network's record in the trained-model folder (:mod:`hccp53.model`).

The classifier's is :func:`hccp53.training.calibration.publish_classifier` (collapse guard and calibration
first); the segmentation network's is :func:`publish_segmentation`. Both end in
:func:`hccp53.model.finish_record`, so that the folder describes itself: architecture, input, preprocessing,
training data and split, validation figures, weights' sha256 and UID, versions.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from hccp53.checksums import record_checksums
from hccp53.model import SEGMENTATION_RECORD, SEGMENTATION_WEIGHTS, finish_record, training_summary

logger = logging.getLogger(__name__)


def training_data(datalist: str | Path, fold: int, train_cases: Sequence[Mapping[str, Any]],
                  val_cases: Sequence[Mapping[str, Any]]) -> dict[str, Any]:  # fmt: skip
    """What a record says of the training data: the datalist's sha256, the fold and the split's cases."""
    def ids(cases: Sequence[Mapping[str, Any]]) -> list[str]:
        return [str(c.get("case_id", "")) for c in cases]

    return training_summary(datalist, fold, ids(train_cases), ids(val_cases))


def publish_segmentation(
    output_dir: str | Path,
    description: Mapping[str, Any],
    evaluator: Any,
    training: Mapping[str, Any],
) -> dict[str, Any]:
    """Write ``segmentation.json`` beside the best weights of a segmentation training run (rank 0 only).

    Parameters
    ----------
    output_dir
        The training output folder, holding ``tumor_segmentation.pt`` (the best validation Dice).
    description
        The config's ``network_description`` (network, its arguments, phases, spacing, patch, reference phase).
    evaluator
        The validation evaluator (its best metric and epoch are recorded).
    training
        What the network was trained and validated on (:func:`training_data`).

    Returns
    -------
    dict
        The record written.
    """
    if torch.distributed.is_available() and torch.distributed.is_initialized() and torch.distributed.get_rank() > 0:
        return {}
    output = Path(output_dir)
    record_checksums(output)
    best = evaluator.state.best_metric
    values = {**description,
              "validation": {"cases": training["val_cases"], "mean_dice": None if best is None else float(best),
                             "epoch": int(evaluator.state.best_metric_epoch)},
              "training": dict(training)}  # fmt: skip
    path = finish_record(output, SEGMENTATION_WEIGHTS, SEGMENTATION_RECORD, values)
    logger.info("Published %s: validation Dice %s.", output / SEGMENTATION_WEIGHTS, values["validation"]["mean_dice"])
    return values | {"record": str(path)}
