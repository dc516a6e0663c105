"""Infer task: the tumor mask proposed by the project's segmentation network.

Built on MONAI Label's :class:`BasicInferTask` (its ``BundleInferTask`` imports torchvision, which the CPU
torch cannot load). The work is :func:`hccp53.inference.segment`, the function the Deploy app and the
bundle's ``inference.yaml`` run: the phases go through :mod:`hccp53.transforms` (RAS, 3 mm, per-phase
percentile scaling), a sliding window of the bundle's patch size, argmax, and the mask comes back on
the image's own voxel grid. The network is the model folder's
(:func:`hccp53.model.load.load_segmentation_network`, sha256 checked against ``checksums.json``,
``weights_only=True``): the shipped ``models/tumor_segmentation.pt``
until a fine-tuning run has published its own.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
import torch
from monai.data import MetaTensor
from monailabel.interfaces.tasks.infer_v2 import InferType
from monailabel.tasks.infer.basic_infer import BasicInferTask
from torch import nn

from hccp53.errors import InputError
from hccp53.inference import segment
from hccp53.model.load import load_segmentation_network
from lib.bundle import SegmentationBundle
from lib.datastore import load_phases, phase_files
from lib.weights import publish_lock

logger = logging.getLogger(__name__)

TUMOR = "tumor"


class LoadPhasesd:
    """Read the phases of the request's ``image`` into phase-keyed channel-first tensors.

    A datastore image (a file at the top of ``studies``) is its case's reference phase; the other
    phases are found under ``phases/<image id>/``. An image uploaded with the request (or any path
    outside the datastore) must be one 4D NIfTI whose 4th dimension holds the network's phases in order.
    """

    def __init__(self, studies: str | Path, phases: Sequence[str], reference_phase: str) -> None:
        self.studies = Path(studies).resolve()
        self.phases = tuple(phases)
        self.reference_phase = reference_phase

    def __call__(self, data: dict[str, Any]) -> dict[str, Any]:
        d = dict(data)
        path = Path(str(d["image"])).resolve()
        if path.parent == self.studies:
            phases = load_phases(phase_files(path, self.phases, self.reference_phase))
        else:
            phases = self._load_stack(path)
        d.update(phases)
        d["image"] = phases[self.reference_phase]
        return d

    def _load_stack(self, path: Path) -> dict[str, MetaTensor]:
        order = ", ".join(self.phases)
        try:
            image = nib.load(str(path))
            array = np.asarray(image.dataobj, dtype=np.float32)
        except Exception as error:  # nibabel raises many types for a corrupt file
            raise InputError(
                f"The uploaded image is not a readable NIfTI file ({type(error).__name__}); upload a 4D NIfTI "
                f"with the phases {order} as its 4th dimension, or name an image of the datastore."
            ) from None
        if array.ndim != 4 or array.shape[3] != len(self.phases):
            raise InputError(
                f"The uploaded image has shape {tuple(array.shape)}; the network needs a 4D NIfTI with the "
                f"{len(self.phases)} phases {order} as its 4th dimension, on one voxel grid."
            )
        affine = torch.as_tensor(np.asarray(image.affine, dtype=np.float64))
        return {p: MetaTensor(torch.from_numpy(np.ascontiguousarray(array[..., k]))[None], affine=affine.clone())
                for k, p in enumerate(self.phases)}  # fmt: skip


class TumorSegmentation(BasicInferTask):
    """Propose the tumor mask of a case (label 1 = tumor).

    Parameters
    ----------
    bundle
        The bundle's segmentation settings.
    studies
        The datastore folder (its images are reference phases).
    reference_phase
        The phase stored as each case's image.
    model_paths
        Weights files, oldest first: the last one that exists is used (MONAI Label's convention).
    publish_dir
        Where fine-tuning publishes its weights (:mod:`lib.weights`).
    """

    def __init__(
        self,
        bundle: SegmentationBundle,
        studies: str | Path,
        reference_phase: str,
        model_paths: Sequence[str | Path],
        publish_dir: str | Path,
    ) -> None:
        super().__init__(
            path=[str(p) for p in model_paths],
            network=None,
            type=InferType.SEGMENTATION,
            labels={TUMOR: 1},
            dimension=3,
            description=(
                f"Tumor mask from the hccp53 segmentation network (SegResNet on {', '.join(bundle.phases)} at "
                f"{'x'.join(f'{s:g}' for s in bundle.spacing)} mm); the image shown is the {reference_phase} phase"
            ),
            roi_size=bundle.patch_size,
        )
        self.bundle = bundle
        self.publish_dir = Path(publish_dir).resolve()
        self.loader = LoadPhasesd(studies, bundle.phases, reference_phase)

    def is_valid(self) -> bool:
        return self.get_path() is not None

    def pre_transforms(self, data: dict[str, Any] | None = None) -> Sequence[Callable]:
        return [self.loader]

    def post_transforms(self, data: dict[str, Any] | None = None) -> Sequence[Callable]:
        return []

    def network_for(self, device: str) -> tuple[nn.Module, Path]:
        """The network with the newest weights on ``device`` (cached until the weights file changes)."""
        path = Path(self.get_path())
        # a fine-tuning run may be publishing this file and its checksum (the shipped weights never change)
        with publish_lock(path.parent) if path.parent == self.publish_dir else contextlib.nullcontext():
            version = (str(path), path.stat().st_mtime_ns)
            cached = self._networks.get(device)
            if cached is not None and cached[1] == version:
                return cached[0], path
            network = load_segmentation_network(self.bundle.record, path, device)
        self._networks[device] = (network, version)
        return network, path

    def _get_network(self, device: str, data: Any) -> nn.Module:
        return self.network_for(device)[0]

    def run_inferer(self, data: dict[str, Any], convert_to_batch: bool = True, device: str = "cpu") -> dict[str, Any]:
        network, path = self.network_for(device)
        torch_device = torch.device(device)
        mask = segment(
            network,
            {p: data[p] for p in self.bundle.phases},
            self.bundle.phases,
            self.bundle.spacing,
            self.bundle.patch_size,
            torch_device,
            sw_batch_size=self.bundle.sw_batch_size,
            overlap=self.bundle.sw_overlap,
            amp=torch_device.type == "cuda",
            classes=self.bundle.record.segmentation_classes,
            min_confidence=self.bundle.record.min_lesion_confidence,
        )
        voxel_ml = abs(float(np.linalg.det(np.asarray(mask.affine)[:3, :3]))) / 1000.0
        voxels = int(mask.sum())
        data[self.output_label_key] = MetaTensor(mask[0], affine=mask.affine)
        data[self.output_json_key] = {
            "tumor_voxels": voxels,
            "tumor_volume_ml": round(voxels * voxel_ml, 3),
            "weights": str(path),
            "phases": list(self.bundle.phases),
        }
        logger.info("Proposed a tumor mask of %.1f ml with %s.", voxels * voxel_ml, path.name)
        return data
