"""Active learning: the unlabeled case on which the network is least sure, by test-time-augmentation variance.

The network was trained with left-right and antero-posterior flips (``hccp53.transforms``), so its
answer should not change when the input is flipped. For each candidate case the tumor probability is
computed on the input as it is and flipped along x, along y, and along both (each flipped back), and
the case's score is the mean, over the voxels of the preprocessed volume, of the variance of these four
probabilities. The case with the highest score is proposed next. Scores are kept in the datastore's
image info (``tta_variance``) with the weights they were computed with, and recomputed after the weights
change (a fine-tuning run).
"""

from __future__ import annotations

import logging
import random
import time
from typing import Any

import torch
from monai.inferers import sliding_window_inference
from monailabel.interfaces.datastore import Datastore
from monailabel.interfaces.tasks.strategy import Strategy
from torch import nn

from hccp53.transforms import IMAGE, segmentation_transforms
from lib.bundle import SegmentationBundle
from lib.datastore import load_phases
from lib.infer import TumorSegmentation

logger = logging.getLogger(__name__)

NAME = "tta_variance"
#: Flips of a (batch, channel, x, y, z) tensor: none, x, y, both.
FLIPS: tuple[tuple[int, ...], ...] = ((), (2,), (3,), (2, 3))


def tta_variance(network: nn.Module, phases: dict[str, Any], bundle: SegmentationBundle, device: torch.device) -> float:
    """Mean voxel variance of the tumor probability over the flips of :data:`FLIPS`."""
    data = segmentation_transforms(bundle.phases, bundle.spacing, mode="infer")({p: phases[p] for p in bundle.phases})
    image = torch.as_tensor(data[IMAGE]).unsqueeze(0).to(device)
    probabilities = []
    network.eval()
    with torch.no_grad():
        for dims in FLIPS:
            x = torch.flip(image, dims) if dims else image
            logits = sliding_window_inference(x, bundle.patch_size, bundle.sw_batch_size, network,
                                              overlap=bundle.sw_overlap)  # fmt: skip
            tumor = torch.softmax(logits.float(), dim=1)[:, 1:]
            probabilities.append(torch.flip(tumor, dims) if dims else tumor)
    return float(torch.stack(probabilities).var(dim=0, unbiased=False).mean())


class TTAVariance(Strategy):
    """Propose the unlabeled case with the highest test-time-augmentation variance.

    Parameters
    ----------
    task
        The infer task (its network and weights are the ones scored).
    max_candidates
        Cases scored per request at most (a random sample of the unlabeled ones; scores already known
        for the current weights are reused).
    """

    def __init__(self, task: TumorSegmentation, max_candidates: int = 16) -> None:
        super().__init__(
            "Test-time-augmentation variance: the unlabeled case whose tumor probability changes most "
            "when the input is flipped"
        )
        self.task = task
        self.max_candidates = int(max_candidates)

    def __call__(self, request: dict[str, Any], datastore: Datastore) -> dict[str, Any] | None:
        images = datastore.get_unlabeled_images(request.get("label_tag"), request.get("labels"))
        if not images:
            return None
        candidates = random.sample(images, min(len(images), self.max_candidates))
        device = "cuda" if torch.cuda.is_available() else "cpu"
        network, path = self.task.network_for(device)
        version = f"{path}:{path.stat().st_mtime_ns}"
        scores = {}
        for image_id in candidates:
            known = datastore.get_image_info(image_id).get(NAME, {})
            if known.get("weights") == version:
                scores[image_id] = float(known["score"])
                continue
            phases = load_phases(datastore.phase_files(image_id))
            scores[image_id] = tta_variance(network, phases, self.task.bundle, torch.device(device))
            datastore.update_image_info(image_id, {NAME: {"score": scores[image_id], "weights": version,
                                                          "ts": int(time.time())}})  # fmt: skip
        chosen = max(scores, key=scores.__getitem__)
        logger.info("TTA variance of %d candidate(s); proposing the highest (%.3g).", len(scores), scores[chosen])
        return {"id": chosen, "score": scores[chosen], "candidates": len(scores)}
