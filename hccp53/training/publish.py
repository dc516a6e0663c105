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
                  val_cases: Sequence[Mapping[str, Any]], held_out_fold: int | None = None) -> dict[str, Any]:
    """What a record says of the training data: the datalist's sha256, the fold and the split's cases, and the
    fold held out of both (``held_out_fold``) where there is one."""
    def ids(cases: Sequence[Mapping[str, Any]]) -> list[str]:
        return [str(c.get("case_id", "")) for c in cases]

    summary = training_summary(datalist, fold, ids(train_cases), ids(val_cases))
    if held_out_fold is not None:
        summary["held_out_fold"] = int(held_out_fold)
    return summary


def held_out_loader(datalist: str | Path, phases: Sequence[str], held_out_fold: int | None, incomplete: str,
                    transform: Any, batch_size: int) -> torch.utils.data.DataLoader | None:
    """The cases of the held-out fold with the validation preprocessing, or None without a held-out fold.

    A network trained with ``held_out_fold`` never saw these cases: not in training, not in early stopping, not
    in its calibration. Its scores of them (``held_out_predictions.csv``) are out-of-fold predictions that no
    choice was made on, which a validation fold's are not: the epoch kept is the one that scored the validation
    fold best.
    """
    if held_out_fold is None:
        return None
    from monai.data import DataLoader, Dataset

    from hccp53.data.datalist import classifier_cases

    cases = classifier_cases(datalist, phases, "val", int(held_out_fold), incomplete)
    logger.info("Held-out fold %d: %d cases, scored once by the published network.", held_out_fold, len(cases))
    return DataLoader(Dataset(cases, transform), batch_size=batch_size, shuffle=False, num_workers=0)


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
