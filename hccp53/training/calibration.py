"""Publish a trained P53 classifier: check its outputs, calibrate them, and fold the calibration into the weights.

After ``hccp53 train classifier`` the best checkpoint is run once more, in eval mode, on the validation fold
(cases of the training split the network was not trained on):

1. the collapse guard (:func:`hccp53.training.guard.check_spread`) refuses weights whose outputs are constant;
2. Platt scaling (Platt 1999) on the clipped logit: with ``d = z1 - z0`` clipped to the validation logits'
   5th-95th percentiles ``[lo, hi]`` (config ``calibration_clip_percentiles``), a logistic regression of the
   label on it gives ``P(mutated) = sigmoid(a * clip(d, lo, hi) + b)``;
3. ``a`` and ``b`` are folded into the network's last linear layer and the clip becomes a
   :class:`~hccp53.nets.bounded.BoundedLogOdds` around the network, so that the softmax of the published
   network *is* the calibrated probability for every consumer (the app, the evaluation, MONAI Label) with no
   second place to keep them;
4. ``network.json`` records the calibration (``log_odds_range`` tells the consumers to build the clamp), the
   validation AUC and spreads; the validation predictions are written with the raw logits beside the
   published ones; the weights' checksum is renewed.

Why the clip: a network trained on a few hundred cases gives a handful of cases (the largest tumors) logits
far outside anything the validation fold showed; a straight line through them made the published
probabilities of new cases far too extreme (calibration slope 0.26 on 1,000 new cases). Outside the range it
was fitted on, the calibration now stays flat instead of extrapolating.

The fit is mildly L2-regularised (scikit-learn's ``C = 1``), which shrinks an over-confident slope on a small
fold towards flatter probabilities rather than steeper ones. A slope that is not positive (a network that
does not rank the validation cases) is not applied: it would reverse the ranking.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from hccp53.model import finish_record
from hccp53.training.guard import auc_or_none, check_spread, output_spread

logger = logging.getLogger(__name__)

CALIBRATION_METHODS = ("platt", "none")

#: Default percentiles of the validation logits that bound the calibrated log-odds.
CLIP_PERCENTILES = (5.0, 95.0)


#: Per-case validation logits of the published weights (case_id, label, logit). Out-of-fold, but not untouched:
#: the epoch published is the one that scored these cases best.
PREDICTIONS_FILE = "validation_predictions.csv"
#: Per-case logits of the held-out fold (config ``held_out_fold``), which neither training nor early stopping nor
#: calibration saw: the out-of-fold predictions a second-level model may be fitted on.
HELD_OUT_FILE = "held_out_predictions.csv"


def network_logits(
    network: nn.Module, batches: Iterable[Any], device: torch.device | str, image_key: str = "image",
    case_ids: list[str] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Eval-mode log-odds ``z1 - z0`` of a two-class network and the labels (0/1) of every case in ``batches``.

    When ``case_ids`` is a list, the batches' ``case_id`` values are appended to it.
    """
    network.eval()
    logits: list[np.ndarray] = []
    labels: list[np.ndarray] = []
    with torch.no_grad():
        for batch in batches:
            out = network(torch.as_tensor(batch[image_key]).to(device)).float().cpu()
            logits.append((out[:, 1] - out[:, 0]).numpy())
            label = torch.as_tensor(batch["label"]).reshape(len(out), -1)
            labels.append((label.argmax(1) if label.shape[1] > 1 else label[:, 0]).numpy())
            if case_ids is not None:
                case_ids.extend(str(c) for c in batch.get("case_id", [""] * len(out)))
    return np.concatenate(logits).astype(np.float64), np.concatenate(labels).astype(np.int64)


def write_predictions(path: Path, case_ids: list[str], labels: np.ndarray, logits: np.ndarray,
                      raw_logits: np.ndarray) -> None:
    """``case_id, label, logit, raw_logit`` rows: the validation predictions of published weights, and before
    their calibration."""
    import csv

    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["case_id", "label", "logit", "raw_logit"])
        writer.writerows((c, int(y), f"{z:.6f}", f"{r:.6f}")
                         for c, y, z, r in zip(case_ids, labels, logits, raw_logits, strict=True))  # fmt: skip


def clip_range(logits: np.ndarray, percentiles: tuple[float, float] | list[float]) -> tuple[float, float]:
    """The ``[lo, hi]`` percentiles of ``logits`` the calibration is fitted over (``lo < hi``).

    Raises
    ------
    ValueError
        The percentiles are not ``0 <= low < high <= 100``.
    """
    low, high = (float(p) for p in percentiles)
    if not 0.0 <= low < high <= 100.0:
        raise ValueError(f"calibration_clip_percentiles must be two numbers 0 <= low < high <= 100, got "
                         f"{list(percentiles)}.")  # fmt: skip
    lo, hi = np.percentile(np.asarray(logits, dtype=float), [low, high])
    if not lo < hi:  # a fold whose logits tie over that range: widen to all of them (the guard has passed)
        lo, hi = float(np.min(logits)), float(np.max(logits))
    return float(lo), float(hi)


def calibrated_log_odds(fit: Mapping[str, Any], raw_logits: np.ndarray) -> np.ndarray:
    """What a network calibrated by :func:`calibrate`'s ``fit`` gives for these raw logits."""
    lo, hi = fit["raw_logit_range"]
    return fit["slope"] * np.clip(raw_logits, lo, hi) + fit["intercept"]


def calibrate(network: nn.Module, logits: np.ndarray, labels: np.ndarray,
              percentiles: tuple[float, float] | list[float]) -> tuple[nn.Module, dict[str, Any]] | None:
    """Fit Platt scaling on ``logits`` clipped to their ``percentiles`` and build the calibrated network.

    Returns ``(BoundedLogOdds around network with the Platt fold applied, description)``, or ``None`` when
    the fitted slope is not positive (the network does not rank these cases); ``network`` is then unchanged.
    """
    from hccp53.nets.bounded import BoundedLogOdds

    lo, hi = clip_range(logits, percentiles)
    slope, intercept = fit_platt(np.clip(logits, lo, hi), labels)
    if slope <= 0:
        logger.warning("Platt scaling found slope %.3g <= 0 (the network does not rank these %d cases); the "
                       "probabilities are published uncalibrated.", slope, len(labels))  # fmt: skip
        return None
    fold_platt(network, slope, intercept)
    bounds = (slope * lo + intercept, slope * hi + intercept)
    description = {"method": "platt", "slope": slope, "intercept": intercept, "clip_percentiles": list(percentiles),
                   "raw_logit_range": [lo, hi], "log_odds_range": list(bounds)}  # fmt: skip
    return BoundedLogOdds(network, *bounds), description


def fit_platt(logits: np.ndarray, labels: np.ndarray, regularisation: float = 1.0) -> tuple[float, float]:
    """Slope and intercept of ``P(label = 1) = sigmoid(slope * logit + intercept)`` (L2 strength ``1 / C``)."""
    from sklearn.linear_model import LogisticRegression

    labels = np.asarray(labels)
    if len(np.unique(labels)) < 2:
        raise ValueError("Platt scaling needs validation cases of both classes.")
    model = LogisticRegression(C=1.0 / regularisation).fit(np.asarray(logits, dtype=float).reshape(-1, 1), labels)
    return float(model.coef_[0, 0]), float(model.intercept_[0])


def last_linear(network: nn.Module) -> nn.Linear:
    """The linear layer that produces the network's two logits (the last ``nn.Linear`` with two outputs)."""
    layers = [m for m in network.modules() if isinstance(m, nn.Linear) and m.out_features == 2]
    if not layers:
        raise ValueError(f"{type(network).__name__} has no linear layer with two outputs to calibrate.")
    return layers[-1]


def fold_platt(network: nn.Module, slope: float, intercept: float) -> None:
    """Rewrite the last linear layer so that ``softmax(network(x))[1] == sigmoid(slope * d + intercept)``.

    ``d = z1 - z0`` is the layer's logit difference before the change; the new logits are ``∓(slope * d +
    intercept) / 2``, which the softmax turns into exactly that probability. For an
    :class:`~hccp53.nets.ensemble.EnsembleNet` every member is rewritten (the mean of ``slope * d_i +
    intercept`` is ``slope * mean(d_i) + intercept``); for a :class:`~hccp53.nets.bounded.BoundedLogOdds` the
    network inside it, and its bounds with it (``slope * clamp(d, lo, hi) + intercept`` is the clamp of
    ``slope * d + intercept`` to the mapped bounds when ``slope > 0``).
    """
    from hccp53.nets.bounded import BoundedLogOdds
    from hccp53.nets.ensemble import EnsembleNet

    if isinstance(network, EnsembleNet):
        for member in network.members:
            fold_platt(member, slope, intercept)
        return
    if isinstance(network, BoundedLogOdds):
        if slope <= 0:
            raise ValueError(f"A clamped network takes only a positive Platt slope, got {slope}.")
        fold_platt(network.network, slope, intercept)
        with torch.no_grad():
            network.bounds.mul_(slope).add_(intercept)
        return
    layer = last_linear(network)
    if layer.bias is None:
        raise ValueError("The last linear layer has no bias; Platt scaling needs one for its intercept.")
    with torch.no_grad():
        w = layer.weight[1] - layer.weight[0]
        b = layer.bias[1] - layer.bias[0]
        new_w, new_b = slope * w / 2.0, (slope * b + intercept) / 2.0
        layer.weight.copy_(torch.stack([-new_w, new_w]))
        layer.bias.copy_(torch.stack([-new_b, new_b]))


def publish_classifier(
    network: nn.Module,
    val_batches: Iterable[Any],
    device: torch.device | str,
    output_dir: str | Path,
    weights_name: str,
    network_file: str,
    min_logit_sd: float,
    method: str = "platt",
    clip_percentiles: tuple[float, float] | list[float] = CLIP_PERCENTILES,
    description: Mapping[str, Any] | None = None,
    training: Mapping[str, Any] | None = None,
    held_out_batches: Iterable[Any] | None = None,
) -> dict[str, Any]:
    """Check, calibrate and publish the best checkpoint of a classifier training run in ``output_dir``.

    Parameters
    ----------
    network
        The trained network (its weights are replaced by the best checkpoint's).
    val_batches
        The validation loader (dict batches with ``image`` and ``label``).
    device
        Where the network runs.
    output_dir
        The training output folder, holding ``weights_name``, ``checksums.json`` and ``network_file``.
    weights_name, network_file
        File names of the best weights and of the network description.
    min_logit_sd
        The collapse guard's threshold on the SD of the validation logits.
    method
        ``"platt"`` or ``"none"``.
    clip_percentiles
        Percentiles of the validation logits between which the Platt fit is made and outside of which the
        published log-odds stay flat.
    description
        The network's description (architecture and input: the config's ``network_description``), written
        to ``network_file`` with the validation and calibration, so that a run of the bundle config alone
        (``monai.bundle run``, torchrun) leaves a folder every consumer can build the network from.
        Its ``threshold`` (the P53 probability at or above which the status is "mutated") is recorded with how
        it was chosen.
    training
        What the network was trained and validated on (:func:`hccp53.training.publish.training_data`).
    held_out_batches
        The held-out fold's loader (:func:`hccp53.training.publish.held_out_loader`), or None: its cases are
        scored with the published (calibrated) weights into :data:`HELD_OUT_FILE`, and their AUC is recorded
        under ``held_out``.

    Returns
    -------
    dict
        What was added to ``network_file`` under ``validation`` and ``calibration`` (and ``held_out``).

    Raises
    ------
    hccp53.training.guard.CollapsedModelError
        The validation outputs are constant; the weights are renamed ``<name>.collapsed`` (not published).
    """
    from hccp53.checksums import record_checksums
    from hccp53.errors import ConfigError
    from hccp53.nets.weights import load_weights

    if method not in CALIBRATION_METHODS:
        raise ConfigError(f"calibration must be one of {', '.join(CALIBRATION_METHODS)}, got {method!r}.")
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        if torch.distributed.get_rank() > 0:
            return {}
        network = network.module  # DistributedDataParallel: its checkpoints hold the inner module's weights
    output = Path(output_dir)
    weights = output / weights_name
    load_weights(network, weights)
    network.to(device)
    case_ids: list[str] = []
    logits, labels = network_logits(network, val_batches, device, case_ids=case_ids)
    try:
        spread = check_spread(logits, min_logit_sd, f"The classifier in {weights}")
    except Exception:
        weights.replace(weights.with_name(weights.name + ".collapsed"))
        record_checksums(output)
        raise
    validation = {"cases": len(labels), "auc": auc_or_none(labels, logits), **spread}
    held_ids: list[str] = []
    held = None if held_out_batches is None else network_logits(network, held_out_batches, device, case_ids=held_ids)
    published_logits = logits
    calibration: dict[str, Any] = {"method": "none", "fitted_on": f"validation fold ({len(labels)} cases)"}
    if method == "platt" and len(np.unique(labels)) == 2:
        fitted = calibrate(network, logits, labels, clip_percentiles)
        if fitted is not None:
            calibrated_network, fit = fitted
            torch.save(calibrated_network.state_dict(), weights)
            record_checksums(output)
            calibrated, _ = network_logits(calibrated_network, val_batches, device)
            expected = calibrated_log_odds(fit, logits)
            if not np.allclose(calibrated, expected, atol=1e-3 * max(1.0, float(np.abs(expected).max()))):
                raise RuntimeError("The calibrated network does not reproduce the Platt-scaled logits.")
            calibration.update(fit, calibrated_spread=output_spread(calibrated))
            published_logits = calibrated
        else:
            calibration["not_applied"] = "slope <= 0"
    write_predictions(output / PREDICTIONS_FILE, case_ids, labels, published_logits, logits)
    extra: dict[str, Any] = {}
    if held is not None:
        held_raw, held_labels = held
        held_published = calibrated_log_odds(calibration, held_raw) if "slope" in calibration else held_raw
        write_predictions(output / HELD_OUT_FILE, held_ids, held_labels, held_published, held_raw)
        extra["held_out"] = {"fold": (training or {}).get("held_out_fold"), "cases": len(held_labels),
                             "auc": auc_or_none(held_labels, held_published)}  # fmt: skip
    values = dict(description or {})
    threshold = float(values.pop("threshold", 0.5))
    applied = "Platt-calibrated on the validation fold" if "slope" in calibration else "of the uncalibrated network"
    values.update(validation=validation, calibration=calibration, **extra,
                  threshold={"value": threshold, "chosen": f"set in the training config (threshold: {threshold:g}); "
                                                           f"applied to the probability {applied}"})  # fmt: skip
    if training is not None:
        values["training"] = dict(training)
    finish_record(output, weights_name, network_file, values)
    logger.info("Published %s: validation AUC %s, logit SD %.3f, calibration %s.", weights,
                "n/a" if validation["auc"] is None else f"{validation['auc']:.4f}", spread["logit_sd"],
                calibration["method"])  # fmt: skip
    return {"validation": validation, "calibration": calibration, **extra}

