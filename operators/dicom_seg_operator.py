"""DicomSegOperator: study, phases and prediction in; the DICOM SEG of the lesions out (built, not written)."""

from __future__ import annotations

from monai.deploy.core import Fragment, Operator, OperatorSpec

from hccp53.deploy import dicom_seg
from hccp53.predictor import Predictor
from operators.failures import reports_errors


class DicomSegOperator(Operator):
    """Builds the DICOM SEG (highdicom, a segment per lesion) on the reference phase's source slices.

    Nothing is written here: the :class:`~operators.result_writer_operator.ResultWriterOperator` writes
    it with the other outputs, all at once.

    Named inputs:
        study: :class:`hccp53.dicomio.Study`.
        phases: :class:`hccp53.phases.identify.PhaseResult`.
        prediction: :class:`hccp53.predictor.StudyPrediction` from the classifier.

    Named outputs:
        seg: :class:`highdicom.seg.Segmentation`, or None when no lesion was found (a SEG cannot have
        zero segments; the SR then says so).
    """

    INPUT_STUDY = "study"
    INPUT_PHASES = "phases"
    INPUT_PREDICTION = "prediction"
    OUTPUT_SEG = "seg"

    def __init__(self, fragment: Fragment, *args, predictor: Predictor, **kwargs) -> None:
        self.predictor = predictor
        super().__init__(fragment, *args, **kwargs)

    def setup(self, spec: OperatorSpec) -> None:
        spec.input(self.INPUT_STUDY)
        spec.input(self.INPUT_PHASES)
        spec.input(self.INPUT_PREDICTION)
        spec.output(self.OUTPUT_SEG)

    @reports_errors
    def compute(self, op_input, op_output, context) -> None:
        study = op_input.receive(self.INPUT_STUDY)
        found = op_input.receive(self.INPUT_PHASES)
        prediction = op_input.receive(self.INPUT_PREDICTION)
        op_output.emit(dicom_seg(study, found, prediction, self.predictor), self.OUTPUT_SEG)
