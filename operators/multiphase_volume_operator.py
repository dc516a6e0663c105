"""MultiphaseVolumeOperator: a study and its phases in, co-registered volumes on one grid out."""

from __future__ import annotations

from monai.deploy.core import Fragment, Operator, OperatorSpec

from hccp53.deploy import build_volumes
from hccp53.predictor import Predictor
from operators.failures import reports_errors


class MultiphaseVolumeOperator(Operator):
    """Builds each phase's volume and resamples it onto the reference phase's grid
    (:func:`hccp53.deploy.build_volumes`).

    Named inputs:
        study: :class:`hccp53.dicomio.Study`.
        phases: :class:`hccp53.phases.identify.PhaseResult`.

    Named outputs:
        volumes: :class:`hccp53.volumes.multiphase.MultiphaseVolumes` (images, transforms, reports).
    """

    INPUT_STUDY = "study"
    INPUT_PHASES = "phases"
    OUTPUT_VOLUMES = "volumes"

    def __init__(self, fragment: Fragment, *args, predictor: Predictor, **kwargs) -> None:
        self.predictor = predictor
        super().__init__(fragment, *args, **kwargs)

    def setup(self, spec: OperatorSpec) -> None:
        spec.input(self.INPUT_STUDY)
        spec.input(self.INPUT_PHASES)
        spec.output(self.OUTPUT_VOLUMES)

    @reports_errors
    def compute(self, op_input, op_output, context) -> None:
        study = op_input.receive(self.INPUT_STUDY)
        found = op_input.receive(self.INPUT_PHASES)
        volumes = build_volumes(study, found, self.predictor)
        op_output.emit(volumes, self.OUTPUT_VOLUMES)
