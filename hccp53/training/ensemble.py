"""Publish the folds of a cross-validated classifier as one network (``hccp53 train classifier --fold all``).

Each fold's network was trained without its own fold, checked by the collapse guard and calibrated on that
fold (:mod:`hccp53.training.calibration`). The ensemble is the mean of their calibrated logits
(:class:`~hccp53.nets.ensemble.EnsembleNet`), written as one ``p53_classifier.pt`` with a ``network.json``
(``"ensemble": k``) that every consumer reads like a single network's. Its out-of-fold AUC pools each fold's
validation predictions: every training case scored by the one member that did not train on it.
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
from hccp53.training.calibration import PREDICTIONS_FILE
from hccp53.training.guard import auc_or_none, output_spread

logger = logging.getLogger(__name__)

#: What the members must share (their architecture and input): every key of a single network's description.
_SHARED = (*NETWORK_KEYS, *(k for k in OPTIONAL_NETWORK_KEYS if k != "ensemble"))


def publish_ensemble(output_dir: str | Path, fold_dirs: Sequence[str | Path]) -> dict[str, Any]:
    """Write ``output_dir/p53_classifier.pt`` and ``network.json``: the mean of the folds' classifiers.

    Raises
    ------
    ConfigError
        The folds describe different networks.
    """
    from hccp53.nets import classifier_from_description
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
    for member, folder in zip(network.members, folders, strict=True):
        load_weights(member, folder / WEIGHTS)
    torch.save(network.state_dict(), output / WEIGHTS)
    record_checksums(output)
    labels, logits = [], []
    for folder in folders:
        with open(folder / PREDICTIONS_FILE, newline="", encoding="utf-8") as handle:
            for row in csv.DictReader(handle):
                labels.append(int(row["label"]))
                logits.append(float(row["logit"]))
    validation = {"cases": len(labels), "out_of_fold_auc": auc_or_none(np.asarray(labels), np.asarray(logits)),
                  "probability_sd": output_spread(np.asarray(logits))["probability_sd"]}  # fmt: skip
    description = {
        **shared,
        "ensemble": len(folders),
        "members": [{"folder": f.name, "sha256": sha256_of(f / WEIGHTS), "validation": d.get("validation"),
                     "calibration": d.get("calibration")} for f, d in zip(folders, descriptions, strict=True)],
        "validation": validation,
        "calibration": {"method": "per member: Platt scaling on its own validation fold; mean of calibrated logits"},
    }  # fmt: skip
    (output / NETWORK).write_text(json.dumps(description, indent=2) + "\n", encoding="utf-8")
    logger.info("Published the ensemble of %d folds in %s: out-of-fold AUC %s over %d cases.", len(folders), output,
                "n/a" if validation["out_of_fold_auc"] is None else f"{validation['out_of_fold_auc']:.4f}",
                validation["cases"])  # fmt: skip
    return description
