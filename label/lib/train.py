"""Train task: fine-tune the segmentation network on the labels saved in the datastore.

Built on MONAI Label's :class:`BasicTrainTask`, with the bundle's pieces: the training and validation
pipelines of :func:`hccp53.transforms.segmentation_transforms` (patches half on tumor, flips, intensity
jitter), the network, loss and post-processing of ``configs/train_segmentation.yaml``, and a sliding
window for validation. Training starts from the newest weights (the fine-tuned ones when a run has
published some, else the shipped ``models/tumor_segmentation.pt``), loaded with their sha256 checked.
The best model is published as ``MODEL_DIR/tumor_segmentation.pt`` with its ``checksums.json``
(:mod:`lib.weights`, under a lock the infer task shares) after every epoch that improved it; the infer
task picks it up at its next request.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from ignite.engine import Events
from monai.inferers import SlidingWindowInferer
from monailabel.interfaces.datastore import Datastore
from monailabel.tasks.train.basic_train import BasicTrainTask, Context

from hccp53.nets.weights import load_weights
from hccp53.transforms import segmentation_transforms
from lib.bundle import SegmentationBundle
from lib.errors import conflict
from lib.weights import publish

logger = logging.getLogger(__name__)

#: Fine-tuning starts from trained weights: the bundle's learning rate (for training from scratch) times this.
#: Measured on `hccp53 synth --cases 4 --seed 3`: one epoch at the bundle's 0.002 on one labeled case took
#: the mean Dice of the four cases from 0.884 to 0.708 (docs/label.md).
FINE_TUNE_LR_FACTOR = 0.1


class TumorSegmentationTrain(BasicTrainTask):
    """Fine-tune the tumor segmentation network on the datastore's final labels.

    Parameters
    ----------
    bundle
        The bundle's segmentation settings.
    model_dir
        Where runs write checkpoints; the best model is published here as ``tumor_segmentation.pt``.
    start_weights
        Callable returning the weights file to start from (the infer task's newest).
    """

    def __init__(self, bundle: SegmentationBundle, model_dir: str | Path, start_weights: Callable[[], str]) -> None:
        model_dir = Path(model_dir)
        model_dir.mkdir(parents=True, exist_ok=True)
        super().__init__(
            str(model_dir),
            description="Fine-tune the hccp53 tumor segmentation network on the saved (final) labels",
            config={
                "max_epochs": 10,
                "val_split": 0.2,
                "train_batch_size": 1,
                "val_batch_size": 1,
                "multi_gpu": False,
                "learning_rate": bundle.learning_rate * FINE_TUNE_LR_FACTOR,
                "dataset": ["CacheDataset", "Dataset"],
                "dataloader": ["DataLoader", "ThreadDataLoader"],
                # MLflow (on by default in MONAI Label) refuses the file store it would write here; TensorBoard
                # events are written to MODEL_DIR/<name>/events_<run>/ either way
                "tracking": ["None", "mlflow"],
            },
            tracking=None,
            amp=torch.cuda.is_available(),
            publish_path=None,  # published by finalize() with its checksum, under the infer task's lock
            key_metric_filename="model.pt",
            labels={"tumor": 1},
        )
        self.bundle = bundle
        self.model_dir = model_dir
        self.start_weights = start_weights

    def pre_process(self, request: dict[str, Any], datastore: Datastore) -> list[dict[str, Any]]:
        cases = datastore.datalist()
        if not cases:
            raise conflict("No final labels are saved yet: save at least one tumor mask (tag 'final') before training.")
        return cases

    def partition_datalist(self, context: Context, shuffle: bool = False) -> tuple[list, list]:
        if len(context.datalist) < 2:
            logger.info("One labeled case: training on it without validation.")
            return list(context.datalist), []
        return super().partition_datalist(context, shuffle=shuffle)

    def network(self, context: Context) -> torch.nn.Module:
        start = self.start_weights()
        logger.info("Fine-tuning from %s.", start)
        return load_weights(self.bundle.network(), start)

    def load_path(self, output_dir: str, pretrained: bool = True) -> None:
        return None  # the network is loaded (sha256 checked) in network()

    def optimizer(self, context: Context) -> torch.optim.Optimizer:
        lr = float(context.request.get("learning_rate", self.bundle.learning_rate * FINE_TUNE_LR_FACTOR))
        return torch.optim.AdamW(context.network.parameters(), lr=lr, weight_decay=self.bundle.weight_decay)

    def loss_function(self, context: Context) -> Any:
        return self.bundle.loss()

    def lr_scheduler_handler(self, context: Context) -> None:
        return None  # short fine-tuning runs keep the learning rate constant

    def train_pre_transforms(self, context: Context) -> Any:
        return segmentation_transforms(self.bundle.phases, self.bundle.spacing, mode="train",
                                       patch_size=self.bundle.patch_size,
                                       samples_per_case=self.bundle.samples_per_case,
                                       tumor_class=self.bundle.tumor_class)  # fmt: skip

    def train_post_transforms(self, context: Context) -> Any:
        return self.bundle.postprocessing()

    def val_pre_transforms(self, context: Context) -> Any:
        return segmentation_transforms(self.bundle.phases, self.bundle.spacing, mode="validate",
                                       tumor_class=self.bundle.tumor_class)  # fmt: skip

    def val_post_transforms(self, context: Context) -> Any:
        return self.bundle.postprocessing()

    def val_inferer(self, context: Context) -> SlidingWindowInferer:
        return SlidingWindowInferer(roi_size=self.bundle.patch_size, sw_batch_size=self.bundle.sw_batch_size,
                                    overlap=self.bundle.sw_overlap)  # fmt: skip

    def finalize(self, context: Context) -> None:
        super().finalize(context)  # attaches MONAI Label's stats writer at each epoch's end
        engine = context.evaluator if context.evaluator else context.trainer
        best = Path(context.output_dir) / self._key_metric_filename  # written by the key-metric CheckpointSaver

        def publish_best(_: Any) -> None:
            publish(best, self.model_dir)

        engine.add_event_handler(Events.EPOCH_COMPLETED, publish_best)
