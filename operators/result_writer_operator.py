"""ResultWriterOperator: the built SEG and SR with the prediction in; SEG, SR, summary PDF and result.json out
(files, all at once)."""

from __future__ import annotations

from pathlib import Path

from monai.deploy.core import Fragment, Operator, OperatorSpec

from hccp53.deploy import write_outputs
from hccp53.predictor import Predictor
from operators.failures import reports_errors


class ResultWriterOperator(Operator):
    """Writes the SEG and SR built upstream, the summary PDF (a DICOM Encapsulated PDF) and
    result.json into the output folder.

    Everything is written in a staging folder and moved into place at the end (nothing half-written);
    nothing is written before all of it has been built (:func:`hccp53.deploy.write_outputs`). ``result.json``'s
    timings are those of every operator before this one (``app.timings``).

    Named inputs:
        study: :class:`hccp53.dicomio.Study`.
        phases: :class:`hccp53.phases.identify.PhaseResult`.
        prediction: :class:`hccp53.predictor.StudyPrediction`.
        seg: :class:`highdicom.seg.Segmentation` or None (no lesion), from the SEG operator.
        sr: :class:`highdicom.sr.Comprehensive3DSR`, from the SR operator.

    Named outputs:
        none: the files in ``output_folder``; the result dict is also kept on the app (``app.result``).
    """

    INPUT_STUDY = "study"
    INPUT_PHASES = "phases"
    INPUT_PREDICTION = "prediction"
    INPUT_SEG = "seg"
    INPUT_SR = "sr"

    def __init__(self, fragment: Fragment, *args, predictor: Predictor, output_folder: Path, **kwargs) -> None:
        self.predictor = predictor
        self.output_folder = Path(output_folder)
        super().__init__(fragment, *args, **kwargs)

    def setup(self, spec: OperatorSpec) -> None:
        spec.input(self.INPUT_STUDY)
        spec.input(self.INPUT_PHASES)
        spec.input(self.INPUT_PREDICTION)
        spec.input(self.INPUT_SEG)
        spec.input(self.INPUT_SR)

    @reports_errors
    def compute(self, op_input, op_output, context) -> None:
        study = op_input.receive(self.INPUT_STUDY)
        found = op_input.receive(self.INPUT_PHASES)
        prediction = op_input.receive(self.INPUT_PREDICTION)
        seg = op_input.receive(self.INPUT_SEG)
        sr = op_input.receive(self.INPUT_SR)
        timings = dict(getattr(self.fragment, "timings", {}))
        self.fragment.result = write_outputs(self.output_folder, study, found, prediction, self.predictor, seg, sr,
                                             timings)
