"""The Deploy operators wired in a real Holoscan pipeline give what the library gives directly."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

ROOT = Path(__file__).resolve().parents[2]
PHASES = ("t2", "ap", "pvp")  # what the pipeline requires and builds


@pytest.fixture(scope="module")
def pipeline_output(cohort: Path) -> list:
    sys.path.insert(0, str(ROOT))
    from monai.deploy.core import Application, Operator, OperatorSpec

    from operators.multiphase_volume_operator import MultiphaseVolumeOperator
    from operators.phase_selector_operator import PhaseSelectorOperator
    from operators.study_loader_operator import StudyLoaderOperator

    received: list = []

    class Sink(Operator):
        def setup(self, spec: OperatorSpec) -> None:
            spec.input("volumes")

        def compute(self, op_input, op_output, context) -> None:
            received.append(op_input.receive("volumes"))

    from holoscan.conditions import CountCondition

    class PhasesApp(Application):
        def compose(self) -> None:
            loader = StudyLoaderOperator(self, CountCondition(self, 1), input_folder=cohort / "cases" / "SYN0002" /
                                         "dicom", name="study_loader")
            selector = PhaseSelectorOperator(self, require=PHASES, name="phase_selector")
            builder = MultiphaseVolumeOperator(self, phases=PHASES, name="multiphase_volumes")
            sink = Sink(self, name="sink")
            self.add_flow(loader, selector, {(StudyLoaderOperator.OUTPUT_STUDY, PhaseSelectorOperator.INPUT_STUDY)})
            selector_to_builder = {(PhaseSelectorOperator.OUTPUT_PHASES, MultiphaseVolumeOperator.INPUT_PHASES),
                                   (PhaseSelectorOperator.OUTPUT_STUDY, MultiphaseVolumeOperator.INPUT_STUDY)}
            self.add_flow(selector, builder, selector_to_builder)
            self.add_flow(builder, sink, {(MultiphaseVolumeOperator.OUTPUT_VOLUMES, "volumes")})

    PhasesApp().run()
    return received


def test_pipeline_emits_the_same_volumes_as_the_library(pipeline_output: list, cohort: Path) -> None:
    from hccp53.dicomio import load_study
    from hccp53.phases import identify_phases
    from hccp53.volumes.study import study_volumes

    (volumes,) = pipeline_output
    study = load_study(cohort / "cases" / "SYN0002" / "dicom")
    direct = study_volumes(study, identify_phases(study, require=PHASES), PHASES)
    assert sorted(volumes.images) == sorted(direct.images) and {"t2", "ap", "pvp"} <= set(volumes.images)
    for phase, image in direct.images.items():
        np.testing.assert_array_equal(sitk.GetArrayFromImage(volumes.images[phase]), sitk.GetArrayFromImage(image))
    truth = sitk.ReadImage(str(cohort / "cases" / "SYN0002" / "nifti" / "pvp.nii.gz"))
    np.testing.assert_allclose(sitk.GetArrayFromImage(volumes.images["pvp"]), sitk.GetArrayFromImage(truth),
                               atol=1e-3)
