"""What the MONAI Deploy app does to one study, as plain functions the operators call (and tests call directly).

study folder -> :func:`~hccp53.dicomio.load_study` -> phases (:func:`~hccp53.phases.identify_phases`) -> volumes
on the reference phase's grid -> :class:`Predictor` (tumor segmentation, lesions, P53 classifier on each lesion)
-> DICOM SEG + TID 1500 SR + ``result.json``. Settings come from ``configs/inference.yaml`` (the values the
networks were trained with; ``tests/bundle`` checks that they are); weights from the models folder, loaded
once with ``torch.load(weights_only=True)`` after their sha256 is checked against ``checksums.json``.
"""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import SimpleITK as sitk

import hccp53
from hccp53.errors import ConfigError, InputError, OutputError

logger = logging.getLogger(__name__)

CONFIG = Path(hccp53.__file__).resolve().parents[1] / "configs" / "inference.yaml"
SEGMENTATION_WEIGHTS = "tumor_segmentation.pt"
CLASSIFIER_WEIGHTS = "p53_classifier.pt"
SEG_FILE = "tumor_seg.dcm"
SR_FILE = "p53_sr.dcm"
RESULT_FILE = "result.json"
_KEYS = ("phases", "backbone", "fusion", "shared_encoder", "crop_spacing_mm", "crop_size", "spacing_mm", "patch_size",
         "init_filters", "min_lesion_ml", "sw_batch_size", "sw_overlap", "threshold", "reference_phase",
         "register")  # fmt: skip


@dataclass(frozen=True)
class Settings:
    """The inference settings of ``configs/inference.yaml`` (see the comments there)."""

    phases: tuple[str, ...]
    backbone: str
    fusion: str
    shared_encoder: bool
    crop_spacing_mm: tuple[float, ...]
    crop_size: tuple[int, ...]
    spacing_mm: tuple[float, ...]
    patch_size: tuple[int, ...]
    init_filters: int
    min_lesion_ml: float
    sw_batch_size: int
    sw_overlap: float
    threshold: float
    reference_phase: str
    register: bool


def read_settings(config: str | Path = CONFIG) -> Settings:
    """The plain values of the inference config (no expression is evaluated)."""
    import yaml

    path = Path(config)
    try:
        values = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as error:
        raise ConfigError(f"Cannot read the inference settings {path} ({error}).") from None
    missing = [k for k in _KEYS if k not in values]
    if missing:
        raise ConfigError(f"{path} lacks {', '.join(missing)}.")
    converted = {k: tuple(values[k]) if isinstance(values[k], list) else values[k] for k in _KEYS}
    return Settings(**converted)


@dataclass
class StudyPrediction:
    """The result for one study: lesions (largest first) with their label map on the reference grid."""

    lesions: list[Any]
    labels: sitk.Image
    probability: float | None
    status: str | None
    threshold: float
    timings: dict[str, float] = field(default_factory=dict)


class Predictor:
    """Both networks, loaded once per process, applied to the volumes of one study at a time.

    Parameters
    ----------
    models_dir
        ``tumor_segmentation.pt``, ``p53_classifier.pt`` and ``checksums.json``.
    settings
        :func:`read_settings`.
    device
        ``"cuda"``, ``"cpu"`` ...; default: CUDA when torch sees a GPU (logged, and written into the result).
    """

    def __init__(self, models_dir: str | Path, settings: Settings, device: str | None = None) -> None:
        import torch
        from monai.networks.nets import SegResNet

        from hccp53.inference import LesionClassifier
        from hccp53.nets import build_classifier
        from hccp53.nets.weights import load_weights, sha256_of

        models = Path(models_dir)
        for name in (SEGMENTATION_WEIGHTS, CLASSIFIER_WEIGHTS):
            if not (models / name).is_file():
                raise InputError(f"The models folder {models} has no {name}; point -m at the folder with the "
                                 "weights and checksums.json.")  # fmt: skip
        self.settings = settings
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.amp = self.device.type == "cuda"
        segmentation = SegResNet(spatial_dims=3, in_channels=len(settings.phases), out_channels=2,
                                 init_filters=settings.init_filters, blocks_down=(1, 2, 2, 4), blocks_up=(1, 1, 1))
        self.segmentation = load_weights(segmentation, models / SEGMENTATION_WEIGHTS).to(self.device).eval()
        classifier = build_classifier(settings.backbone, settings.phases, spatial_dims=3, num_classes=2,
                                      fusion=settings.fusion, shared=settings.shared_encoder)  # fmt: skip
        classifier = load_weights(classifier, models / CLASSIFIER_WEIGHTS)
        self.classifier = LesionClassifier(classifier, settings.phases, settings.crop_spacing_mm, settings.crop_size,
                                           self.device, amp=self.amp)  # fmt: skip
        self.checksums = {name: sha256_of(models / name) for name in (SEGMENTATION_WEIGHTS, CLASSIFIER_WEIGHTS)}
        logger.info("Networks loaded on %s.", self.device)

    def __call__(self, images: Mapping[str, sitk.Image]) -> StudyPrediction:
        """Segment, split into lesions, classify each lesion (all in one batch) of one study's volumes."""
        from hccp53.inference import find_lesions, segment
        from hccp53.transforms import sitk_to_metatensor

        settings = self.settings
        timings: dict[str, float] = {}
        start = time.perf_counter()
        tensors = {p: sitk_to_metatensor(images[p]) for p in settings.phases}
        mask = segment(self.segmentation, tensors, settings.phases, settings.spacing_mm, settings.patch_size,
                       self.device, sw_batch_size=settings.sw_batch_size, overlap=settings.sw_overlap,
                       amp=self.amp)  # fmt: skip
        lesions, labels = find_lesions(mask, settings.min_lesion_ml)
        timings["segmentation_s"] = time.perf_counter() - start
        start = time.perf_counter()
        probabilities = self.classifier(tensors, labels, len(lesions))
        lesions = [replace(lesion, p53_probability=p) for lesion, p in zip(lesions, probabilities, strict=True)]
        timings["classification_s"] = time.perf_counter() - start
        reference = images[settings.phases[0]]
        label_image = sitk.GetImageFromArray(np.ascontiguousarray(labels.transpose(2, 1, 0)).astype(np.uint8))
        label_image.CopyInformation(reference)
        probability = lesions[0].p53_probability if lesions else None
        status = None if probability is None else ("mutated" if probability >= settings.threshold else "wild-type")
        return StudyPrediction(lesions, label_image, probability, status, settings.threshold, timings)


def prepare_output(out: Path) -> Path:
    """A fresh staging folder beside ``out`` (which must be absent or empty)."""
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise OutputError(f"Output {out} exists and is not an empty folder; choose another output folder.")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(prefix=f".{out.name}.partial-", dir=out.parent))
    except OSError as error:
        raise OutputError(f"Cannot write beside {out} ({error.strerror}); choose a writable output folder.") from None


def commit_output(staging: Path, out: Path) -> None:
    """Move every finished file into ``out`` at once (rename of the staging folder when possible)."""
    if out.exists():
        out.rmdir()  # empty, checked by prepare_output
    staging.rename(out)


def run_study(study_dir: str | Path, out_dir: str | Path, predictor: Predictor) -> dict[str, Any]:
    """The whole app on one study folder: SEG, SR and ``result.json`` in ``out_dir``, or nothing at all.

    Raises
    ------
    HccP53Error
        Bad input (not a study, a required phase missing, ...) or an unusable output folder: ``out_dir``
        is left as it was.
    """
    from hccp53 import __version__
    from hccp53.dicomio import load_study
    from hccp53.dicomio.codes import AlgorithmInfo
    from hccp53.dicomio.seg import build_seg
    from hccp53.dicomio.sr import build_sr
    from hccp53.phases import identify_phases
    from hccp53.volumes.study import study_volumes

    settings = predictor.settings
    out = Path(out_dir)
    timings: dict[str, float] = {}
    staging = prepare_output(out)
    try:
        start = time.perf_counter()
        study = load_study(Path(study_dir))
        timings["load_s"] = time.perf_counter() - start
        start = time.perf_counter()
        found = identify_phases(study, require=settings.phases)
        volumes = study_volumes(study, found, phases=settings.phases, reference_phase=settings.reference_phase,
                                register=settings.register)
        timings["volumes_s"] = time.perf_counter() - start
        prediction = predictor(volumes.images)
        timings.update(prediction.timings)
        start = time.perf_counter()
        reference = found.phases[settings.reference_phase].stack
        parameters = {"phases": ",".join(settings.phases), "threshold": f"{settings.threshold:g}",
                      "device": str(predictor.device),
                      "classifier_sha256": predictor.checksums[CLASSIFIER_WEIGHTS][:16],
                      "segmentation_sha256": predictor.checksums[SEGMENTATION_WEIGHTS][:16]}  # fmt: skip
        algorithm = AlgorithmInfo("hccp53 P53 classifier", __version__, parameters)
        seg = build_seg(study, reference, prediction.labels, len(prediction.lesions), algorithm)
        if seg is not None:
            seg.save_as(staging / SEG_FILE)
        sr = build_sr(study, reference, {p: found.phases[p].stack for p in settings.phases}, seg, prediction.lesions,
                      prediction.probability, prediction.status, settings.threshold, algorithm)  # fmt: skip
        sr.save_as(staging / SR_FILE)
        timings["dicom_output_s"] = time.perf_counter() - start
        result = {
            "p53_probability": prediction.probability,
            "p53_status": prediction.status if prediction.status is not None else "no lesion found",
            "threshold": settings.threshold,
            "phases": {p: found.phases[p].stack.series_uid for p in settings.phases},
            "reference_phase": settings.reference_phase,
            "lesions": [lesion.to_json() for lesion in prediction.lesions],
            "model": {"name": "hccp53 P53 classifier", "version": __version__, "sha256": predictor.checksums},
            "device": str(predictor.device),
            "outputs": {"sr": SR_FILE, "seg": SEG_FILE if seg is not None else None},
            "study_instance_uid": study.study_uid,
            "timings_s": {k: round(v, 3) for k, v in timings.items()},
            "intended_use": "research use only; not for diagnosis",
        }
        (staging / RESULT_FILE).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
        commit_output(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    logger.info("Result written to %s: %s.", out, result["p53_status"])
    return result
