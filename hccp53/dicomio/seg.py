"""The tumor DICOM SEG: one segment per lesion, on the reference phase's own slices.

Written with highdicom (PS3.3 A.51 Segmentation IOD): BINARY segments, algorithm type AUTOMATIC with
the algorithm identification, SCT "Morphologically Abnormal Structure" (CID 7150) / "Neoplasm, Primary"
(CID 7194) as segmented property category / type and "Liver" (CID 4) as anatomic region (see
:mod:`hccp53.dicomio.codes`), one frame per source slice of the reference series (a phase split out of a
multi-phase series references only its own instances). The algorithm is also named in (0018,A001)
*Contributing Equipment Sequence* with the model's UID (:mod:`hccp53.dicomio.equipment`, IHE AIR). Joins
the source study: highdicom copies the patient and study modules from the source images.
"""

from __future__ import annotations

import logging

import highdicom as hd
import numpy as np
import SimpleITK as sitk
from pydicom.dataset import Dataset

from hccp53.dicomio.codes import LIVER, TUMOR_CATEGORY, TUMOR_TYPE, AlgorithmInfo
from hccp53.dicomio.equipment import add_algorithm_equipment
from hccp53.dicomio.stack import ImageStack, Study
from hccp53.dicomio.volume import slice_layout
from hccp53.errors import InputError

logger = logging.getLogger(__name__)

SEG_SERIES_NUMBER = 9901
SEG_DESCRIPTION = "hccp53 tumor segmentation (research use only)"


def load_standard_tables() -> bool:
    """Have highdicom read its tables of the DICOM standard now, once for the process; False if it cannot.

    The first SEG or SR that highdicom builds in a process parses the standard's module-attribute table
    (a JSON file of its package, 1.5 s here) and keeps it (``functools.lru_cache``); a process that
    serves studies calls this while it loads the networks, so that its first study does not pay it. The
    table is reached through a private highdicom function (pinned version, requirements.txt); should it
    move, nothing is preloaded and the first object pays the cost as before.
    """
    from highdicom import _standard_utils

    loader = getattr(_standard_utils, "get_module_attribute_map", None)
    if loader is None:
        logger.debug("highdicom has no get_module_attribute_map; its tables load with the first SEG or SR.")
        return False
    loader()
    return True


def source_datasets(study: Study, stack: ImageStack) -> list[Dataset]:
    """The stack's instances as datasets, in the stack's order (along the slice normal).

    Raises
    ------
    InputError
        The stack is an Enhanced (multi-frame) object, which this writer does not reference yet.
    """
    if any(instance.frame is not None for instance in stack.instances):
        raise InputError(f"{stack.label} is a multi-frame (Enhanced MR) series; the DICOM SEG writer references "
                         "single-frame images only.")  # fmt: skip
    return [study.datasets[instance.path] for instance in stack.instances]


def label_frames(stack: ImageStack, label_image: sitk.Image) -> np.ndarray:
    """The label map as one (rows, columns) frame per instance of ``stack`` (in the stack's order).

    Raises
    ------
    InputError
        ``label_image`` is not on the stack's grid (size, spacing, origin, direction).
    """
    index, spacing = slice_layout(stack)
    depth = int(index[-1]) + 1
    expected_size = (stack.columns, stack.rows, depth)
    row, col = np.asarray(stack.orientation[:3]), np.asarray(stack.orientation[3:])
    direction = np.stack([row, col, stack.normal], axis=1).flatten()
    same = (
        tuple(label_image.GetSize()) == expected_size
        and np.allclose(label_image.GetSpacing(), (stack.pixel_spacing[1], stack.pixel_spacing[0], spacing), rtol=1e-3)
        and np.allclose(label_image.GetOrigin(), stack.instances[0].position, atol=1e-2)
        and np.allclose(label_image.GetDirection(), direction, atol=1e-4)
    )
    if not same:
        raise InputError(f"The tumor label map (size {list(label_image.GetSize())}) is not on the grid of "
                         f"{stack.label} (size {list(expected_size)}); resample it onto the reference phase first.")
    volume = sitk.GetArrayFromImage(label_image)
    return np.ascontiguousarray(volume[index])


def build_seg(
    study: Study,
    stack: ImageStack,
    label_image: sitk.Image,
    lesion_count: int,
    algorithm: AlgorithmInfo,
    series_number: int = SEG_SERIES_NUMBER,
    series_description: str = SEG_DESCRIPTION,
) -> hd.seg.Segmentation | None:
    """The DICOM SEG of lesions 1..``lesion_count`` of an integer label map on ``stack``'s grid.

    Returns None when there is no lesion: a SEG cannot have zero segments; the SR then reports that no
    lesion was found.
    """
    if lesion_count == 0:
        return None
    sources = source_datasets(study, stack)
    frames = label_frames(stack, label_image).astype(np.uint16)
    frames[frames > lesion_count] = 0
    present = set(np.unique(frames)) - {0}
    if present != set(range(1, lesion_count + 1)):
        missing = sorted(set(range(1, lesion_count + 1)) - present)
        raise InputError(f"The tumor label map lacks lesion(s) {missing} on the slices of {stack.label}.")
    algorithm_id = hd.AlgorithmIdentificationSequence(name=algorithm.name, family=algorithm.family,
                                                      version=algorithm.version)  # fmt: skip
    descriptions = [
        hd.seg.SegmentDescription(
            segment_number=k,
            segment_label=f"HCC lesion {k}",
            segmented_property_category=TUMOR_CATEGORY,
            segmented_property_type=TUMOR_TYPE,
            algorithm_type=hd.seg.SegmentAlgorithmTypeValues.AUTOMATIC,
            algorithm_identification=algorithm_id,
            tracking_uid=hd.UID(),
            tracking_id=f"lesion {k}",
            anatomic_regions=[LIVER],
        )
        for k in range(1, lesion_count + 1)
    ]
    seg = hd.seg.Segmentation(
        source_images=sources,
        pixel_array=frames,
        segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
        segment_descriptions=descriptions,
        series_instance_uid=hd.UID(),
        series_number=series_number,
        sop_instance_uid=hd.UID(),
        instance_number=1,
        manufacturer=algorithm.manufacturer,
        manufacturer_model_name=algorithm.name,
        software_versions=algorithm.version,
        device_serial_number="0",
        series_description=series_description,
        content_description="HCC lesions",
        content_label="HCC",
        omit_empty_frames=True,
    )
    add_algorithm_equipment(seg, algorithm)
    logger.info("DICOM SEG with %d lesion segment(s) on %s.", lesion_count, stack.label)
    return seg
