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
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, get_args, get_origin, get_type_hints

import numpy as np
import SimpleITK as sitk

import hccp53
from hccp53.errors import ConfigError, InputError
from hccp53.staging import check_output, staged_output

logger = logging.getLogger(__name__)

CONFIG = Path(hccp53.__file__).resolve().parents[1] / "configs" / "inference.yaml"
SEGMENTATION_WEIGHTS = "tumor_segmentation.pt"
CLASSIFIER_WEIGHTS = "p53_classifier.pt"
SEG_FILE = "tumor_seg.dcm"
SR_FILE = "p53_sr.dcm"
PDF_FILE = "p53_report.dcm"
RESULT_FILE = "result.json"
OUTPUT_FIX = "choose another output folder"
_KEYS = ("phases", "backbone", "fusion", "shared_encoder", "mask_channel", "crop_spacing_mm", "crop_size",
         "spacing_mm", "patch_size", "init_filters", "min_lesion_ml", "sw_batch_size", "sw_overlap", "threshold",
         "reference_phase", "register", "max_voxels_per_series")  # fmt: skip


@dataclass(frozen=True)
class Settings:
    """The inference settings of ``configs/inference.yaml`` (see the comments there)."""

    phases: tuple[str, ...]
    backbone: str
    fusion: str
    shared_encoder: bool
    mask_channel: bool
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
    max_voxels_per_series: int


def read_settings(config: str | Path = CONFIG) -> Settings:
    """The plain values of the inference config (no expression is evaluated).

    The app reads only the keys of :class:`Settings`, each of which must be a plain value of its kind:
    a bundle expression (``"$..."``) there is refused, not evaluated (``monai.bundle run`` on the same
    file evaluates its other keys; docs/bundle.md, "Configs are code").

    Raises
    ------
    ConfigError
        The file is unreadable, not a mapping, lacks a key or holds a value of the wrong kind.
    """
    import yaml

    path = Path(config)
    try:
        values = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as error:
        raise ConfigError(f"Cannot read the inference settings {path} ({error}).") from None
    if not isinstance(values, dict):
        raise ConfigError(f"{path} must be a mapping of settings, not {type(values).__name__}.")
    missing = [k for k in _KEYS if k not in values]
    if missing:
        raise ConfigError(f"{path} lacks {', '.join(missing)}.")
    hints = get_type_hints(Settings)
    for key in _KEYS:
        if not _of_kind(values[key], hints[key]):
            raise ConfigError(f"The inference setting {key} = {values[key]!r} in {path} is not a plain "
                              f"{_KIND_NAMES.get(hints[key], 'value')}; fix the file.")  # fmt: skip
    converted = {k: tuple(values[k]) if isinstance(values[k], list) else values[k] for k in _KEYS}
    return Settings(**converted)


_KIND_NAMES = {str: "text", bool: "true or false", int: "integer", float: "number",
               tuple[str, ...]: "list of text", tuple[int, ...]: "list of integers",
               tuple[float, ...]: "list of numbers"}  # fmt: skip


def _of_kind(value: Any, hint: Any) -> bool:
    """Whether a YAML value is of a :class:`Settings` field's kind (an int is a float; a bool is neither)."""
    if get_origin(hint) is tuple:
        return isinstance(value, list) and bool(value) and all(_of_kind(v, get_args(hint)[0]) for v in value)
    if hint is str:
        return isinstance(value, str) and not value.lstrip().startswith("$")
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    return False


@dataclass
class StudyPrediction:
    """The result for one study: lesions (largest first) with their label map on the reference grid.

    ``tensors`` holds the phases as channel-first MetaTensors (:func:`hccp53.transforms.sitk_to_metatensor`)
    from :meth:`Predictor.segment` to :meth:`Predictor.classify`, which uses them and hands on none.
    """

    lesions: list[Any]
    labels: sitk.Image
    probability: float | None
    status: str | None
    threshold: float
    timings: dict[str, float] = field(default_factory=dict)
    reference: sitk.Image | None = None
    tensors: dict[str, Any] = field(default_factory=dict, repr=False)


def classifier_network(models_dir: str | Path, settings: Settings) -> Any:
    """The P53 classifier of a models folder (random weights): see :func:`hccp53.nets.classifier_for_models`."""
    from hccp53.nets import classifier_for_models

    return classifier_for_models(models_dir, {k: getattr(settings, k) for k in (
        "backbone", "phases", "fusion", "shared_encoder", "mask_channel", "crop_spacing_mm", "crop_size")})


class Predictor:
    """Both networks, loaded once per process, applied to the volumes of one study at a time.

    Construction also has highdicom read its tables of the DICOM standard
    (:func:`hccp53.dicomio.seg.load_standard_tables`), which it would otherwise do while writing the
    first study's SEG.

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

        from hccp53.dicomio.seg import load_standard_tables
        from hccp53.inference import LesionClassifier
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
        classifier = load_weights(classifier_network(models, settings), models / CLASSIFIER_WEIGHTS)
        self.classifier = LesionClassifier(classifier, settings.phases, settings.crop_spacing_mm, settings.crop_size,
                                           self.device, amp=self.amp, mask_channel=settings.mask_channel)  # fmt: skip
        self.checksums = {name: sha256_of(models / name) for name in (SEGMENTATION_WEIGHTS, CLASSIFIER_WEIGHTS)}
        self.algorithm = algorithm_info(settings, str(self.device), self.checksums)  # fixed for the process
        load_standard_tables()
        logger.info("Networks loaded on %s.", self.device)

    def segment(self, images: Mapping[str, sitk.Image]) -> StudyPrediction:
        """Tumor segmentation split into lesions (largest first), not yet classified."""
        from hccp53.inference import find_lesions, segment
        from hccp53.transforms import sitk_to_metatensor

        settings = self.settings
        start = time.perf_counter()
        tensors = {p: sitk_to_metatensor(images[p]) for p in settings.phases}
        mask = segment(self.segmentation, tensors, settings.phases, settings.spacing_mm, settings.patch_size,
                       self.device, sw_batch_size=settings.sw_batch_size, overlap=settings.sw_overlap,
                       amp=self.amp)  # fmt: skip
        lesions, labels = find_lesions(mask, settings.min_lesion_ml)
        label_image = sitk.GetImageFromArray(np.ascontiguousarray(labels.transpose(2, 1, 0)).astype(np.uint8))
        label_image.CopyInformation(images[settings.phases[0]])
        return StudyPrediction(lesions, label_image, None, None, settings.threshold,
                               {"segmentation_s": time.perf_counter() - start}, images[settings.phases[0]],
                               tensors)  # fmt: skip

    def classify(self, segmented: StudyPrediction) -> StudyPrediction:
        """The P53 probability of every lesion (one batch); the largest lesion's is the study's.

        Raises
        ------
        InputError
            ``segmented`` lacks the phase tensors :meth:`segment` leaves on it.
        """
        settings = self.settings
        start = time.perf_counter()
        missing = [p for p in settings.phases if p not in segmented.tensors]
        if missing:
            raise InputError(f"The segmentation lacks the {', '.join(missing)} tensor(s) the classifier needs; "
                             "pass the StudyPrediction that Predictor.segment returned.")  # fmt: skip
        labels = sitk.GetArrayFromImage(segmented.labels).transpose(2, 1, 0)
        probabilities = self.classifier(segmented.tensors, labels, len(segmented.lesions))
        lesions = [replace(lesion, p53_probability=p)
                   for lesion, p in zip(segmented.lesions, probabilities, strict=True)]  # fmt: skip
        probability = lesions[0].p53_probability if lesions else None
        status = None if probability is None else ("mutated" if probability >= settings.threshold else "wild-type")
        timings = {**segmented.timings, "classification_s": time.perf_counter() - start}
        return StudyPrediction(lesions, segmented.labels, probability, status, settings.threshold, timings,
                               segmented.reference)  # fmt: skip

    def __call__(self, images: Mapping[str, sitk.Image]) -> StudyPrediction:
        """Segment, split into lesions, classify each lesion (all in one batch) of one study's volumes."""
        return self.classify(self.segment(images))


def algorithm_info(settings: Settings, device: str, checksums: Mapping[str, str]) -> Any:
    """TID 4019 / SEG algorithm identification: name, version and the parameters of this run."""
    from hccp53 import __version__
    from hccp53.dicomio.codes import AlgorithmInfo

    parameters = {"phases": ",".join(settings.phases), "threshold": f"{settings.threshold:g}", "device": device,
                  "classifier_sha256": checksums[CLASSIFIER_WEIGHTS][:16],
                  "segmentation_sha256": checksums[SEGMENTATION_WEIGHTS][:16]}  # fmt: skip
    return AlgorithmInfo("hccp53 P53 classifier", __version__, parameters)


def dicom_seg(study: Any, found: Any, prediction: StudyPrediction, settings: Settings, algorithm: Any) -> Any:
    """The DICOM SEG of one study's lesions on the reference phase's slices (None without lesions)."""
    from hccp53.dicomio.seg import build_seg

    reference = found.phases[settings.reference_phase].stack
    return build_seg(study, reference, prediction.labels, len(prediction.lesions), algorithm)


def dicom_sr(study: Any, found: Any, prediction: StudyPrediction, settings: Settings, algorithm: Any, seg: Any
             ) -> Any:  # fmt: skip
    """The TID 1500 SR of one study's prediction, referencing the segments of ``seg`` (:func:`dicom_seg`)."""
    from hccp53.dicomio.sr import build_sr

    reference = found.phases[settings.reference_phase].stack
    return build_sr(study, reference, {p: found.phases[p].stack for p in settings.phases}, seg, prediction.lesions,
                    prediction.probability, prediction.status, settings.threshold, algorithm)  # fmt: skip


def dicom_outputs(study: Any, found: Any, prediction: StudyPrediction, settings: Settings, algorithm: Any
                  ) -> tuple[Any, Any]:  # fmt: skip
    """The DICOM SEG (None without lesions) and the TID 1500 SR of one study's prediction."""
    seg = dicom_seg(study, found, prediction, settings, algorithm)
    return seg, dicom_sr(study, found, prediction, settings, algorithm, seg)


def result_document(
    study: Any, found: Any, prediction: StudyPrediction, settings: Settings, device: str,
    checksums: Mapping[str, str], timings: Mapping[str, float], has_seg: bool,
) -> dict[str, Any]:
    """The content of ``result.json`` (DESIGN.md's public contract, plus lesions, device and timings)."""
    from hccp53 import __version__

    return {
        "p53_probability": prediction.probability,
        "p53_status": prediction.status if prediction.status is not None else "no lesion found",
        "threshold": settings.threshold,
        "phases": {p: found.phases[p].stack.series_uid for p in settings.phases},
        "reference_phase": settings.reference_phase,
        "lesions": [lesion.to_json() for lesion in prediction.lesions],
        "model": {"name": "hccp53 P53 classifier", "version": __version__, "sha256": dict(checksums)},
        "device": device,
        "outputs": {"sr": SR_FILE, "seg": SEG_FILE if has_seg else None, "pdf": PDF_FILE},
        "study_instance_uid": study.study_uid,
        "timings_s": {k: round(float(v), 3) for k, v in timings.items()},
        "intended_use": "research use only; not for diagnosis",
    }


def summary(study: Any, found: Any, prediction: StudyPrediction, settings: Settings, result: Mapping[str, Any]
            ) -> tuple[bytes, Any, Any]:  # fmt: skip
    """The summary PDF of a result, with what :func:`write_pdf` needs to encapsulate it."""
    from hccp53.report.summary import summary_pdf

    return summary_pdf(prediction.reference, prediction.labels, result), study, found.phases[
        settings.reference_phase].stack


def write_pdf(folder: Path, pdf: bytes, study: Any, stack: Any) -> Path:
    """The summary PDF as a DICOM Encapsulated PDF joining the study (:func:`hccp53.dicomio.pdf.encapsulated_pdf`)."""
    from hccp53 import __version__
    from hccp53.dicomio.codes import AlgorithmInfo
    from hccp53.dicomio.pdf import encapsulated_pdf

    encapsulated_pdf(pdf, study, stack, AlgorithmInfo("hccp53 P53 classifier", __version__)).save_as(folder / PDF_FILE)
    return folder / PDF_FILE


def write_result(out: Path, seg: Any, sr: Any, result: Mapping[str, Any],
                 pdf: tuple[bytes, Any, Any] | None = None) -> None:  # fmt: skip
    """SEG, SR, summary PDF and ``result.json`` into ``out`` at once: written in a staging folder, then moved.

    ``pdf`` is (PDF bytes, study, reference stack).
    """
    with staged_output(out, overwrite=False, fix=OUTPUT_FIX) as staging:
        if seg is not None:
            seg.save_as(staging / SEG_FILE)
        sr.save_as(staging / SR_FILE)
        if pdf is not None:
            write_pdf(staging, *pdf)
        (staging / RESULT_FILE).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")


def load_volumes(study_dir: str | Path, settings: Settings) -> tuple[Any, Any, Any]:
    """The study, its phases (the required ones must be there) and the registered volumes."""
    from hccp53.dicomio import load_study
    from hccp53.phases import identify_phases
    from hccp53.volumes.study import study_volumes

    study = load_study(Path(study_dir), max_voxels=settings.max_voxels_per_series)
    found = identify_phases(study, require=settings.phases)
    volumes = study_volumes(study, found, phases=settings.phases, reference_phase=settings.reference_phase,
                            register=settings.register)  # fmt: skip
    return study, found, volumes


def run_study(study_dir: str | Path, out_dir: str | Path, predictor: Predictor) -> dict[str, Any]:
    """The whole app on one study folder, in-process: SEG, SR and ``result.json`` in ``out_dir``, or nothing.

    Raises
    ------
    HccP53Error
        Bad input (not a study, a required phase missing, ...) or an unusable output folder: ``out_dir``
        is left as it was.
    """
    settings = predictor.settings
    out = Path(out_dir)
    check_output(out, overwrite=False, fix=OUTPUT_FIX)  # before the work, not only when writing
    start = time.perf_counter()
    study, found, volumes = load_volumes(study_dir, settings)
    timings = {"load_and_volumes_s": time.perf_counter() - start}
    prediction = predictor(volumes.images)
    timings.update(prediction.timings)
    start = time.perf_counter()
    device = str(predictor.device)
    seg, sr = dicom_outputs(study, found, prediction, settings, predictor.algorithm)
    timings["dicom_output_s"] = time.perf_counter() - start
    result = result_document(study, found, prediction, settings, device, predictor.checksums, timings, seg is not None)
    write_result(out, seg, sr, result, summary(study, found, prediction, settings, result))
    logger.info("Result written to %s: %s.", out, result["p53_status"])
    return result
