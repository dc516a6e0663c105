"""The P53 result as a DICOM Comprehensive 3D SR: TID 1500 Measurement Report, as IHE AI Results expects.

Content (PS3.16 TID 1500): a device observer (the algorithm, its UID the model's), the procedure reported
(Multiparametric MRI), an image library of the source images of every phase used (TID 1600: one Image
Library Group per series, whose TID 1602 / 1604 descriptors shared by all its images are given once on the
group, in template row order, and an entry per image with only its position), and one TID 1411 Volumetric
ROI Measurements group per lesion that references its segment of the DICOM SEG (row 7) and the source
series (row 12), with finding "Neoplasm, Primary" (row 3b) and, in its TID 1419 ROI Measurements, finding
site "Liver", volume (cm3 = mL) and longest diameter (mm), the segmentation's confidence (its mean tumor
probability over the lesion, NUM, unit 1), the P53 mutation probability (NUM, unit 1) and, for the lesion
that carries the study's prediction (lesion 1, the most confident), the decision threshold (NUM); each
measurement carries the TID 4019 Algorithm Identification (name, version, parameters) of what made it.
The predicted status of that lesion is a qualitative evaluation of the group (a CODE item, TID 1411).
When no lesion was found there is one TID 1501 group saying so (a qualitative evaluation), with the
algorithm identification on the group (TID 1501 includes TID 4019). The codes and their context groups are
listed in :mod:`hccp53.dicomio.codes`; the prediction concepts use the private scheme declared in
(0008,0110) *Coding Scheme Identification Sequence*. The algorithm is also named in (0018,A001)
*Contributing Equipment Sequence* (:mod:`hccp53.dicomio.equipment`). The SR joins the source study (same
Study Instance UID, patient module copied by highdicom from the evidence) as a new series whose description
says research use.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

import highdicom as hd
from pydicom.dataset import Dataset
from pydicom.sr.codedict import codes

from hccp53.dicomio.codes import (
    CUBIC_CENTIMETRE,
    DIAMETER,
    LESION_PRESENCE,
    LIVER,
    MILLIMETRE,
    NO_LESION,
    NO_UNITS,
    P53_PROBABILITY,
    P53_STATUS,
    PRIVATE_SCHEME,
    PROCEDURE,
    SEGMENTATION_CONFIDENCE,
    STATUS_CODES,
    THRESHOLD,
    TUMOR_TYPE,
    VOLUME,
    AlgorithmInfo,
    coding_schemes,
)
from hccp53.dicomio.equipment import add_algorithm_equipment
from hccp53.dicomio.seg import source_datasets
from hccp53.dicomio.stack import ImageStack, Study
from hccp53.errors import InputError

logger = logging.getLogger(__name__)

SR_SERIES_NUMBER = 9902
SR_DESCRIPTION = "hccp53 P53 prediction (research use only)"


_POSITION = (codes.DCM.ImagePositionPatientX, codes.DCM.ImagePositionPatientY, codes.DCM.ImagePositionPatientZ)
_SHARED = ("SeriesInstanceUID", "SOPClassUID", "FrameOfReferenceUID", "Rows", "Columns", "PixelSpacing",
           "SliceThickness", "ImageOrientationPatient", "SpacingBetweenSlices")  # fmt: skip
_SOURCE = hd.sr.CodedConcept(value="260753009", meaning="Source", scheme_designator="SCT")
#: TID 1604 Image Library Entry Descriptors for Cross-Sectional Modalities, its rows in order (the order is
#: significant; highdicom 0.28 appends "Spacing between slices" after the orientation, out of row order).
_TID_1604_ROWS = (codes.DCM.HorizontalPixelSpacing, codes.DCM.VerticalPixelSpacing, codes.DCM.SpacingBetweenSlices,
                  codes.DCM.SliceThickness, *_POSITION, codes.DCM.ImageOrientationPatientRowX,
                  codes.DCM.ImageOrientationPatientRowY, codes.DCM.ImageOrientationPatientRowZ,
                  codes.DCM.ImageOrientationPatientColumnX, codes.DCM.ImageOrientationPatientColumnY,
                  codes.DCM.ImageOrientationPatientColumnZ)  # fmt: skip


def _shared_key(dataset: Dataset) -> tuple[Any, ...]:
    return tuple(str(dataset.get(keyword)) for keyword in _SHARED)


def _in_row_order(items: Sequence[hd.sr.ContentItem]) -> list[hd.sr.ContentItem]:
    """TID 1602 descriptors as highdicom gives them, then the TID 1604 ones in the template's row order."""
    rank = {(code.value, code.scheme_designator): k for k, code in enumerate(_TID_1604_ROWS)}

    def key(item: hd.sr.ContentItem) -> tuple[str, str]:
        return (item.name.value, item.name.scheme_designator)

    general = [item for item in items if key(item) not in rank]
    return general + sorted((item for item in items if key(item) in rank), key=lambda item: rank[key(item)])


def _source_series(series_uid: str) -> hd.sr.SourceSeriesForSegmentation:
    """TID 1411 row 12, with the concept's meaning as PS3.16 spells it ("Source series for segmentation");
    highdicom 0.28 writes "Source Series for Segmentation", which validators report as a different meaning."""
    item = hd.sr.SourceSeriesForSegmentation(series_uid)
    item.ConceptNameCodeSequence = [hd.sr.CodedConcept.from_code(codes.DCM.SourceSeriesForSegmentation)]
    return item


def image_library(datasets: Sequence[Dataset]) -> hd.sr.ContainerContentItem:
    """TID 1600 Image Library of ``datasets``: one Image Library Group per series (and per set of equal
    descriptors within it).

    The group carries the TID 1602 / 1604 descriptors its images share (modality, frame of reference,
    rows, columns, pixel spacing, spacing between slices, slice thickness, orientation), made by highdicom
    from the group's first image and put in template row order; each TID 1601 entry is the IMAGE reference
    with only its (0020,0032) *Image Position (Patient)*. highdicom's own ``ImageLibrary`` repeats every
    descriptor on every entry: on a full-size study (164 source images) that SR was 3.6 times larger and 4
    times slower to build, as highdicom deep-copies, re-parses and searches the whole content tree.
    """
    groups: dict[tuple[Any, ...], list[Dataset]] = defaultdict(list)
    for dataset in datasets:
        groups[_shared_key(dataset)].append(dataset)
    acquisition = hd.sr.RelationshipTypeValues.HAS_ACQ_CONTEXT
    library = hd.sr.ContainerContentItem(name=codes.DCM.ImageLibrary,
                                         relationship_type=hd.sr.RelationshipTypeValues.CONTAINS)  # fmt: skip
    library.ContentSequence = hd.sr.ContentSequence()
    for members in groups.values():
        group = hd.sr.ContainerContentItem(name=codes.DCM.ImageLibraryGroup,
                                           relationship_type=hd.sr.RelationshipTypeValues.CONTAINS)  # fmt: skip
        shared = _in_row_order([item for item in hd.sr.ImageLibraryEntryDescriptors(members[0])
                                if item.name not in _POSITION])  # fmt: skip
        group.ContentSequence = hd.sr.ContentSequence(shared)
        for dataset in members:
            entry = hd.sr.ImageContentItem(name=_SOURCE, referenced_sop_class_uid=dataset.SOPClassUID,
                                           referenced_sop_instance_uid=dataset.SOPInstanceUID,
                                           relationship_type=hd.sr.RelationshipTypeValues.CONTAINS)  # fmt: skip
            entry.ContentSequence = hd.sr.ContentSequence([
                hd.sr.NumContentItem(name=name, value=value, unit=codes.UCUM.Millimeter, relationship_type=acquisition)
                for name, value in zip(_POSITION, dataset.ImagePositionPatient, strict=True)])  # fmt: skip
            group.ContentSequence.append(entry)
        library.ContentSequence.append(group)
    return library


def algorithm_identification(algorithm: AlgorithmInfo) -> hd.sr.AlgorithmIdentification:
    """TID 4019 Algorithm Identification: name, version and parameters (``key=value``)."""
    parameters = [f"{k}={v}" for k, v in algorithm.parameters.items()] or None
    return hd.sr.AlgorithmIdentification(name=algorithm.name, version=algorithm.version, parameters=parameters)


def observation_context(algorithm: AlgorithmInfo) -> hd.sr.ObservationContext:
    """TID 1001 with the algorithm as the device observer (TID 1004), its UID the model's."""
    device = hd.sr.ObserverContext(
        observer_type=codes.cid270.Device,
        observer_identifying_attributes=hd.sr.DeviceObserverIdentifyingAttributes(
            uid=algorithm.device_uid or hd.UID(), name=algorithm.name, manufacturer_name=algorithm.manufacturer,
            model_name=f"{algorithm.name} {algorithm.version}"),
    )  # fmt: skip
    return hd.sr.ObservationContext(observer_device_context=device)


def _status_code(status: str) -> hd.sr.CodedConcept:
    if status not in STATUS_CODES:
        raise InputError(f"Unknown P53 status {status!r}; use one of {sorted(STATUS_CODES)}.")
    return STATUS_CODES[status]


def prediction_measurements(lesion: Any, threshold: float | None, algorithm_id: hd.sr.AlgorithmIdentification
                             ) -> list[hd.sr.Measurement]:  # fmt: skip
    """TID 1419 measurements of the prediction on one lesion: P53 probability, the decision threshold (given for
    the lesion that carries the study's prediction) and the segmentation's confidence, those that are known."""
    measurements = []
    if lesion.p53_probability is not None:
        measurements.append(hd.sr.Measurement(name=P53_PROBABILITY, value=round(float(lesion.p53_probability), 6),
                                              unit=NO_UNITS, algorithm_id=algorithm_id))  # fmt: skip
    if threshold is not None:
        measurements.append(hd.sr.Measurement(name=THRESHOLD, value=round(float(threshold), 6), unit=NO_UNITS,
                                              algorithm_id=algorithm_id))  # fmt: skip
    if getattr(lesion, "confidence", None) is not None:
        measurements.append(hd.sr.Measurement(name=SEGMENTATION_CONFIDENCE, unit=NO_UNITS,
                                              value=round(float(lesion.confidence), 4),
                                              algorithm_id=algorithm_id))  # fmt: skip
    return measurements


def status_evaluations(status: str | None) -> list[hd.sr.QualitativeEvaluation] | None:
    """The predicted status as the qualitative evaluation of a group (TID 1410 / 1411), None without one."""
    if status is None:
        return None
    return [hd.sr.QualitativeEvaluation(name=P53_STATUS, value=_status_code(status))]


def finish_report(sr_class: type, report: hd.sr.MeasurementReport, library: Sequence[Dataset],
                  evidence: Sequence[Dataset], algorithm: AlgorithmInfo, series_number: int,
                  series_description: str) -> Dataset:  # fmt: skip
    """The SR instance of ``report``: its image library of ``library`` placed before the imaging measurements
    (as highdicom puts it), the private coding scheme and the algorithm's contributing equipment."""
    root = report[0].ContentSequence
    measurements = next(k for k, item in enumerate(root) if item.name == codes.DCM.ImagingMeasurements)
    root.insert(measurements, image_library(library))
    sr = sr_class(evidence=list(evidence), content=report, series_instance_uid=hd.UID(), series_number=series_number,
                  sop_instance_uid=hd.UID(), instance_number=1, manufacturer=algorithm.manufacturer, is_complete=True,
                  series_description=series_description)  # fmt: skip
    sr.CodingSchemeIdentificationSequence = coding_schemes(PRIVATE_SCHEME)
    add_algorithm_equipment(sr, algorithm)
    return sr


def build_sr(
    study: Study,
    reference_stack: ImageStack,
    phase_stacks: Mapping[str, ImageStack],
    seg: hd.seg.Segmentation | None,
    lesions: Sequence[Any],
    primary_probability: float | None,
    status: str | None,
    threshold: float,
    algorithm: AlgorithmInfo,
    series_number: int = SR_SERIES_NUMBER,
    series_description: str = SR_DESCRIPTION,
) -> hd.sr.Comprehensive3DSR:
    """The TID 1500 SR of one study's result (see the module docstring).

    Parameters
    ----------
    reference_stack
        The phase the SEG was made on (its series is the segmentation's source series).
    phase_stacks
        Phase -> stack of every phase the algorithm used (the image library).
    seg
        The DICOM SEG (None when no lesion was found).
    lesions
        :class:`hccp53.inference.Lesion` objects, the primary first; their ``index`` is the segment number.
    primary_probability, status
        The study's prediction (that of the primary lesion), None when no lesion was found.
    threshold
        The decision threshold applied to the probability.
    """
    if lesions and seg is None:
        raise InputError("Lesions were found but no DICOM SEG was given to reference them.")
    library: list[Dataset] = []
    seen: set[tuple[str, Any]] = set()
    for stack in [reference_stack, *phase_stacks.values()]:
        key = (stack.series_uid, stack.temporal_position)
        if key not in seen:
            seen.add(key)
            library += source_datasets(study, stack)
    algorithm_id = algorithm_identification(algorithm)
    groups: list[Any] = []
    for rank, lesion in enumerate(lesions):
        measurements = [
            hd.sr.Measurement(name=VOLUME, value=round(float(lesion.volume_ml), 3), unit=CUBIC_CENTIMETRE,
                              algorithm_id=algorithm_id),
            hd.sr.Measurement(name=DIAMETER, value=round(float(lesion.longest_diameter_mm), 2), unit=MILLIMETRE,
                              algorithm_id=algorithm_id),
            *prediction_measurements(lesion, threshold if rank == 0 and status is not None else None, algorithm_id),
        ]  # fmt: skip
        groups.append(hd.sr.VolumetricROIMeasurementsAndQualitativeEvaluations(
            tracking_identifier=hd.sr.TrackingIdentifier(uid=hd.UID(), identifier=f"HCC lesion {lesion.index}"),
            referenced_segment=hd.sr.ReferencedSegment(
                sop_class_uid=seg.SOPClassUID, sop_instance_uid=seg.SOPInstanceUID, segment_number=lesion.index,
                source_series=_source_series(reference_stack.series_uid)),
            finding_type=TUMOR_TYPE,
            finding_sites=[hd.sr.FindingSite(LIVER)],
            measurements=measurements,
            qualitative_evaluations=status_evaluations(status) if rank == 0 else None,
        ))  # fmt: skip
    if not lesions:
        groups.append(hd.sr.MeasurementsAndQualitativeEvaluations(
            tracking_identifier=hd.sr.TrackingIdentifier(uid=hd.UID(), identifier="No lesion"),
            finding_type=TUMOR_TYPE,
            finding_sites=[hd.sr.FindingSite(LIVER)],
            algorithm_id=algorithm_id,
            qualitative_evaluations=[hd.sr.QualitativeEvaluation(name=LESION_PRESENCE, value=NO_LESION)],
        ))  # fmt: skip
    report = hd.sr.MeasurementReport(
        observation_context=observation_context(algorithm),
        procedure_reported=PROCEDURE,
        imaging_measurements=groups,
    )
    evidence = [*library, *([seg] if seg is not None else [])]
    sr = finish_report(hd.sr.Comprehensive3DSR, report, library, evidence, algorithm, series_number,
                       series_description)  # fmt: skip
    logger.info("DICOM SR with %d lesion group(s)%s.", len(lesions),
                "" if primary_probability is None else f", P53 probability {primary_probability:.3f}")  # fmt: skip
    return sr


def _value(group: Any, concept: hd.sr.CodedConcept) -> float | None:
    found = group.get_measurements(name=concept)
    return float(found[0].value) if found else None


def read_result(dataset: Dataset) -> dict[str, Any]:
    """Our SR parsed back (highdicom's content-tree API): lesions, probability, status, threshold, algorithm."""
    sr = hd.sr.Comprehensive3DSR.from_dataset(dataset)
    lesions = []
    status = threshold = None
    for group in sr.content.get_volumetric_roi_measurement_groups():
        segment = group.referenced_segment
        entry = {
            "tracking": group.tracking_identifier,
            "volume_ml": _value(group, VOLUME),
            "longest_diameter_mm": _value(group, DIAMETER),
            "p53_probability": _value(group, P53_PROBABILITY),
            "confidence": _value(group, SEGMENTATION_CONFIDENCE),
            "segment_number": int(segment.referenced_segment_numbers[0]) if segment is not None else None,
            "referenced_seg_uid": segment.referenced_sop_instance_uid if segment is not None else None,
            "source_series_uid": str(segment.source_series_for_segmentation.value)
            if segment is not None and segment.source_series_for_segmentation is not None else None,
        }
        evaluation = group.get_qualitative_evaluations(name=P53_STATUS)
        if evaluation:
            status = next(k for k, v in STATUS_CODES.items() if v == evaluation[0].value)
            threshold = _value(group, THRESHOLD)
        lesions.append(entry)
    no_lesion = any(evaluation.value == NO_LESION for group in sr.content.get_image_measurement_groups()
                    for evaluation in group.get_qualitative_evaluations(name=LESION_PRESENCE))  # fmt: skip
    return {
        "lesions": lesions,
        "p53_probability": lesions[0]["p53_probability"] if lesions else None,
        "p53_status": status,
        "threshold": threshold,
        "no_lesion_found": no_lesion,
        "study_instance_uid": str(dataset.StudyInstanceUID),
    }
