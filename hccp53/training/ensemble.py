"""Publish the folds of a cross-validated classifier as one network (``hccp53 train classifier --fold all``).

Each fold's network was trained without its own fold, checked by the collapse guard and calibrated on that
fold (:mod:`hccp53.training.calibration`: Platt scaling of the clipped logit, log-odds clamped to the range it
was fitted on). The ensemble is the mean of those published networks' log-odds
(:class:`~hccp53.nets.ensemble.EnsembleNet` of :class:`~hccp53.nets.bounded.BoundedLogOdds` members), written
as one ``p53_classifier.pt`` with a ``network.json`` (``"ensemble": k``, ``"bounded_members": true``) that
every consumer reads like a single network's. A fold published before the clamp existed (plain Platt
scaling) is recalibrated the same way from its validation predictions (its raw logits are the published ones
with its Platt fit undone), so every member is treated alike.

The ensemble's out-of-fold AUC pools each fold's held-out predictions (``held_out_predictions.csv``): every
training case scored by the one member that neither trained nor validated on it. Folds trained before held-out
folds existed have only their validation predictions, whose epoch was chosen on those very cases; they are
pooled instead, and the record says so (``validation.pooled``). The pooled predictions are also the data of
the ensemble's own calibration: one more clipped Platt fit over all training cases instead of a fold of them,
folded into every member (weights and bounds) with one clamp around the ensemble. The mean of k members
spreads a little less than one member, so this errs towards flatter probabilities.
"""

from __future__ import annotations

import csv
import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from hccp53.errors import ConfigError
from hccp53.model import finish_record
from hccp53.model.record import CLASSIFIER_RECORD as NETWORK
from hccp53.model.record import CLASSIFIER_WEIGHTS as WEIGHTS
from hccp53.model.record import NETWORK_KEYS, OPTIONAL_NETWORK_KEYS
from hccp53.training.calibration import (
    CLIP_PERCENTILES,
    HELD_OUT_FILE,
    PREDICTIONS_FILE,
    calibrate,
    calibrated_log_odds,
    fold_platt,
)
from hccp53.training.guard import auc_or_none, output_spread

logger = logging.getLogger(__name__)

#: What the members must share (their architecture and input): every key of a single network's description.
_SHARED = (*NETWORK_KEYS, *(k for k in OPTIONAL_NETWORK_KEYS if k not in ("ensemble", "bounded_members")))


def publish_ensemble(output_dir: str | Path, fold_dirs: Sequence[str | Path],
                     clip_percentiles: Sequence[float] | None = None) -> dict[str, Any]:
    """Write ``output_dir/p53_classifier.pt`` and ``network.json``: the calibrated mean of the folds' classifiers.

    ``clip_percentiles`` of the calibration default to those the first fold was calibrated with (the training
    config's ``calibration_clip_percentiles``).

    Raises
    ------
    ConfigError
        The folds describe different networks.
    """
    from hccp53.checksums import record_checksums, sha256_of
    from hccp53.nets import classifier_from_description

    output = Path(output_dir)
    folders = [Path(f) for f in fold_dirs]
    descriptions = [json.loads((f / NETWORK).read_text(encoding="utf-8")) for f in folders]
    shared = {k: descriptions[0].get(k) for k in _SHARED}
    for folder, description in zip(folders, descriptions, strict=True):
        differing = [k for k in _SHARED if description.get(k) != shared[k]]
        if differing:
            raise ConfigError(f"{folder} describes another network than {folders[0]} ({', '.join(differing)}); "
                              "an ensemble needs folds trained with the same settings.")  # fmt: skip
    percentiles = list(clip_percentiles or (descriptions[0].get("calibration") or {}).get("clip_percentiles")
                       or CLIP_PERCENTILES)  # fmt: skip
    network = classifier_from_description({**shared, "ensemble": len(folders), "bounded_members": True})
    labels, logits, member_calibrations = [], [], []
    for index, (folder, description) in enumerate(zip(folders, descriptions, strict=True)):
        member, fold_labels, fold_logits, calibration = _member(folder, description, percentiles)
        network.members[index] = member
        labels.append(fold_labels)
        logits.append(fold_logits)
        member_calibrations.append(calibration)
    labels, logits = np.concatenate(labels), np.concatenate(logits)
    held_out = all((f / HELD_OUT_FILE).is_file() for f in folders)
    if not held_out:
        logger.warning("The folds of %s have no held-out predictions (trained before held-out folds): their "
                       "validation predictions, on which each fold's epoch was chosen, are pooled instead, and "
                       "the out-of-fold AUC is optimistic.", output)  # fmt: skip
    validation = {"cases": len(labels), "out_of_fold_auc": auc_or_none(labels, logits),
                  "probability_sd": output_spread(logits)["probability_sd"],
                  "pooled": "held-out folds" if held_out else "validation folds (each fold's epoch chosen on them)"}
    calibration: dict[str, Any] = {"method": "none"}
    fitted = calibrate(network, logits, labels, percentiles) if len(np.unique(labels)) == 2 else None
    if fitted is not None:
        network, fit = fitted
        calibration = {**fit, "fitted_on": f"the members' out-of-fold predictions ({len(labels)} cases)"}
    torch.save(network.state_dict(), output / WEIGHTS)
    record_checksums(output)
    description = {
        **shared,
        "ensemble": len(folders),
        "bounded_members": True,
        "members": [{"folder": f.name, "sha256": sha256_of(f / WEIGHTS), "validation": d.get("validation"),
                     "calibration": c} for f, d, c in zip(folders, descriptions, member_calibrations, strict=True)],
        "validation": validation,
        "calibration": calibration,
        "threshold": descriptions[0].get("threshold", {"value": 0.5, "chosen": "fixed at 0.5"}),
    }  # fmt: skip
    (output / NETWORK).unlink(missing_ok=True)  # a new record, not a merge into an earlier one
    finish_record(output, WEIGHTS, NETWORK, description)
    logger.info("Published the ensemble of %d folds in %s: out-of-fold AUC %s over %d cases.", len(folders), output,
                "n/a" if validation["out_of_fold_auc"] is None else f"{validation['out_of_fold_auc']:.4f}",
                validation["cases"])  # fmt: skip
    return description


def _member(folder: Path, description: dict[str, Any], percentiles: list[float]
            ) -> tuple[nn.Module, np.ndarray, np.ndarray, dict[str, Any]]:
    """A fold's published network as a clamped ensemble member, the labels and published logits of the cases it
    scores for the pool (its held-out fold, or its validation fold when it has none), and its calibration
    (refitted from the validation fold's raw logits for a fold published with plain Platt scaling)."""
    from hccp53.nets import BoundedLogOdds, classifier_from_description
    from hccp53.nets.weights import load_weights

    network = load_weights(classifier_from_description(description), folder / WEIGHTS)
    if isinstance(network, BoundedLogOdds):
        predictions = folder / HELD_OUT_FILE
        labels, published = _predictions(predictions if predictions.is_file() else folder / PREDICTIONS_FILE)
        return network, labels, published, dict(description.get("calibration") or {"method": "none"})
    labels, published = _predictions(folder / PREDICTIONS_FILE)
    calibration = dict(description.get("calibration") or {"method": "none"})
    raw = published
    if calibration.get("method") == "platt":  # undo the plain Platt fit, then calibrate as a fold is now
        slope, intercept = calibration["slope"], calibration["intercept"]
        fold_platt(network, 1.0 / slope, -intercept / slope)
        raw = (published - intercept) / slope
    fitted = calibrate(network, raw, labels, percentiles) if len(np.unique(labels)) == 2 else None
    pooled_labels, pooled_raw = labels, raw
    if (folder / HELD_OUT_FILE).is_file():  # a fold published uncalibrated (its Platt slope was not positive)
        pooled_labels, pooled_raw = _predictions(folder / HELD_OUT_FILE, "raw_logit")
    if fitted is None:
        return BoundedLogOdds(network), pooled_labels, pooled_raw, {"method": "none"}
    member, fit = fitted
    logger.info("%s was published before the calibration clamp; recalibrated as a member.", folder)
    return member, pooled_labels, calibrated_log_odds(fit, pooled_raw), {
        **fit, "fitted_on": f"validation fold ({len(labels)} cases), refitted for the ensemble"}


def _predictions(path: Path, column: str = "logit") -> tuple[np.ndarray, np.ndarray]:
    """The labels and the published (``logit``) or raw (``raw_logit``) logits of a fold's predictions file."""
    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    return np.array([int(r["label"]) for r in rows]), np.array([float(r[column]) for r in rows])
