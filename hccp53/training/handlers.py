"""Ignite handlers the bundle's training configs attach besides MONAI's own."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import torch
from ignite.engine import Engine, Events

from hccp53.checksums import record_checksums

logger = logging.getLogger(__name__)


def tumor_channel(output: object) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """An engine output's one-hot ``pred`` and ``label`` cut to the tumor channel (the last class), for
    ``MeanDice(include_background=True)``: the tumor Dice whether or not the network also outputs the liver."""
    from monai.handlers import from_engine

    preds, labels = from_engine(["pred", "label"])(output)
    return [p[-1:] for p in preds], [y[-1:] for y in labels]


class ChecksumHandler:
    """Record the sha256 of every checkpoint in ``ckpt_dir`` after each epoch and at the end of a run.

    The training configs' only checksum writer: the multi-GPU overlay keeps it on rank 0 alone.

    Attach it after the :class:`~monai.handlers.CheckpointSaver` so that the files it hashes are the
    ones just written (handlers run in the order they were attached).
    """

    def __init__(self, ckpt_dir: str | Path) -> None:
        self.ckpt_dir = Path(ckpt_dir)

    def attach(self, engine: Engine) -> None:
        engine.add_event_handler(Events.EPOCH_COMPLETED, self)
        engine.add_event_handler(Events.COMPLETED, self)

    def __call__(self, engine: Engine) -> None:
        if self.ckpt_dir.is_dir():
            sums = record_checksums(self.ckpt_dir)
            logger.debug("checksums of %d checkpoint(s) recorded in %s", len(sums), self.ckpt_dir)


class PredictionWriter:
    """Write ``case_id, label, p53_probability`` of every evaluated case to a CSV when the run completes.

    Reads the post-processed outputs of a classifier evaluator, ``pred`` (softmax, 2 channels) and
    ``label`` (one-hot or index), and each case's ``case_id`` from the batch. The CSV is what the
    evaluation statistics are computed from.
    """

    def __init__(self, output_file: str | Path) -> None:
        self.output_file = Path(output_file)
        self.rows: list[tuple[str, int, float]] = []

    def attach(self, engine: Engine) -> None:
        engine.add_event_handler(Events.STARTED, self._reset)
        engine.add_event_handler(Events.ITERATION_COMPLETED, self._collect)
        engine.add_event_handler(Events.COMPLETED, self._write)

    def _reset(self, engine: Engine) -> None:
        self.rows = []

    def _collect(self, engine: Engine) -> None:
        # after post-processing, batch and output are lists of per-case dicts (MONAI decollates both)
        for case, item in zip(engine.state.batch, engine.state.output, strict=True):
            label = torch.as_tensor(item["label"])
            label = int(label.argmax()) if label.numel() > 1 else int(label)
            self.rows.append((str(case.get("case_id", "")), label, float(item["pred"][1])))

    def _write(self, engine: Engine) -> None:
        import csv

        self.output_file.parent.mkdir(parents=True, exist_ok=True)
        with open(self.output_file, "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(["case_id", "label", "p53_probability"])
            writer.writerows((case, label, f"{p:.6f}") for case, label, p in self.rows)
        logger.info("Wrote %d predictions to %s.", len(self.rows), self.output_file)


class InferenceWriter:
    """Write what ``inference.yaml`` predicts: a tumor mask per case and the lesions with their P53 probability.

    Files in ``output_dir``: ``<case_id>_tumor.nii.gz`` (the mask on the phases' grid), ``lesions.json``
    (every lesion: size, longest diameter, centre, probability) and ``predictions.csv`` (per case: the
    largest lesion's probability, empty when no lesion was found, and the number of lesions).
    """

    def __init__(self, output_dir: str | Path, mask_key: str = "pred") -> None:
        self.output_dir = Path(output_dir)
        self.mask_key = mask_key
        self.cases: dict[str, list[dict]] = {}

    def attach(self, engine: Engine) -> None:
        engine.add_event_handler(Events.STARTED, self._reset)
        engine.add_event_handler(Events.ITERATION_COMPLETED, self._collect)
        engine.add_event_handler(Events.COMPLETED, self._write)

    def _reset(self, engine: Engine) -> None:
        self.cases = {}

    def _collect(self, engine: Engine) -> None:
        import nibabel as nib
        import numpy as np

        from hccp53.inference import LESIONS

        self.output_dir.mkdir(parents=True, exist_ok=True)
        for case, item in zip(engine.state.batch, engine.state.output, strict=True):
            case_id = str(case.get("case_id", f"case{len(self.cases):04d}"))
            mask = item[self.mask_key]
            array = np.asarray(mask.detach().cpu()).reshape(mask.shape[-3:]).astype(np.uint8)
            nib.save(nib.Nifti1Image(array, np.asarray(mask.affine)), self.output_dir / f"{case_id}_tumor.nii.gz")
            self.cases[case_id] = item[LESIONS]

    def _write(self, engine: Engine) -> None:
        import csv

        (self.output_dir / "lesions.json").write_text(json.dumps(self.cases, indent=2) + "\n", encoding="utf-8")
        with open(self.output_dir / "predictions.csv", "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(["case_id", "p53_probability", "lesions"])
            for case_id, lesions in self.cases.items():
                first = f"{lesions[0]['p53_probability']:.6f}" if lesions else ""
                writer.writerow([case_id, first, len(lesions)])
        logger.info("Wrote masks and lesions of %d cases to %s.", len(self.cases), self.output_dir)
