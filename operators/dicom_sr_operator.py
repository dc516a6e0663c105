"""DicomSrOperator: study, phases, prediction and SEG in; the TID 1500 DICOM SR out (built, not written)."""

from __future__ import annotations

from monai.deploy.core import Fragment, Operator, OperatorSpec

from hccp53.deploy import dicom_sr
from hccp53.predictor import Predictor
from operators.failures import reports_errors


class DicomSrOperator(Operator):
    """Builds the Comprehensive 3D SR (TID 1500, highdicom): a measurement group per lesion referencing its
    SEG segment, the P53 probability, status and threshold, the algorithm and its parameters.

    Nothing is written here: the :class:`~operators.result_writer_operator.ResultWriterOperator` writes
    it with the other outputs, all at once.

    Named inputs:
        study: :class:`hccp53.dicomio.Study`.
        phases: :class:`hccp53.phases.identify.PhaseResult`.
        prediction: :class:`hccp53.predictor.StudyPrediction` from the classifier.
        seg: the :class:`highdicom.seg.Segmentation` of the SEG operator (None when no lesion was found).

    Named outputs:
        sr: :class:`highdicom.sr.Comprehensive3DSR`.
    """

    INPUT_STUDY = "study"
    INPUT_PHASES = "phases"
    INPUT_PREDICTION = "prediction"
    INPUT_SEG = "seg"
    OUTPUT_SR = "sr"

    def __init__(self, fragment: Fragment, *args, predictor: Predictor, **kwargs) -> None:
        self.predictor = predictor
        super().__init__(fragment, *args, **kwargs)

    def setup(self, spec: OperatorSpec) -> None:
        spec.input(self.INPUT_STUDY)
        spec.input(self.INPUT_PHASES)
        spec.input(self.INPUT_PREDICTION)
        spec.input(self.INPUT_SEG)
        spec.output(self.OUTPUT_SR)

    @reports_errors
    def compute(self, op_input, op_output, context) -> None:
        study = op_input.receive(self.INPUT_STUDY)
        found = op_input.receive(self.INPUT_PHASES)
        prediction = op_input.receive(self.INPUT_PREDICTION)
        seg = op_input.receive(self.INPUT_SEG)
        sr = dicom_sr(study, found, prediction, self.predictor, seg)
        op_output.emit(sr, self.OUTPUT_SR)
