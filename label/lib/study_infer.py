"""Infer task on a DICOM study fetched from a PACS: the app's own steps, the mask on the series the viewer shows.

With a DICOMweb datastore (:mod:`lib.dicomweb`) an image is one series, while the network needs every phase
of its study. The task runs what the Deploy app runs (:mod:`hccp53.deploy`), from the same library:
:func:`hccp53.steps.load_volumes` (the study, phase identification, the phases on the reference grid,
registered when ``configs/inference.yaml`` says so) and :meth:`hccp53.predictor.Predictor.segment` then
:meth:`~hccp53.predictor.Predictor.classify` (the model folder's networks and settings), so the tumor mask
is the one the app writes into its DICOM SEG. The mask is then resampled (nearest neighbour, physical space)
onto the series the request names: on the reference (portal venous) series nothing moves.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import SimpleITK as sitk
from monailabel.interfaces.tasks.infer_v2 import InferType
from monailabel.tasks.infer.basic_infer import BasicInferTask

from hccp53.errors import InputError
from hccp53.predictor import Predictor
from hccp53.steps import load_volumes
from hccp53.transforms import sitk_to_metatensor
from hccp53.volumes.resample import resample_mask

logger = logging.getLogger(__name__)

#: The request key under which the app passes the study folder (:meth:`lib.dicomweb.DicomwebStudies.study_folder`).
STUDY_DIR = "study_dir"


class StudyTumorSegmentation(BasicInferTask):
    """The tumor mask (label 1) of the study of the requested series, on that series' grid.

    Parameters
    ----------
    predictor
        The app's networks (:class:`~hccp53.predictor.Predictor`, built with ``dicom=False``).
    """

    def __init__(self, predictor: Predictor) -> None:
        super().__init__(
            path=None,
            network=None,
            type=InferType.SEGMENTATION,
            labels={"tumor": 1},
            dimension=3,
            description=(
                f"Tumor mask of the study by the hccp53 app's steps (phases {', '.join(predictor.phases)} "
                f"identified, on the {predictor.reference_phase} grid), on the series shown"
            ),
        )
        self.predictor = predictor

    def is_valid(self) -> bool:
        return True

    def pre_transforms(self, data: dict[str, Any] | None = None) -> Sequence[Callable]:
        return []

    def post_transforms(self, data: dict[str, Any] | None = None) -> Sequence[Callable]:
        return []

    def run_inferer(self, data: dict[str, Any], convert_to_batch: bool = True, device: str = "cpu") -> dict[str, Any]:
        study_dir = data.get(STUDY_DIR)
        if not study_dir:
            raise InputError("This model works on a study of the PACS: name one of its series as the image "
                             "(GET /datastore/?output=all lists them); an uploaded file cannot be used.")  # fmt: skip
        _, found, volumes = load_volumes(study_dir, self.predictor)
        prediction = self.predictor.classify(self.predictor.segment(volumes))
        shown = sitk.ReadImage(str(data["image_path"]))  # the series as MONAI Label converted it for the client
        mask = resample_mask(sitk.Cast(prediction.labels > 0, sitk.sitkUInt8), shown, label="the tumor mask")
        tensor = sitk_to_metatensor(mask)
        data["image"] = tensor  # the writer takes the affine from the image
        data[self.output_label_key] = tensor[0].to(dtype=tensor.dtype)
        tumor_voxels = int(sitk.GetArrayViewFromImage(prediction.labels).astype(bool).sum())  # reference grid
        volume_ml = tumor_voxels * float(np.prod(prediction.labels.GetSpacing())) / 1000.0
        data[self.output_json_key] = {
            "tumor_voxels": int(sitk.GetArrayViewFromImage(mask).sum()),
            "tumor_volume_ml": round(volume_ml, 3),
            "lesions": len(prediction.lesions),
            "p53_probability": prediction.probability,
            "p53_status": prediction.status if prediction.status is not None else "no lesion found",
            "threshold": prediction.threshold,
            "phases": {p: found.phases[p].identity() for p in self.predictor.phases},
            "reference_phase": self.predictor.reference_phase,
            "model": {"uid": self.predictor.record.uid, "sha256": dict(self.predictor.record.sha256)},
            "study": Path(study_dir).name,
        }
        logger.info("Tumor mask of %.1f ml (%d lesions) on series %s.", volume_ml, len(prediction.lesions),
                    Path(str(data["image_path"])).name)  # fmt: skip
        return data
