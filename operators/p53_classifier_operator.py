"""P53ClassifierOperator: the segmented study in, the P53 prediction of every lesion out."""

from __future__ import annotations

from monai.deploy.core import Fragment, Operator, OperatorSpec

from hccp53.predictor import Predictor
from operators.failures import reports_errors


class P53ClassifierOperator(Operator):
    """The classifier on a tumor-centred crop of each lesion (one batch); the primary (first) lesion's is the study's.

    The phases are the tensors the segmentation operator made (converted once per study).

    Named inputs:
        segmentation: :class:`hccp53.predictor.StudyPrediction` from the segmentation operator.

    Named outputs:
        prediction: :class:`hccp53.predictor.StudyPrediction` with probabilities, status and threshold.
    """

    INPUT_SEGMENTATION = "segmentation"
    OUTPUT_PREDICTION = "prediction"

    def __init__(self, fragment: Fragment, *args, predictor: Predictor, **kwargs) -> None:
        self.predictor = predictor
        super().__init__(fragment, *args, **kwargs)

    def setup(self, spec: OperatorSpec) -> None:
        spec.input(self.INPUT_SEGMENTATION)
        spec.output(self.OUTPUT_PREDICTION)

    @reports_errors
    def compute(self, op_input, op_output, context) -> None:
        segmentation = op_input.receive(self.INPUT_SEGMENTATION)
        op_output.emit(self.predictor.classify(segmentation), self.OUTPUT_PREDICTION)
