"""The primary lesion outlined on its key slice, with the P53 prediction: a second, viewer-friendly TID 1500 SR.

The result SR (:mod:`hccp53.dicomio.sr`, a Comprehensive 3D SR as IHE AI Results expects) holds one TID 1411
Volumetric ROI group per lesion, each referencing its segment of the DICOM SEG. Viewers that draw SR
measurements on images need spatial coordinates instead, and two facts keep them out of that SR:

- OHIF v3 (the viewer MONAI Label 0.8.5 ships, ``docs/viewer.md``) draws measurement groups only from a
  Comprehensive (or Enhanced) SR: for a Comprehensive 3D SR it expects SCOORD3D points and draws no text;
- PixelMed's DicomSRValidator checks every group of an Imaging Measurements container against TID 1410 as
  soon as one group is planar, so mixing TID 1410 and TID 1411 groups in one SR gives template errors there.

This SR is therefore a Comprehensive SR (PS3.3 A.35.3) with TID 1500 (device observer and procedure as in
the result SR, a TID 1600 image library of the one key image) and one TID 1410 Planar ROI Measurements group:
the primary lesion (segment 1 of the SEG, the lesion that carries the study's prediction) outlined on its key
slice of the reference (portal venous) series, the slice where the segment covers the most pixels, as a
closed POLYLINE SCOORD SELECTED FROM that image (row 5-6), with finding "Neoplasm, Primary" and site "Liver",
and as TID 1419 measurements the P53 probability, the decision threshold, the segmentation's confidence and
the outline's area (mm2), and the predicted status as qualitative evaluation. It shares the lesion's Tracking
Unique Identifier with the result SR's group, so the two describe one finding. It joins the study as series
9904; the algorithm is named in the Contributing Equipment Sequence as in the other objects.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import highdicom as hd
import numpy as np
from pydicom.dataset import Dataset

from hccp53.dicomio.codes import (
    AREA,
    LIVER,
    PROCEDURE,
    SQUARE_MILLIMETRE,
    TUMOR_TYPE,
    AlgorithmInfo,
)
from hccp53.dicomio.outline import mask_outline, polygon_area
from hccp53.dicomio.seg import source_datasets
from hccp53.dicomio.sr import (
    algorithm_identification,
    finish_report,
    observation_context,
    prediction_measurements,
    status_evaluations,
)
from hccp53.dicomio.stack import ImageStack, Study
from hccp53.errors import InputError

logger = logging.getLogger(__name__)

KEY_SLICE_SERIES_NUMBER = 9904
KEY_SLICE_DESCRIPTION = "hccp53 P53 key slice (research use only)"


def key_slice_region(seg: hd.seg.Segmentation, segment_number: int, sources: Sequence[Dataset]
                     ) -> tuple[hd.sr.ImageRegion, Dataset, float]:  # fmt: skip
    """The outline of one segment on its key slice: the TID 1410 *Image Region*, the key image and the area (mm2).

    The key slice is the source image on which the segment covers the most pixels (the first of equals, in
    ``sources``' order); the outline is that of its largest piece there (:func:`hccp53.dicomio.outline.mask_outline`),
    a closed POLYLINE in the image's (column, row) pixel coordinates, SELECTED FROM that image.

    Raises
    ------
    InputError
        The segment covers no pixel of ``sources``.
    """
    uids = [str(dataset.SOPInstanceUID) for dataset in sources]
    masks = seg.get_pixels_by_source_instance(uids, segment_numbers=[segment_number],
                                              assert_missing_frames_are_empty=True)[..., 0]  # fmt: skip
    counts = masks.reshape(len(uids), -1).astype(bool).sum(axis=1)
    if not counts.any():
        raise InputError(f"Segment {segment_number} of the DICOM SEG covers no pixel of its source images.")
    key = sources[int(np.argmax(counts))]
    outline = mask_outline(masks[int(np.argmax(counts))])
    row_spacing, column_spacing = (float(v) for v in key.PixelSpacing)
    region = hd.sr.ImageRegion(
        graphic_type=hd.sr.GraphicTypeValues.POLYLINE,
        graphic_data=outline,
        source_image=hd.sr.SourceImageForRegion(referenced_sop_class_uid=key.SOPClassUID,
                                                referenced_sop_instance_uid=key.SOPInstanceUID),
    )  # fmt: skip
    return region, key, polygon_area(outline) * row_spacing * column_spacing


def lesion_tracking(sr: Dataset, segment_number: int) -> hd.sr.TrackingIdentifier | None:
    """The tracking identifier of the result SR's group for one SEG segment (None if the SR has none)."""
    parsed = hd.sr.Comprehensive3DSR.from_dataset(sr)  # a copy, parsed: a built SR's content is not
    for group in parsed.content.get_volumetric_roi_measurement_groups():
        segment = group.referenced_segment
        if segment is not None and int(segment.referenced_segment_numbers[0]) == segment_number:
            return hd.sr.TrackingIdentifier(uid=group.tracking_uid, identifier=group.tracking_identifier)
    return None


def build_key_slice_sr(
    study: Study,
    reference_stack: ImageStack,
    seg: hd.seg.Segmentation,
    primary: Any,
    status: str | None,
    threshold: float,
    algorithm: AlgorithmInfo,
    tracking: hd.sr.TrackingIdentifier | None = None,
    series_number: int = KEY_SLICE_SERIES_NUMBER,
    series_description: str = KEY_SLICE_DESCRIPTION,
) -> hd.sr.ComprehensiveSR:
    """The key-slice SR of the primary lesion (see the module docstring).

    Parameters
    ----------
    reference_stack
        The series the SEG was made on (its images are the SEG's source images).
    seg
        The DICOM SEG; ``primary.index`` is the lesion's segment number.
    primary
        The primary :class:`hccp53.inference.Lesion` (probability, confidence).
    status, threshold
        The study's predicted status (None: not given) and the decision threshold.
    tracking
        The lesion's tracking identifier in the result SR (:func:`lesion_tracking`); a new one when None.
    """
    region, key, area = key_slice_region(seg, primary.index, source_datasets(study, reference_stack))
    algorithm_id = algorithm_identification(algorithm)
    group = hd.sr.PlanarROIMeasurementsAndQualitativeEvaluations(
        tracking_identifier=tracking
        or hd.sr.TrackingIdentifier(uid=hd.UID(), identifier=f"HCC lesion {primary.index}"),
        referenced_region=region,
        finding_type=TUMOR_TYPE,
        finding_sites=[hd.sr.FindingSite(LIVER)],
        measurements=[*prediction_measurements(primary, threshold if status is not None else None, algorithm_id),
                      hd.sr.Measurement(name=AREA, value=round(area, 2), unit=SQUARE_MILLIMETRE,
                                        algorithm_id=algorithm_id)],
        qualitative_evaluations=status_evaluations(status),
    )  # fmt: skip
    report = hd.sr.MeasurementReport(observation_context=observation_context(algorithm),
                                     procedure_reported=PROCEDURE, imaging_measurements=[group])  # fmt: skip
    sr = finish_report(hd.sr.ComprehensiveSR, report, [key], [key], algorithm, series_number, series_description)
    logger.info("Key-slice SR: lesion %d outlined on instance %s of %s.", primary.index, key.get("InstanceNumber"),
                reference_stack.label)  # fmt: skip
    return sr
