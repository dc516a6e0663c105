"""The steps of the MONAI Deploy app on one study, as plain functions: the operators and :func:`run_study` call
the same ones in the same order, so the app and ``hccp53 serve`` write the same ``result.json``.

=======================  =========================================  ==============================
step (operator name)     function                                   hands on
=======================  =========================================  ==============================
``study_loader``         :func:`~hccp53.steps.load`                 :class:`~hccp53.dicomio.Study`
``phase_selector``       :func:`~hccp53.steps.select_phases`        phases found
``multiphase_volumes``   :func:`~hccp53.steps.build_volumes`        registered volumes
``tumor_segmentation``   :meth:`Predictor.segment`                  lesions, unclassified
``p53_classifier``       :meth:`Predictor.classify`                 P53 probability per lesion
``dicom_seg``            :func:`dicom_seg`                          DICOM SEG (built)
``dicom_sr``             :func:`dicom_sr`                           TID 1500 SR (built)
``result_writer``        :func:`write_outputs`                      SEG, SR, key-slice SR, PDF, ``result.json``
=======================  =========================================  ==============================

``result.json``'s ``timings_s`` holds ``<step>_s`` for every step before the writer. The phases, reference
phase and threshold come from the trained-model folder (:class:`~hccp53.predictor.Predictor`); the run
settings from ``configs/inference.yaml`` (:mod:`hccp53.settings`). The first three steps live in
:mod:`hccp53.steps` (no highdicom there, so that the MONAI Label app runs them too) and are re-exported here.
Nothing here needs MONAI or the Deploy SDK (the networks live in :mod:`hccp53.predictor`), so importing this
module loads neither.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import highdicom as hd

from hccp53 import __version__
from hccp53.dicomio import ImageStack, Study
from hccp53.dicomio.codes import AlgorithmInfo
from hccp53.dicomio.key_slice import build_key_slice_sr, lesion_tracking
from hccp53.dicomio.pdf import encapsulated_pdf
from hccp53.dicomio.seg import build_seg
from hccp53.dicomio.sr import build_sr
from hccp53.phases import PhaseResult
from hccp53.report.summary import summary_pdf
from hccp53.staging import check_output, staged_output
from hccp53.steps import build_volumes, load, load_volumes, select_phases  # noqa: F401 (the operators' steps)

if TYPE_CHECKING:  # the networks import MONAI; the steps only pass them on
    from hccp53.predictor import Predictor, StudyPrediction

logger = logging.getLogger(__name__)

SEG_FILE = "tumor_seg.dcm"
SR_FILE = "p53_sr.dcm"
KEY_SLICE_SR_FILE = "p53_key_slice_sr.dcm"
PDF_FILE = "p53_report.dcm"
RESULT_FILE = "result.json"
OUTPUT_FIX = "choose another output folder"
#: The steps in order (the operators' names); ``result.json`` times each but the writer as ``<step>_s``.
STEPS = ("study_loader", "phase_selector", "multiphase_volumes", "tumor_segmentation", "p53_classifier",
         "dicom_seg", "dicom_sr", "result_writer")  # fmt: skip

T = TypeVar("T")


def dicom_seg(study: Study, found: PhaseResult, prediction: StudyPrediction, predictor: Predictor
              ) -> hd.seg.Segmentation | None:  # fmt: skip
    """The DICOM SEG of one study's lesions on the reference phase's slices (None without lesions)."""
    reference = found.phases[predictor.reference_phase].stack
    return build_seg(study, reference, prediction.labels, len(prediction.lesions), predictor.algorithm)


def dicom_sr(study: Study, found: PhaseResult, prediction: StudyPrediction, predictor: Predictor,
             seg: hd.seg.Segmentation | None) -> hd.sr.Comprehensive3DSR:  # fmt: skip
    """The TID 1500 SR of one study's prediction, referencing the segments of ``seg`` (:func:`dicom_seg`)."""
    reference = found.phases[predictor.reference_phase].stack
    return build_sr(study, reference, {p: found.phases[p].stack for p in predictor.phases}, seg, prediction.lesions,
                    prediction.probability, prediction.status, prediction.threshold, predictor.algorithm)  # fmt: skip


def key_slice_sr(study: Study, found: PhaseResult, prediction: StudyPrediction, predictor: Predictor,
                 seg: hd.seg.Segmentation | None, sr: hd.sr.Comprehensive3DSR
                 ) -> hd.sr.ComprehensiveSR | None:  # fmt: skip
    """The primary lesion outlined on its key slice with the prediction (:mod:`hccp53.dicomio.key_slice`), for
    viewers that draw SR measurements on images; None when no lesion was found. It shares the lesion's
    tracking identifier with ``sr``."""
    if seg is None or not prediction.lesions:
        return None
    primary = prediction.lesions[0]
    return build_key_slice_sr(study, found.phases[predictor.reference_phase].stack, seg, primary, prediction.status,
                              prediction.threshold, predictor.algorithm, tracking=lesion_tracking(sr, primary.index))


def result_document(study: Study, found: PhaseResult, prediction: StudyPrediction, predictor: Predictor,
                    timings: Mapping[str, float], has_seg: bool) -> dict[str, Any]:  # fmt: skip
    """The content of ``result.json`` (DESIGN.md's public contract, plus lesions, model, registration, timings)."""
    record = predictor.record
    return {
        "p53_probability": prediction.probability,
        "p53_status": prediction.status if prediction.status is not None else "no lesion found",
        "threshold": prediction.threshold,
        "phases": {p: found.phases[p].identity() for p in predictor.phases},
        "reference_phase": predictor.reference_phase,
        "lesions": [lesion.to_json() for lesion in prediction.lesions],
        "model": {"name": predictor.algorithm.name, "version": __version__, "uid": record.uid,
                  "sha256": dict(record.sha256)},  # fmt: skip
        "registration": prediction.registration,
        "device": str(predictor.device),
        "outputs": {"sr": SR_FILE, "seg": SEG_FILE if has_seg else None, "pdf": PDF_FILE,
                    "key_slice_sr": KEY_SLICE_SR_FILE if has_seg else None},
        "study_instance_uid": study.study_uid,
        "timings_s": {k: round(float(v), 3) for k, v in timings.items()},
        "intended_use": "research use only; not for diagnosis",
    }


def write_pdf(folder: Path, pdf: bytes, study: Study, stack: ImageStack, algorithm: AlgorithmInfo) -> Path:
    """The summary PDF as a DICOM Encapsulated PDF joining the study (:func:`hccp53.dicomio.pdf.encapsulated_pdf`)."""
    encapsulated_pdf(pdf, study, stack, algorithm).save_as(folder / PDF_FILE)
    return folder / PDF_FILE


def write_outputs(out: Path, study: Study, found: PhaseResult, prediction: StudyPrediction, predictor: Predictor,
                  seg: hd.seg.Segmentation | None, sr: hd.sr.Comprehensive3DSR, timings: Mapping[str, float]
                  ) -> dict[str, Any]:  # fmt: skip
    """SEG, SR, key-slice SR, summary PDF and ``result.json`` into ``out`` at once (a staging folder, then moved):
    the result.

    ``timings`` are those of the steps before this one.
    """
    result = result_document(study, found, prediction, predictor, timings, seg is not None)
    pdf = summary_pdf(prediction.reference, prediction.labels, result)
    key_slice = key_slice_sr(study, found, prediction, predictor, seg, sr)
    with staged_output(out, overwrite=False, fix=OUTPUT_FIX, last=RESULT_FILE) as staging:
        if seg is not None:
            seg.save_as(staging / SEG_FILE)
        if key_slice is not None:
            key_slice.save_as(staging / KEY_SLICE_SR_FILE)
        sr.save_as(staging / SR_FILE)
        write_pdf(staging, pdf, study, found.phases[predictor.reference_phase].stack, predictor.algorithm)
        (staging / RESULT_FILE).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    logger.info("Result written to %s: %s.", out, result["p53_status"])
    return result


def run_study(study_dir: str | Path, out_dir: str | Path, predictor: Predictor) -> dict[str, Any]:
    """The whole app on one study folder, in-process: SEG, SR, PDF and ``result.json`` in ``out_dir``, or nothing.

    The steps of the module docstring in their order, each timed under its operator's name.

    Raises
    ------
    HccP53Error
        Bad input (not a study, a required phase missing, ...) or an unusable output folder: ``out_dir``
        is left as it was.
    """
    out = Path(out_dir)
    check_output(out, overwrite=False, fix=OUTPUT_FIX)  # before the work, not only when writing
    timings: dict[str, float] = {}

    def step(name: str, function: Callable[..., T], *args: Any) -> T:
        start = time.perf_counter()
        value = function(*args)
        timings[f"{name}_s"] = time.perf_counter() - start
        return value

    study = step("study_loader", load, study_dir, predictor.settings)
    found = step("phase_selector", select_phases, study, predictor)
    volumes = step("multiphase_volumes", build_volumes, study, found, predictor)
    segmented = step("tumor_segmentation", predictor.segment, volumes)
    prediction = step("p53_classifier", predictor.classify, segmented)
    seg = step("dicom_seg", dicom_seg, study, found, prediction, predictor)
    sr = step("dicom_sr", dicom_sr, study, found, prediction, predictor, seg)
    return write_outputs(out, study, found, prediction, predictor, seg, sr, timings)
