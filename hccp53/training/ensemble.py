"""Publish the folds of a cross-validated classifier as one network (``hccp53 train classifier --fold all``).

Each fold's network was trained without its own fold, checked by the collapse guard and calibrated on that
fold (:mod:`hccp53.training.calibration`). The ensemble is the mean of their Platt-scaled logits
(:class:`~hccp53.nets.ensemble.EnsembleNet`; a member's own clamp is left out), written as one
``p53_classifier.pt`` with a ``network.json`` (``"ensemble": k``) that every consumer reads like a single
network's. Its out-of-fold AUC pools each fold's validation predictions: every training case scored by the one
member that did not train on it.

Those pooled out-of-fold logits (the members' Platt-scaled logits, before their clamps) are also the data of
the ensemble's own calibration: one more clipped Platt fit (:func:`hccp53.training.calibration.calibrate`)
over all training cases instead of a fold of them, folded into every member's last layer (the mean of
``a * d_i + b`` is ``a * mean(d_i) + b``) with one clamp around the ensemble. The mean of k members spreads a
little less than one member, so this errs towards flatter probabilities.
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

from hccp53.errors import ConfigError
from hccp53.evaluation.scoring import NETWORK, NETWORK_KEYS, OPTIONAL_NETWORK_KEYS, WEIGHTS
from hccp53.training.calibration import CLIP_PERCENTILES, PREDICTIONS_FILE, calibrate
from hccp53.training.guard import auc_or_none, output_spread

logger = logging.getLogger(__name__)

#: What the members must share (their architecture and input): every key of a single network's description.
_SHARED = (*NETWORK_KEYS, *(k for k in OPTIONAL_NETWORK_KEYS if k != "ensemble"))


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
    from hccp53.nets import BoundedLogOdds, classifier_from_description
    from hccp53.nets.weights import load_weights, record_checksums, sha256_of

    output = Path(output_dir)
    folders = [Path(f) for f in fold_dirs]
    descriptions = [json.loads((f / NETWORK).read_text(encoding="utf-8")) for f in folders]
    shared = {k: descriptions[0].get(k) for k in _SHARED}
    for folder, description in zip(folders, descriptions, strict=True):
        differing = [k for k in _SHARED if description.get(k) != shared[k]]
        if differing:
            raise ConfigError(f"{folder} describes another network than {folders[0]} ({', '.join(differing)}); "
                              "an ensemble needs folds trained with the same settings.")  # fmt: skip
    network = classifier_from_description({**shared, "ensemble": len(folders)})
    for index, (folder, description) in enumerate(zip(folders, descriptions, strict=True)):
        member = load_weights(classifier_from_description(description), folder / WEIGHTS)
        network.members[index] = member.network if isinstance(member, BoundedLogOdds) else member
    labels, logits = _out_of_fold(folders, descriptions)
    validation = {"cases": len(labels), "out_of_fold_auc": auc_or_none(labels, logits),
                  "probability_sd": output_spread(logits)["probability_sd"]}  # fmt: skip
    calibration: dict[str, Any] = {"method": "none", "members": "Platt scaling on each one's own validation fold"}
    percentiles = list(clip_percentiles or (descriptions[0].get("calibration") or {}).get("clip_percentiles")
                       or CLIP_PERCENTILES)  # fmt: skip
    fitted = calibrate(network, logits, labels, percentiles) if len(np.unique(labels)) == 2 else None
    if fitted is not None:
        network, fit = fitted
        calibration = {**fit, "fitted_on": f"the members' out-of-fold logits ({len(labels)} cases)",
                       "members": calibration["members"]}  # fmt: skip
    torch.save(network.state_dict(), output / WEIGHTS)
    record_checksums(output)
    description = {
        **shared,
        "ensemble": len(folders),
        "members": [{"folder": f.name, "sha256": sha256_of(f / WEIGHTS), "validation": d.get("validation"),
                     "calibration": d.get("calibration")} for f, d in zip(folders, descriptions, strict=True)],
        "validation": validation,
        "calibration": calibration,
    }  # fmt: skip
    (output / NETWORK).write_text(json.dumps(description, indent=2) + "\n", encoding="utf-8")
    logger.info("Published the ensemble of %d folds in %s: out-of-fold AUC %s over %d cases.", len(folders), output,
                "n/a" if validation["out_of_fold_auc"] is None else f"{validation['out_of_fold_auc']:.4f}",
                validation["cases"])  # fmt: skip
    return description


def _out_of_fold(folders: list[Path], descriptions: list[dict[str, Any]]) -> tuple[np.ndarray, np.ndarray]:
    """Labels and Platt-scaled, unclamped logits of every fold's validation cases, by the member that held
    them out (a clamped member's published logit is rebuilt from its raw logit and its Platt fit)."""
    labels, logits = [], []
    for folder, description in zip(folders, descriptions, strict=True):
        fit = description.get("calibration") or {}
        with open(folder / PREDICTIONS_FILE, newline="", encoding="utf-8") as handle:
            for row in csv.DictReader(handle):
                labels.append(int(row["label"]))
                if "log_odds_range" in fit:
                    logits.append(fit["slope"] * float(row["raw_logit"]) + fit["intercept"])
                else:
                    logits.append(float(row["logit"]))
    return np.asarray(labels), np.asarray(logits)
