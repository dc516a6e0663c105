"""The networks of the app, loaded once per process and applied to one study's volumes at a time.

:class:`Predictor` is the trained-model folder (:func:`hccp53.model.load_model`) plus the run settings
(:mod:`hccp53.settings`): tumor segmentation, lesions, and the P53 classifier on each lesion. The steps of the
app around it (:mod:`hccp53.deploy`) need no MONAI; this module does.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import SimpleITK as sitk

from hccp53 import __version__
from hccp53.errors import InputError
from hccp53.inference import Lesion, find_lesions
from hccp53.model import CLASSIFIER_WEIGHTS, SEGMENTATION_WEIGHTS, ModelRecord
from hccp53.model.load import load_model
from hccp53.settings import Settings
from hccp53.transforms import sitk_to_metatensor
from hccp53.volumes.multiphase import MultiphaseVolumes

if TYPE_CHECKING:  # highdicom, imported only where DICOM is written (the MONAI Label environment has none)
    from hccp53.dicomio.codes import AlgorithmInfo

logger = logging.getLogger(__name__)

ALGORITHM_NAME = "hccp53 P53 classifier"


@dataclass
class StudyPrediction:
    """The result for one study: lesions (the primary, most confident, first) with their label map on the
    reference grid.

    ``tensors`` holds the phases as channel-first MetaTensors (:func:`hccp53.transforms.sitk_to_metatensor`)
    from :meth:`Predictor.segment` to :meth:`Predictor.classify`, which uses them and hands on none.
    ``registration`` is what :func:`registration_report` says of the volumes the prediction was made on.
    """

    lesions: list[Lesion]
    labels: sitk.Image
    probability: float | None
    status: str | None
    threshold: float
    reference: sitk.Image
    registration: dict[str, Any] = field(default_factory=dict)
    tensors: dict[str, Any] = field(default_factory=dict, repr=False)


def registration_report(volumes: MultiphaseVolumes) -> dict[str, Any]:
    """Per phase: whether it was registered onto the reference, the transform, the metric and any fall-back."""
    summary = volumes.summary()
    phases = {}
    for phase, entry in summary["phases"].items():
        if phase == volumes.reference_phase:
            continue
        report = entry.get("registration")
        phases[phase] = {
            "registered": entry["registered"],
            "fell_back_to_identity": bool(report and report["fallback_to_identity"]),
            "fallback_reason": report["fallback_reason"] if report else None,
            "metric": report["metric"] if report else None,
            "metric_before": report["metric_before"] if report else None,
            "metric_after": report["metric_after"] if report else None,
            "translation_mm": entry.get("translation_mm"),
            "rotation_deg": entry.get("rotation_deg"),
        }
    return {"reference_phase": volumes.reference_phase, "convention": summary["convention"], "phases": phases}


def algorithm_info(record: ModelRecord, device: str) -> AlgorithmInfo:
    """TID 4019 / SEG algorithm identification: name, version and the parameters of this run; the model's UID
    (new whenever the weights change) as the device UID of the contributing equipment (IHE AIR)."""
    from hccp53.dicomio.codes import AlgorithmInfo

    # the lesion-confidence floor is in the record, not the weights: the UID does not follow it, the parameters do
    parameters = {"phases": ",".join(record.phases), "threshold": f"{record.threshold:g}", "device": device,
                  "model_uid": record.uid, "classifier_sha256": record.sha256[CLASSIFIER_WEIGHTS][:16],
                  "segmentation_sha256": record.sha256[SEGMENTATION_WEIGHTS][:16],
                  "min_lesion_confidence": f"{record.min_lesion_confidence:g}"}  # fmt: skip
    return AlgorithmInfo(ALGORITHM_NAME, __version__, parameters, device_uid=record.uid)


class Predictor:
    """Both networks of a trained-model folder, loaded once per process, applied to one study at a time.

    Construction also has highdicom read its tables of the DICOM standard
    (:func:`hccp53.dicomio.seg.load_standard_tables`), which it would otherwise do while writing the
    first study's SEG; ``dicom=False`` leaves highdicom out altogether, for an environment that only segments
    and classifies (the MONAI Label app's, where highdicom cannot be installed): :attr:`algorithm` is then
    unset and :mod:`hccp53.deploy`'s DICOM writers cannot be given this predictor.

    Parameters
    ----------
    models_dir
        A trained-model folder (:mod:`hccp53.model`): weights, their records and ``checksums.json``.
    settings
        :func:`hccp53.settings.read_settings`.
    device
        ``"cuda"``, ``"cpu"`` ...; default: CUDA when torch sees a GPU (logged, and written into the result).
    dicom
        Whether DICOM will be written with this predictor (default): the algorithm identification and
        highdicom's tables are prepared at construction.
    """

    def __init__(self, models_dir: str | Path, settings: Settings, device: str | None = None,
                 dicom: bool = True) -> None:  # fmt: skip
        self.model = load_model(models_dir, device)
        self.settings = settings
        self.device = self.model.device
        self.algorithm: AlgorithmInfo | None = None
        if dicom:
            from hccp53.dicomio.seg import load_standard_tables

            self.algorithm = algorithm_info(self.model.record, str(self.device))  # fixed for the process
            load_standard_tables()

    @property
    def record(self) -> ModelRecord:
        return self.model.record

    @property
    def phases(self) -> tuple[str, ...]:
        """Every phase a study must have."""
        return self.model.phases

    @property
    def reference_phase(self) -> str:
        return self.model.record.reference_phase

    @property
    def threshold(self) -> float:
        return self.model.record.threshold

    def segment(self, volumes: MultiphaseVolumes) -> StudyPrediction:
        """Tumor segmentation split into lesions (the most confident first), not yet classified."""
        images = volumes.images
        reference = images[volumes.reference_phase]
        tensors = {p: sitk_to_metatensor(images[p]) for p in self.phases}
        mask, probability = self.model.segment(tensors, self.settings.sw_batch_size, self.settings.sw_overlap)
        lesions, labels = find_lesions(mask, self.settings.min_lesion_ml, probability,
                                       self.record.min_lesion_confidence)  # fmt: skip
        label_image = sitk.GetImageFromArray(np.ascontiguousarray(labels.transpose(2, 1, 0)).astype(np.uint8))
        label_image.CopyInformation(reference)
        return StudyPrediction(lesions, label_image, None, None, self.threshold, reference,
                               registration_report(volumes), tensors)  # fmt: skip

    def classify(self, segmented: StudyPrediction) -> StudyPrediction:
        """The P53 probability of every lesion (one batch); the primary (first) lesion's is the study's.

        Raises
        ------
        InputError
            ``segmented`` lacks the phase tensors :meth:`segment` leaves on it.
        """
        missing = [p for p in self.record.classifier_phases if p not in segmented.tensors]
        if missing:
            raise InputError(f"The segmentation lacks the {', '.join(missing)} tensor(s) the classifier needs; "
                             "pass the StudyPrediction that Predictor.segment returned.")  # fmt: skip
        labels = sitk.GetArrayFromImage(segmented.labels).transpose(2, 1, 0)
        probabilities = self.model.classifier(segmented.tensors, labels, len(segmented.lesions))
        lesions = [replace(lesion, p53_probability=p)
                   for lesion, p in zip(segmented.lesions, probabilities, strict=True)]  # fmt: skip
        probability = lesions[0].p53_probability if lesions else None
        status = None if probability is None else ("mutated" if probability >= self.threshold else "wild-type")
        return replace(segmented, lesions=lesions, probability=probability, status=status, tensors={})

    def __call__(self, volumes: MultiphaseVolumes) -> StudyPrediction:
        """Segment, split into lesions, classify each lesion (all in one batch) of one study's volumes."""
        return self.classify(self.segment(volumes))
