"""A study of the session cohort with a two-lesion label map on its reference (pvp) grid, for SEG/SR tests."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from hccp53.dicomio.codes import AlgorithmInfo
from hccp53.dicomio.loader import load_study
from hccp53.dicomio.stack import ImageStack, Study
from hccp53.dicomio.volume import stack_to_image
from hccp53.inference import Lesion
from hccp53.phases.identify import identify_phases

INPUT_PHASES = ("t2", "ap", "pvp")
ALGORITHM = AlgorithmInfo("hccp53 P53 classifier", "0.1.0", {"phases": ",".join(INPUT_PHASES), "device": "cpu"})


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
