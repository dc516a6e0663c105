"""A study of the session cohort with a two-lesion label map on its reference (pvp) grid, for SEG/SR tests."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import SimpleITK as sitk
from pydicom.dataset import Dataset

from hccp53.dicomio.codes import AlgorithmInfo
from hccp53.dicomio.loader import load_study
from hccp53.dicomio.stack import ImageStack, Study
from hccp53.dicomio.volume import stack_to_image
from hccp53.inference import Lesion
from hccp53.model import weights_uid
from hccp53.phases.identify import identify_phases

INPUT_PHASES = ("t2", "ap", "pvp")
ALGORITHM = AlgorithmInfo("hccp53 P53 classifier", "0.1.0", {"phases": ",".join(INPUT_PHASES), "device": "cpu"},
                          device_uid=weights_uid("a" * 64, "b" * 64))


@dataclass
class Example:
    study: Study
    stack: ImageStack
    phases: dict[str, ImageStack]
    labels: sitk.Image
    lesions: list[Lesion]


def example(study_dir: Path) -> Example:
    study = load_study(study_dir)
    found = identify_phases(study, require=INPUT_PHASES)
    stack = found.phases["pvp"].stack
    image = stack_to_image(study, stack)
    array = np.zeros(sitk.GetArrayViewFromImage(image).shape, np.uint8)
    z, y, x = np.array(array.shape) // 2
    array[z - 2:z + 2, y - 8:y + 8, x - 8:x + 8] = 1
    array[z - 1:z + 1, y + 12:y + 16, x + 12:x + 16] = 2
    labels = sitk.GetImageFromArray(array)
    labels.CopyInformation(image)
    lesions = [Lesion(1, int((array == 1).sum()), 12.5, 33.21, (1.0, 2.0, 3.0), 0.734512),
               Lesion(2, int((array == 2).sum()), 1.5, 8.05, (5.0, 2.0, 3.0), 0.412)]  # fmt: skip
    return Example(study, stack, {p: found.phases[p].stack for p in INPUT_PHASES}, labels, lesions)
#: What dciodvfy of 2022 says of (0018,1002) Device UID in the Contributing Equipment Sequence, where IHE AIR puts
#: it (see hccp53.dicomio.equipment); nothing else may be warned of.
DEVICE_UID_WARNINGS = (
    "Warning - Attribute is not present in standard DICOM IOD - (0x0018,0x1002) UI Device UID",
    "Warning - Dicom dataset contains attributes not present in standard DICOM IOD - this is a Standard Extended "
    "SOP Class",
)


def dciodvfy_messages(stderr: str) -> list[str]:
    """dciodvfy's errors and warnings, less :data:`DEVICE_UID_WARNINGS`."""
    lines = [line.strip() for line in stderr.splitlines() if line.startswith(("Error", "Warning"))]
    return [line for line in lines if line not in DEVICE_UID_WARNINGS]


def algorithm_equipment(dataset: Dataset) -> Dataset:
    """The one Contributing Equipment item whose purpose is IHE's (1630, 99IHE, "Processing Algorithm")."""
    (item,) = [item for item in dataset.ContributingEquipmentSequence
               if (item.PurposeOfReferenceCodeSequence[0].CodeValue,
                   item.PurposeOfReferenceCodeSequence[0].CodingSchemeDesignator) == ("1630", "99IHE")]  # fmt: skip
    return item


def check_algorithm_equipment(dataset: Dataset, algorithm: AlgorithmInfo = ALGORITHM) -> None:
    """IHE AIR 6.5.3.1: the algorithm is named in the Contributing Equipment Sequence, with the model's UID."""
    item = algorithm_equipment(dataset)
    assert item.PurposeOfReferenceCodeSequence[0].CodeMeaning == "Processing Algorithm"
    assert (item.Manufacturer, item.ManufacturerModelName, item.SoftwareVersions) == (
        algorithm.manufacturer, algorithm.name, algorithm.version)  # fmt: skip
    assert item.DeviceUID == algorithm.device_uid
    assert "99IHE" in {scheme.CodingSchemeDesignator for scheme in dataset.CodingSchemeIdentificationSequence}
