"""The collapse guard: how far apart the classifier's validation outputs are, epoch by epoch.

A classifier whose eval-mode outputs are the same for every case can still show a validation AUC above 0.5
(ties broken by differences in the sixth decimal), so the AUC alone does not reveal it. Each validation
therefore also reports the standard deviation of the predicted probabilities and of the logits (the log-odds
of mutation) across the validation cases; training warns when the logits' spread falls under a threshold,
and :func:`hccp53.training.calibration.publish_classifier` refuses to publish weights whose validation outputs
are constant.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import torch
from ignite.engine import Engine, Events

from hccp53.errors import HccP53Error

logger = logging.getLogger(__name__)

#: File in the training output folder with one row per validation (epoch, AUC, spreads, cases).
HISTORY_FILE = "validation_history.json"
#: Smallest probability kept when turning probabilities back into logits.
_EPS = 1e-7


class CollapsedModelError(HccP53Error):
    """The trained classifier gives (nearly) the same output to every case."""


def logits_from_probabilities(probabilities: np.ndarray) -> np.ndarray:
    """Log-odds ``log(p / (1 - p))`` of probabilities, clipped to ``[1e-7, 1 - 1e-7]``."""
    p = np.clip(np.asarray(probabilities, dtype=np.float64), _EPS, 1.0 - _EPS)
    return np.log(p) - np.log1p(-p)


def output_spread(logits: np.ndarray) -> dict[str, float]:
    """Standard deviations (``ddof=0``) of the logits and of the probabilities they give, across cases."""
    from scipy.special import expit

    logits = np.asarray(logits, dtype=np.float64)
    probabilities = expit(logits)
    return {"logit_sd": float(logits.std()), "probability_sd": float(probabilities.std())}


def auc_or_none(labels: np.ndarray, scores: np.ndarray) -> float | None:
    """ROC AUC of ``scores`` for 0/1 ``labels``; ``None`` when only one class is present."""
    if len(np.unique(labels)) < 2:
        return None
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(labels, scores))


class OutputSpread:
    """Evaluator handler: the spread of the validation outputs beside the AUC, logged and kept.

    Reads the post-processed outputs (``pred``: softmax over 2 classes; ``label``: one-hot or index), logs the
    AUC with the SD of the probabilities and of the logits, appends a row to
    ``output_dir/validation_history.json`` (rank 0 only when distributed) and warns when the logits' SD is
    under ``warn_logit_sd``.

    Parameters
    ----------
    output_dir
        Training output folder (``None``: keep no history file).
    warn_logit_sd
        Warn when the logits' standard deviation across validation cases is below this.
    """

    def __init__(self, output_dir: str | Path | None, warn_logit_sd: float = 0.05) -> None:
        self.path = None if output_dir is None else Path(output_dir) / HISTORY_FILE
        self.warn_logit_sd = float(warn_logit_sd)
        self.probabilities: list[float] = []
        self.labels: list[int] = []

    def attach(self, engine: Engine) -> None:
        engine.add_event_handler(Events.EPOCH_STARTED, self._reset)
        engine.add_event_handler(Events.ITERATION_COMPLETED, self._collect)
        engine.add_event_handler(Events.EPOCH_COMPLETED, self._summarise)

    def _reset(self, engine: Engine) -> None:
        self.probabilities, self.labels = [], []

    def _collect(self, engine: Engine) -> None:
        for item in engine.state.output:
            label = torch.as_tensor(item["label"])
            self.labels.append(int(label.argmax()) if label.numel() > 1 else int(label))
            self.probabilities.append(float(torch.as_tensor(item["pred"]).reshape(-1)[-1]))

    def _summarise(self, engine: Engine) -> None:
        logits = logits_from_probabilities(np.asarray(self.probabilities))
        spread = output_spread(logits)
        epoch = int(engine.state.epoch)
        row = {"epoch": epoch, "auc": auc_or_none(np.asarray(self.labels), logits), "cases": len(logits), **spread}
        auc = "n/a" if row["auc"] is None else f"{row['auc']:.4f}"
        logger.info("validation epoch %d: AUC %s, probability SD %.4f, logit SD %.4f over %d cases",
                    epoch, auc, spread["probability_sd"], spread["logit_sd"], len(logits))  # fmt: skip
        if spread["logit_sd"] < self.warn_logit_sd:
            logger.warning("validation epoch %d: the classifier gives nearly the same output to every case "
                           "(logit SD %.2g < %.2g); its AUC rests on ties and is not a measure of learning.",
                           epoch, spread["logit_sd"], self.warn_logit_sd)  # fmt: skip
        if self.path is not None and _rank() == 0:
            history = read_history(self.path.parent)
            history = [h for h in history if h.get("epoch") != epoch] + [row]
            self.path.write_text(json.dumps(history, indent=2) + "\n", encoding="utf-8")


def _rank() -> int:
    distributed = torch.distributed.is_available() and torch.distributed.is_initialized()
    return torch.distributed.get_rank() if distributed else 0


def read_history(output_dir: str | Path) -> list[dict[str, Any]]:
    """The rows of ``validation_history.json`` in ``output_dir`` (empty when there is none yet)."""
    path = Path(output_dir) / HISTORY_FILE
    if not path.is_file():
        return []
    return list(json.loads(path.read_text(encoding="utf-8")))


def check_spread(logits: np.ndarray, min_logit_sd: float, what: str) -> dict[str, float]:
    """The spread of ``logits``; raise :class:`CollapsedModelError` when their SD is under ``min_logit_sd``."""
    spread = output_spread(logits)
    if spread["logit_sd"] < min_logit_sd:
        raise CollapsedModelError(
            f"{what} gives nearly the same output to every validation case (logit SD {spread['logit_sd']:.2g}, "
            f"below min_logit_sd {min_logit_sd:g}), so it was not published; train longer or with other "
            "settings (docs/training.md, 'When the classifier collapses')."
        )
    return spread
