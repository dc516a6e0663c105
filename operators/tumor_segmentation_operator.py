"""TumorSegmentationOperator: the study's volumes in, the tumor split into lesions out."""

from __future__ import annotations

from monai.deploy.core import Fragment, Operator, OperatorSpec

from hccp53.predictor import Predictor
from operators.failures import reports_errors


class TumorSegmentationOperator(Operator):
    """Sliding-window SegResNet on the registered phases, then connected components (the most confident first).

    Named inputs:
        volumes: :class:`hccp53.volumes.multiphase.MultiphaseVolumes`.

    Named outputs:
        segmentation: :class:`hccp53.predictor.StudyPrediction` with lesions and their label map, unclassified,
        and the phase tensors the classifier reuses.
    """

    INPUT_VOLUMES = "volumes"
    OUTPUT_SEGMENTATION = "segmentation"

    def __init__(self, fragment: Fragment, *args, predictor: Predictor, **kwargs) -> None:
        self.predictor = predictor
        super().__init__(fragment, *args, **kwargs)

    def setup(self, spec: OperatorSpec) -> None:
        spec.input(self.INPUT_VOLUMES)
        spec.output(self.OUTPUT_SEGMENTATION)

    @reports_errors
    def compute(self, op_input, op_output, context) -> None:
        volumes = op_input.receive(self.INPUT_VOLUMES)
        op_output.emit(self.predictor.segment(volumes), self.OUTPUT_SEGMENTATION)
